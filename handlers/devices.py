"""/devices and /recovery: rename or remove a device and get new recovery codes, each after
a current code; and the recovery-code path of /lost."""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from bot import prompts, totp
from bot.devices import Proof
from bot.enrolment import MAX_DEVICE_NAME, device_name_problem
from bot.recovery import looks_like_recovery_code
from handlers import cleanup
from handlers.callback_data import Action, button, parse_press, pattern
from handlers.common import (
    edit_or_send,
    identity,
    is_private,
    private_user,
    refuse_proof,
    reply,
    services,
)
from handlers.enrolment import begin, message_of, send_recovery_codes
from handlers.texts import format as fmt
from handlers.texts import user as texts
from storage.records import ChatPrompt, Device


async def devices_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = await private_user(update)
    if user is None:
        return
    account, devices, _ = await services(context).devices.overview(identity(user))
    if not devices:
        await reply(update, texts.DEVICES_NONE.format(account=escape(account)))
        return
    rows = [
        [
            button(texts.BUTTON_RENAME.format(name=d.name), Action.DEVICE_RENAME, d.id),
            button(texts.BUTTON_REMOVE.format(name=d.name), Action.DEVICE_REMOVE, d.id),
        ]
        for d in devices
    ]
    await reply(
        update,
        texts.DEVICES_LIST.format(
            account=escape(account), devices=fmt.device_lines(devices, last_used=True)
        ),
        reply_markup=InlineKeyboardMarkup(rows),
    )


async def recovery_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = await private_user(update)
    if user is None:
        return
    account, devices, left = await services(context).devices.overview(identity(user))
    if not devices:
        await reply(update, texts.RECOVERY_NONE.format(account=escape(account)))
        return
    await reply(
        update,
        texts.RECOVERY_STATUS.format(count=left, account=escape(account)),
        reply_markup=InlineKeyboardMarkup(
            [[button(texts.BUTTON_NEW_CODES, Action.NEW_RECOVERY_CODES)]]
        ),
    )


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    press = await parse_press(update, texts.STALE_BUTTON)
    if press is None:
        return
    query, user, data = press
    if not is_private(update):
        await query.answer(texts.PRIVATE_ONLY)
        return
    svc = services(context)
    who = identity(user)
    if data.action is Action.LOST_USE_RECOVERY:
        await query.answer()
        await svc.prompts.expect(user.id, prompts.LOST_RECOVERY)
        await reply(update, texts.ASK_RECOVERY_CODE)
        return
    if data.action is Action.NEW_RECOVERY_CODES:
        await query.answer()
        await svc.prompts.expect(user.id, prompts.DEVICE_CODE, data="recovery")
        await reply(update, texts.ASK_CODE["recovery"])
        return
    device = await svc.devices.device(who, data.ref)
    if device is None:
        await query.answer(texts.STALE_BUTTON)
        return
    if data.action in (Action.DEVICE_RENAME, Action.DEVICE_REMOVE):
        what = "rename" if data.action is Action.DEVICE_RENAME else "remove"
        await query.answer()
        await svc.prompts.expect(user.id, prompts.DEVICE_CODE, data=f"{what}:{device.id}")
        await reply(update, texts.ASK_CODE[what].format(name=escape(device.name)))
        return
    prompt = await svc.prompts.get(user.id)
    expected = {
        Action.DEVICE_REMOVE_LAST: prompts.REMOVE_LAST,
        Action.DEVICE_KEEP: prompts.REMOVE_LAST,
        Action.DEVICE_REMOVE_RECOVERED: prompts.RECOVERED,
    }.get(data.action)
    if expected is None or prompt is None or prompt.kind != expected:
        await query.answer(texts.STALE_BUTTON)
        return
    # The proof must be for this very device (remove-last) or this account (recovered).
    bound = device.id if expected == prompts.REMOVE_LAST else device.account_id
    if prompt.data != bound:
        await query.answer(texts.STALE_BUTTON)
        return
    await query.answer()
    if data.action is Action.DEVICE_KEEP:
        await svc.prompts.clear(user.id)
        await edit_or_send(message_of(query), update, texts.KEPT_DEVICE)
        return
    if data.action is Action.DEVICE_REMOVE_LAST:
        await svc.prompts.clear(user.id)
    await _remove(update, context, device, confirm_last=data.action is Action.DEVICE_REMOVE_LAST)


async def _remove(
    update: Update, context: ContextTypes.DEFAULT_TYPE, device: Device, *, confirm_last: bool
) -> None:
    assert update.effective_user is not None
    svc = services(context)
    who = identity(update.effective_user)
    removal = await svc.devices.remove(who, device.id, confirm_last=confirm_last)
    if removal.needs_confirmation:
        await _confirm_last(update, context, device)
    elif removal.removed is None:
        await reply(update, texts.STALE_BUTTON)
    elif removal.remaining == 0:
        await reply(
            update,
            texts.REMOVED_LAST.format(name=escape(device.name), account=escape(device.account_id)),
        )
    else:
        await reply(update, texts.REMOVED.format(name=escape(device.name), count=removal.remaining))


async def _confirm_last(update: Update, context: ContextTypes.DEFAULT_TYPE, device: Device) -> None:
    """The last device: turning 2FA off needs an explicit yes."""
    assert update.effective_user is not None
    await services(context).prompts.expect(
        update.effective_user.id, prompts.REMOVE_LAST, data=device.id
    )
    await reply(
        update,
        texts.CONFIRM_REMOVE_LAST.format(
            name=escape(device.name), account=escape(device.account_id)
        ),
        reply_markup=InlineKeyboardMarkup(
            [
                [button(texts.BUTTON_REMOVE_LAST, Action.DEVICE_REMOVE_LAST, device.id)],
                [button(texts.BUTTON_KEEP_DEVICE, Action.DEVICE_KEEP, device.id)],
            ]
        ),
    )


PROMPT_KINDS = (prompts.DEVICE_CODE, prompts.DEVICE_NAME, prompts.LOST_RECOVERY)


async def answer_prompt(
    update: Update, context: ContextTypes.DEFAULT_TYPE, prompt: ChatPrompt
) -> None:
    """A code before a change, a new device name, or a recovery code after /lost."""
    user, message = update.effective_user, update.effective_message
    assert user is not None and message is not None
    svc = services(context)
    text = message.text or ""
    who = identity(user)
    if prompt.kind == prompts.DEVICE_NAME:
        device = await svc.devices.rename(who, prompt.data or "", text)
        if device is None:
            problem = device_name_problem(text.strip()) or "empty"
            await reply(update, texts.NAME_PROBLEMS[problem].format(max=MAX_DEVICE_NAME))
        else:
            await svc.prompts.clear(user.id)
            await reply(update, texts.RENAMED.format(name=escape(device.name)))
        raise ApplicationHandlerStop
    recovering = prompt.kind == prompts.LOST_RECOVERY
    six_digits = totp.parse_code(text).code
    if six_digits is None and not looks_like_recovery_code(text.strip()):
        await reply(
            update, texts.ASK_RECOVERY_CODE if recovering else texts.CODE_FOR_CHANGE_EXPECTED
        )
        raise ApplicationHandlerStop
    # A code is spent or wrong once checked; it need not stay in the chat.
    assert update.effective_chat is not None
    await svc.cleanup.schedule(update.effective_chat.id, [message.message_id])
    await cleanup.flush(svc.cleanup, context.bot, update.effective_chat.id)
    if recovering and six_digits is not None:
        # Someone who still has the app needs no recovery: do not spend their code.
        await reply(update, texts.APP_CODE_AT_RECOVERY)
        raise ApplicationHandlerStop
    if prompt.data == "enroll":  # another device for an account that has some
        await begin(update, context, proof=six_digits or text.strip())
        raise ApplicationHandlerStop
    # A recovery code works wherever a code from the app does.
    proof = await svc.devices.prove(who, text, allow_recovery=True)
    if not proof.ok or (recovering and proof.verdict.method != "recovery_code"):
        await refuse_proof(update, context, proof.verdict, recovering=recovering)
        raise ApplicationHandlerStop
    if recovering:
        await _recovered(update, context, proof)
    else:
        await _after_code(update, context, prompt.data or "")
    raise ApplicationHandlerStop


async def _after_code(update: Update, context: ContextTypes.DEFAULT_TYPE, data: str) -> None:
    assert update.effective_user is not None
    svc = services(context)
    who = identity(update.effective_user)
    what, _, device_id = data.partition(":")
    if what == "recovery":
        await svc.prompts.clear(who.user_id)
        account, _, _ = await svc.devices.overview(who)
        await send_recovery_codes(update, account, await svc.devices.new_recovery_codes(who))
        return
    device = await svc.devices.device(who, device_id)
    if device is None:
        await svc.prompts.clear(who.user_id)
        await reply(update, texts.STALE_BUTTON)
        return
    if what == "rename":
        await svc.prompts.expect(who.user_id, prompts.DEVICE_NAME, data=device.id)
        await reply(
            update, texts.ASK_NEW_NAME.format(name=escape(device.name), max=MAX_DEVICE_NAME)
        )
        return
    await svc.prompts.clear(who.user_id)
    await _remove(update, context, device, confirm_last=False)


async def _recovered(update: Update, context: ContextTypes.DEFAULT_TYPE, proof: Proof) -> None:
    """A recovery code worked: set up a new device, remove the lost one, no agent needed."""
    assert update.effective_user is not None
    svc = services(context)
    who = identity(update.effective_user)
    await svc.prompts.expect(
        who.user_id, prompts.RECOVERED, prompts.PROMPT_TTL * 2, data=proof.account_id
    )
    _, devices, _ = await svc.devices.overview(who)
    rows = [[button(texts.BUTTON_SET_UP_NEW, Action.ENROLL)]] + [
        [button(texts.BUTTON_REMOVE.format(name=d.name), Action.DEVICE_REMOVE_RECOVERED, d.id)]
        for d in devices
    ]
    await reply(
        update,
        texts.RECOVERED.format(left=proof.verdict.recovery_codes_left or 0),
        reply_markup=InlineKeyboardMarkup(rows),
    )


def register(app: Application) -> None:
    app.add_handler(CommandHandler("devices", devices_command))
    app.add_handler(CommandHandler("recovery", recovery_command))
    app.add_handler(
        CallbackQueryHandler(
            on_button,
            pattern=pattern(
                Action.DEVICE_RENAME,
                Action.DEVICE_REMOVE,
                Action.DEVICE_REMOVE_LAST,
                Action.DEVICE_KEEP,
                Action.DEVICE_REMOVE_RECOVERED,
                Action.NEW_RECOVERY_CODES,
                Action.LOST_USE_RECOVERY,
            ),
        )
    )
