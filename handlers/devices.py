"""/devices and /recovery: rename or remove a device and get new recovery codes, each
after a current code."""

from __future__ import annotations

from html import escape
from typing import Any

from telegram import InlineKeyboardMarkup, Update, User
from telegram.ext import Application, CommandHandler, ContextTypes

from core.conversation import Flow, Step
from core.devices import Removal
from core.enrolment_results import AccountStatus
from core.free_text import MAX_DEVICE_NAME
from core.records import Conversation, Device
from handlers import conversation
from handlers.callback_data import Action, ButtonTable, Place, Press, button, message_of
from handlers.common import (
    edit_or_send,
    identity,
    private_user,
    proof_in,
    refuse_proof,
    reply,
    services,
    stray_secret,
)
from handlers.enrolment import refuse_name
from handlers.recovery_codes import send_recovery_codes
from handlers.texts import format as fmt
from handlers.texts import tr, trn
from handlers.texts import user as texts

Context = ContextTypes.DEFAULT_TYPE


async def devices_command(update: Update, context: Context) -> None:
    user = await private_user(update)
    if user is None:
        return
    account, devices, _ = await services(context).devices.overview(identity(user))
    if not devices:
        await reply(update, await _without_devices(context, user, texts.DEVICES_NONE, account))
        return
    rows = [
        [
            button(tr(texts.BUTTON_RENAME).format(name=d.name), Action.DEVICE_RENAME, d.id),
            button(tr(texts.BUTTON_REMOVE).format(name=d.name), Action.DEVICE_REMOVE, d.id),
        ]
        for d in devices
    ]
    await reply(
        update,
        tr(texts.DEVICES_LIST).format(
            account=escape(account), devices=fmt.device_lines(devices, last_used=True)
        ),
        reply_markup=InlineKeyboardMarkup(rows),
    )


def no_device_text(state: AccountStatus) -> str:
    """An account without devices: 2FA required with no device (every login refused, or
    will be once a deactivation window ends), or not set up at all."""
    account = escape(state.account_id)
    if state.needs_new_device and state.deactivated_until is not None:
        return tr(texts.STATUS_NEW_DEVICE_NEEDED).format(account=account)
    if state.needs_new_device:
        return tr(texts.STATUS_ENROLLMENT_REQUIRED).format(account=account)
    return tr(texts.STATUS_INACTIVE).format(account=account)


async def _without_devices(context: Context, user: User, not_set_up: str, account: str) -> str:
    """/devices or /recovery with no device: "2FA required, no device" where that is so."""
    state = await services(context).enrolment.status(identity(user))
    if state.needs_new_device:
        return no_device_text(state)
    return tr(not_set_up).format(account=escape(account))


async def recovery_command(update: Update, context: Context) -> None:
    user = await private_user(update)
    if user is None:
        return
    account, devices, left = await services(context).devices.overview(identity(user))
    if not devices:
        await reply(update, await _without_devices(context, user, texts.RECOVERY_NONE, account))
        return
    await reply(
        update,
        trn(texts.RECOVERY_STATUS, left).format(count=left, account=escape(account)),
        reply_markup=InlineKeyboardMarkup(
            [[button(tr(texts.BUTTON_NEW_CODES), Action.NEW_RECOVERY_CODES)]]
        ),
    )


# ------------------------------------------------------------------------ starting a flow


async def start_rename(update: Update, context: Context, data: dict[str, Any]) -> None:
    await _ask_code(update, context, Flow.RENAME, str(data.get("device", "")), "rename")


async def start_remove(update: Update, context: Context, data: dict[str, Any]) -> None:
    await _ask_code(update, context, Flow.REMOVE, str(data.get("device", "")), "remove")


async def start_new_codes(update: Update, context: Context, data: dict[str, Any]) -> None:
    if await conversation.claim(update, context, Flow.NEW_CODES, Step.PROOF):
        await reply(update, tr(texts.ASK_CODE["recovery"]))


async def _ask_code(
    update: Update, context: Context, flow: Flow, device_id: str, what: str
) -> None:
    """Rename and Remove start by asking for a current code."""
    assert update.effective_user is not None
    device = await services(context).devices.device(identity(update.effective_user), device_id)
    if device is None:
        await reply(update, tr(texts.STALE_BUTTON))
        return
    data = {"device": device.id, "name": device.name}
    if await conversation.claim(update, context, flow, Step.PROOF, data=data):
        await reply(update, tr(texts.ASK_CODE[what]).format(name=escape(device.name)))


# ---------------------------------------------------------------------- the buttons


async def on_rename(update: Update, context: Context, press: Press) -> None:
    await press.query.answer()
    await start_rename(update, context, {"device": press.data.ref})


async def on_remove(update: Update, context: Context, press: Press) -> None:
    await press.query.answer()
    await start_remove(update, context, {"device": press.data.ref})


async def on_remove_last(update: Update, context: Context, press: Press) -> None:
    """The second yes for the last device (REMOVE at CONFIRM): it goes, 2FA is off."""
    removal = await services(context).devices.remove(
        identity(press.user), press.data.ref, confirm_last=True
    )
    if removal.unauthorised or removal.removed is None:
        await press.query.answer(tr(texts.STALE_BUTTON))
        return
    await press.query.answer()
    await show_removal(update, context, removal, press.data.ref)


async def on_keep(update: Update, context: Context, press: Press) -> None:
    """No to the second yes: REMOVE ends, the device stays."""
    await press.query.answer()
    await services(context).conversations.release(press.user.id, Flow.REMOVE)
    await edit_or_send(message_of(press.query), update, tr(texts.KEPT_DEVICE))


async def on_new_codes(update: Update, context: Context, press: Press) -> None:
    await press.query.answer()
    await start_new_codes(update, context, {})


# ---------------------------------------------------------------------- the flows' steps


async def on_rename_code(update: Update, context: Context, slot: Conversation) -> None:
    code = await proof_in(update, context)
    if code is None:
        return
    assert update.effective_user is not None
    device_id = str(slot.data.get("device", ""))
    who = identity(update.effective_user)
    proof = await services(context).devices.prove_for_rename(who, device_id, code)
    if proof is None:
        await reply(update, tr(texts.STALE_BUTTON))
    elif not proof.ok:
        await refuse_proof(update, proof.verdict)
    else:
        name = escape(str(slot.data.get("name", "")))
        await reply(update, tr(texts.ASK_NEW_NAME).format(name=name, max=MAX_DEVICE_NAME))


async def on_new_name(update: Update, context: Context, slot: Conversation) -> None:
    user, message = update.effective_user, update.effective_message
    assert user is not None and message is not None
    device_id = str(slot.data.get("device", ""))
    renaming = await services(context).devices.rename(identity(user), device_id, message.text or "")
    if renaming.problem:
        await refuse_name(update, context, renaming.problem)
    elif renaming.device is None:
        await reply(update, tr(texts.RENAME_RAN_OUT))
    else:
        await reply(update, tr(texts.RENAMED).format(name=escape(renaming.device.name)))


async def on_remove_code(update: Update, context: Context, slot: Conversation) -> None:
    code = await proof_in(update, context)
    if code is None:
        return
    assert update.effective_user is not None
    device_id = str(slot.data.get("device", ""))
    who = identity(update.effective_user)
    removal = await services(context).devices.remove(who, device_id, proof_code=code)
    await show_removal(update, context, removal, device_id)


async def on_new_codes_code(update: Update, context: Context, slot: Conversation) -> None:
    code = await proof_in(update, context)
    if code is None:
        return
    assert update.effective_user is not None
    proof, codes = await services(context).devices.new_recovery_codes(
        identity(update.effective_user), code
    )
    if not proof.ok:
        await refuse_proof(update, proof.verdict)
        return
    await send_recovery_codes(update, context, proof.account_id, codes)


async def on_confirm_text(update: Update, context: Context, slot: Conversation) -> None:
    """Text while the second yes for the last device is pending: the buttons decide."""
    await reply(update, conversation.pending(slot))
    await stray_secret(update, context)


async def show_removal(update: Update, context: Context, removal: Removal, device_id: str) -> None:
    """What a removal did: removed, refused, or waiting for the second yes."""
    if removal.refused is not None:
        await refuse_proof(update, removal.refused)
    elif removal.needs_confirmation:
        assert update.effective_user is not None
        device = await services(context).devices.device(identity(update.effective_user), device_id)
        if device is not None:
            await _confirm_last(update, context, device)
    elif removal.removed is None:
        await reply(update, tr(texts.STALE_BUTTON))
    elif removal.remaining == 0:
        device = removal.removed
        await reply(
            update,
            tr(texts.REMOVED_LAST).format(
                name=escape(device.name), account=escape(device.account_id)
            ),
        )
    else:
        name = escape(removal.removed.name)
        await reply(
            update, trn(texts.REMOVED, removal.remaining).format(name=name, count=removal.remaining)
        )


async def _confirm_last(update: Update, context: Context, device: Device) -> None:
    """The last device: turning 2FA off needs an explicit yes."""
    data = {"device": device.id, "name": device.name}
    svc = services(context)
    assert update.effective_user is not None and update.effective_chat is not None
    # Proof was given (a grant waits for the yes); the slot says what is pending.
    if not await svc.conversations.move(
        update.effective_user.id, Flow.REMOVE, Step.CONFIRM, data=data
    ):
        await conversation.claim(update, context, Flow.REMOVE, Step.CONFIRM, data=data)
    await reply(
        update,
        tr(texts.CONFIRM_REMOVE_LAST).format(
            name=escape(device.name), account=escape(device.account_id)
        ),
        reply_markup=InlineKeyboardMarkup(
            [
                [button(tr(texts.BUTTON_REMOVE_LAST), Action.DEVICE_REMOVE_LAST, device.id)],
                [button(tr(texts.BUTTON_KEEP_DEVICE), Action.DEVICE_KEEP, device.id)],
            ]
        ),
    )


RENAME = conversation.FlowSpec(
    Flow.RENAME,
    states={
        Step.PROOF: on_rename_code,  # a current code -> NAME
        Step.NAME: on_new_name,  # the new name -> done
    },
    start=start_rename,
)
REMOVE = conversation.FlowSpec(
    Flow.REMOVE,
    states={
        Step.PROOF: on_remove_code,  # a current code -> done, or CONFIRM for the last device
        Step.CONFIRM: on_confirm_text,  # text: the buttons below decide (BUTTONS)
    },
    start=start_remove,
)
NEW_CODES = conversation.FlowSpec(
    Flow.NEW_CODES,
    states={
        Step.PROOF: on_new_codes_code,  # a current code -> done: the new codes are shown
    },
    start=start_new_codes,
)
BUTTONS = ButtonTable(
    Place.PRIVATE,
    {
        Action.DEVICE_RENAME: on_rename,  # -> RENAME at PROOF
        Action.DEVICE_REMOVE: on_remove,  # -> REMOVE at PROOF
        Action.DEVICE_REMOVE_LAST: on_remove_last,  # REMOVE at CONFIRM -> done
        Action.DEVICE_KEEP: on_keep,  # REMOVE at CONFIRM -> done
        Action.NEW_RECOVERY_CODES: on_new_codes,  # -> NEW_CODES at PROOF
    },
)


def register(app: Application) -> None:
    app.add_handler(CommandHandler("devices", devices_command))
    app.add_handler(CommandHandler("recovery", recovery_command))
    app.add_handler(BUTTONS.handler())
