"""/lost: replace a lost authenticator with a recovery code, or ask support to turn 2FA
off for a while (a reason, then Send; the request can be withdrawn)."""

from __future__ import annotations

from html import escape
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import Application, CommandHandler, ContextTypes

from core import totp
from core.conversation import Flow, Step
from core.deactivation import MAX_REASON, FileOutcome, FileResult, reason_problem
from core.records import Conversation
from core.recovery import looks_like_recovery_code
from handlers import conversation, support_sync
from handlers.callback_data import (
    Action,
    ButtonTable,
    Place,
    Press,
    button,
    message_of,
    ref_number,
)
from handlers.common import (
    edit_or_send,
    forget,
    identity,
    private_user,
    refuse_proof,
    reply,
    services,
    stray_secret,
)
from handlers.devices import show_removal
from handlers.texts import format as fmt
from handlers.texts import tr
from handlers.texts import user as texts

Context = ContextTypes.DEFAULT_TYPE


async def lost(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/lost and the "Lost my authenticator" button: a recovery code first, else support."""
    user = await private_user(update)
    if user is None:
        return
    svc = services(context)
    who = identity(user)
    account, devices, codes_left = await svc.devices.overview(who)
    # The choice only for one who has a recovery code to use and no request open.
    if devices and codes_left and (await svc.deactivation.open_request(who))[1] is None:
        rows = [[button(tr(texts.BUTTON_USE_RECOVERY), Action.LOST_USE_RECOVERY)]]
        if svc.deactivation.support_enabled:
            rows.append([button(tr(texts.BUTTON_ASK_SUPPORT), Action.LOST_ASK_SUPPORT)])
        await reply(update, tr(texts.LOST_CHOICE), reply_markup=InlineKeyboardMarkup(rows))
        return
    await ask_support(update, context, account)


async def ask_support(
    update: Update, context: ContextTypes.DEFAULT_TYPE, account: str | None = None
) -> None:
    """Explain what support can do and ask for the reason (``account``: the user's, when
    the caller has just read it)."""
    assert update.effective_user is not None
    svc = services(context)
    who = identity(update.effective_user)
    if account is None:
        account, _ = await svc.deactivation.open_request(who)
    check = await svc.deactivation.can_file(who)
    if check.outcome is not FileOutcome.FILED:
        await _refusal(update, check, account)
        return
    if await conversation.claim(update, context, Flow.LOST, Step.REASON, long=True):
        await reply(update, tr(texts.LOST_EXPLAIN).format(account=escape(account), max=MAX_REASON))


async def _refusal(update: Update, result: FileResult, account: str) -> None:
    if result.outcome is FileOutcome.ALREADY_OPEN and result.request is not None:
        request = result.request
        await reply(
            update,
            tr(texts.LOST_ALREADY_OPEN).format(id=request.id, created=fmt.when(request.created_at)),
            reply_markup=_withdraw_markup(request.id),
        )
    elif result.outcome is FileOutcome.NOT_ENROLLED:
        await reply(update, tr(texts.LOST_NOT_ENROLLED).format(account=escape(account)))
    elif result.outcome is FileOutcome.NEEDS_NEW_DEVICE:
        await reply(update, tr(texts.LOST_NEEDS_NEW_DEVICE).format(account=escape(account)))
    else:
        await reply(update, tr(texts.LOST_NO_SUPPORT))


def _withdraw_markup(request_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[button(tr(texts.BUTTON_WITHDRAW), Action.LOST_WITHDRAW, str(request_id))]]
    )


async def on_reason(update: Update, context: Context, slot: Conversation) -> None:
    """The reason, typed after /lost (or a new text replacing it before sending)."""
    user, message = update.effective_user, update.effective_message
    assert user is not None and message is not None
    svc = services(context)
    if message.text is None:
        await reply(update, tr(texts.LOST_REASON_EXPECTED))
        return
    problem = reason_problem(message.text)
    if problem:
        await reply(update, tr(texts.LOST_REASON_PROBLEMS[problem]).format(max=MAX_REASON))
        await stray_secret(update, context, message)  # a secret leaves the chat, spent
        return
    reason = message.text.strip()
    await svc.conversations.move(user.id, Flow.LOST, Step.CONFIRM, data={"reason": reason})
    account, _ = await svc.deactivation.open_request(identity(user))
    await reply(
        update,
        tr(texts.LOST_CONFIRM).format(reason=escape(reason), account=escape(account)),
        reply_markup=InlineKeyboardMarkup(
            [
                [button(tr(texts.BUTTON_SEND_REQUEST), Action.LOST_SEND)],
                [button(tr(texts.BUTTON_CANCEL), Action.LOST_CANCEL)],
            ]
        ),
    )


# ------------------------------------------------------------- with a recovery code


async def start_recover(update: Update, context: Context, data: dict[str, Any]) -> None:
    if await conversation.claim(update, context, Flow.RECOVER, Step.CODE):
        await reply(update, tr(texts.ASK_RECOVERY_CODE))


async def on_recovery_code(update: Update, context: Context, slot: Conversation) -> None:
    """A recovery code after /lost: with it, the user replaces the lost device alone."""
    user, message = update.effective_user, update.effective_message
    assert user is not None and message is not None
    text = (message.text or "").strip()
    six_digits = totp.parse_code(text).code
    if six_digits is None and not looks_like_recovery_code(text):
        await reply(update, tr(texts.ASK_RECOVERY_CODE))
        await stray_secret(update, context, message)  # a code among words, a key
        return
    await forget(update, context, message)  # spent or wrong, it need not stay in the chat
    if six_digits is not None:
        # Someone who still has the app needs no recovery: do not spend their code.
        await reply(update, tr(texts.APP_CODE_AT_RECOVERY))
        return
    svc = services(context)
    who = identity(user)
    proof = await svc.devices.recover(who, text)
    if not proof.ok:
        await refuse_proof(update, proof.verdict, recovering=True)
        return
    _, devices, _ = await svc.devices.overview(who)
    rows = [[button(tr(texts.BUTTON_SET_UP_NEW), Action.ENROLL)]] + [
        [button(tr(texts.BUTTON_REMOVE).format(name=d.name), Action.DEVICE_REMOVE_RECOVERED, d.id)]
        for d in devices
    ]
    await reply(
        update,
        tr(texts.RECOVERED).format(left=proof.verdict.recovery_codes_left or 0),
        reply_markup=InlineKeyboardMarkup(rows),
    )


async def _start_lost(update: Update, context: Context, data: dict[str, Any]) -> None:
    await ask_support(update, context)


# ---------------------------------------------------------------------- the buttons


async def on_lost(update: Update, context: Context, press: Press) -> None:
    await press.query.answer()
    await lost(update, context)


async def on_ask_support(update: Update, context: Context, press: Press) -> None:
    await press.query.answer()
    await ask_support(update, context)


async def on_use_recovery(update: Update, context: Context, press: Press) -> None:
    await press.query.answer()
    await start_recover(update, context, {})


async def on_remove_recovered(update: Update, context: Context, press: Press) -> None:
    """Remove a device after a recovery code (the grant it left is the proof)."""
    await press.query.answer()
    removal = await services(context).devices.remove(identity(press.user), press.data.ref)
    await show_removal(update, context, removal, press.data.ref)


async def on_withdraw(update: Update, context: Context, press: Press) -> None:
    svc = services(context)
    request_id = ref_number(press.data.ref)
    withdrawn = (
        None
        if request_id is None
        else await svc.deactivation.withdraw(identity(press.user), request_id)
    )
    if withdrawn is None:
        await press.query.answer(tr(texts.STALE_BUTTON))
        return
    await press.query.answer()
    await edit_or_send(
        message_of(press.query), update, tr(texts.LOST_WITHDRAWN).format(id=withdrawn.id)
    )
    await support_sync.sync(context.bot, svc)


async def _confirmed(context: Context, press: Press) -> Conversation | None:
    """LOST at CONFIRM ends with either button; None (the press answered): it does not
    wait there (any more)."""
    svc = services(context)
    slot = await svc.conversations.current(press.user.id)
    if slot is None or slot.flow != Flow.LOST or slot.step != Step.CONFIRM:
        await press.query.answer(tr(texts.STALE_BUTTON))
        return None
    await press.query.answer()
    await svc.conversations.release(press.user.id, Flow.LOST)
    return slot


async def on_cancel(update: Update, context: Context, press: Press) -> None:
    if await _confirmed(context, press) is not None:
        await edit_or_send(message_of(press.query), update, tr(texts.STOPPED))


async def on_send(update: Update, context: Context, press: Press) -> None:
    """Send: the request is filed with the reason in the slot, and support is told."""
    slot = await _confirmed(context, press)
    if slot is None:
        return
    assert update.effective_chat is not None
    svc = services(context)
    who = identity(press.user)
    reason = str(slot.data.get("reason", ""))
    result = await svc.deactivation.file(who, update.effective_chat.id, reason)
    if result.outcome is not FileOutcome.FILED or result.request is None:
        account, _ = await svc.deactivation.open_request(who)
        await _refusal(update, result, account)
        return
    await edit_or_send(
        message_of(press.query),
        update,
        tr(texts.LOST_FILED).format(id=result.request.id),
        _withdraw_markup(result.request.id),
    )
    await support_sync.sync(context.bot, svc)


LOST = conversation.FlowSpec(
    Flow.LOST,
    states={
        Step.REASON: on_reason,  # the reason -> CONFIRM (Send or Cancel)
        Step.CONFIRM: on_reason,  # a new text replaces the reason -> CONFIRM
    },
    start=_start_lost,
)
RECOVER = conversation.FlowSpec(
    Flow.RECOVER,
    states={
        Step.CODE: on_recovery_code,  # a recovery code -> done: set up or remove a device
    },
    start=start_recover,
)
BUTTONS = ButtonTable(
    Place.PRIVATE,
    {
        Action.LOST: on_lost,  # /lost, from /start
        Action.LOST_USE_RECOVERY: on_use_recovery,  # -> RECOVER at CODE
        Action.LOST_ASK_SUPPORT: on_ask_support,  # -> LOST at REASON
        Action.LOST_SEND: on_send,  # LOST at CONFIRM -> done: the request is filed
        Action.LOST_CANCEL: on_cancel,  # LOST at CONFIRM -> done
        Action.LOST_WITHDRAW: on_withdraw,
        Action.DEVICE_REMOVE_RECOVERED: on_remove_recovered,
    },
)


def register(app: Application) -> None:
    app.add_handler(CommandHandler("lost", lost))
    app.add_handler(BUTTONS.handler())
