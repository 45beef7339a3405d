"""Enrolment in the private chat: QR code, code, device name, Complete activation."""

from __future__ import annotations

import logging
from html import escape
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, ContextTypes

from core import totp
from core.conversation import Busy, Flow, Step
from core.enrolment_results import Outcome, ProofNeeded, StepResult
from core.free_text import MAX_DEVICE_NAME
from core.records import Conversation, PendingEnrolment
from handlers import cleanup, conversation
from handlers.callback_data import Action, ButtonTable, Place, Press, button, message_of
from handlers.common import (
    edit_or_send,
    identity,
    is_private,
    proof_in,
    refuse_proof,
    reply,
    services,
    stray_secret,
)
from handlers.recovery_codes import send_recovery_codes
from handlers.texts import tr, using
from handlers.texts import user as texts

logger = logging.getLogger(__name__)


def _minutes(context: ContextTypes.DEFAULT_TYPE) -> int:
    return int(services(context).settings.enrolment_ttl.total_seconds() // 60)


async def begin(
    update: Update, context: ContextTypes.DEFAULT_TYPE, proof: str | None = None
) -> None:
    """/enroll and the "Set up 2FA" button: send the QR code (or resume). For an account
    that already has devices, a current code (``proof``) is asked for first."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    if not is_private(update):
        await reply(update, tr(texts.GROUP_REFUSAL).format(bot_username=context.bot.username))
        return
    svc = services(context)
    asked_by = update.message.message_id if update.message is not None else None
    started = await svc.enrolment.start(
        identity(user), chat.id, proof_code=proof, after_message_id=asked_by
    )
    if isinstance(started, Busy):
        await conversation.show_busy(update, started.waiting)
        return
    if isinstance(started, ProofNeeded):
        await _ask_for_proof(update, context, started)
        return
    enrolment = started.enrolment
    if started.resumed and started.step is not Step.CODE:
        await _prompt_for_step(update, context, started.step, enrolment)
        return
    await context.bot.send_chat_action(chat.id, ChatAction.UPLOAD_PHOTO)
    png = await svc.qr.render(started.uri)
    caption = tr(texts.QR_CAPTION).format(
        issuer=escape(svc.settings.totp_issuer), minutes=_minutes(context)
    )
    if started.resumed:
        caption = tr(texts.QR_CAPTION_AGAIN) + caption
    photo = await context.bot.send_photo(
        chat.id,
        png,
        caption=caption,
        parse_mode=ParseMode.HTML,
        protect_content=True,
        reply_markup=InlineKeyboardMarkup(
            [
                [
                    button(tr(texts.BUTTON_SHOW_KEY), Action.SHOW_KEY, enrolment.id),
                    button(tr(texts.BUTTON_CANCEL), Action.CANCEL_ENROLMENT, enrolment.id),
                ]
            ]
        ),
    )
    await svc.enrolment.record_message(enrolment.id, chat.id, "qr", photo.message_id)
    if started.resumed:
        await cleanup.flush(svc.cleanup, context.bot, _chat_id(update))


async def _ask_for_proof(
    update: Update, context: ContextTypes.DEFAULT_TYPE, needed: ProofNeeded
) -> None:
    if needed.verdict is None:
        await reply(update, tr(texts.ASK_CODE["enroll"]).format(account=escape(needed.account_id)))
    else:
        await refuse_proof(update, needed.verdict)


async def _prompt_for_step(
    update: Update, context: ContextTypes.DEFAULT_TYPE, step: Step, enrolment: PendingEnrolment
) -> None:
    if step is Step.NAME:
        await reply(update, tr(texts.ASK_NAME).format(max=MAX_DEVICE_NAME))
    elif step is Step.CONFIRM:
        await _send_summary(update, enrolment)
    else:
        await reply(update, _code_expected(context))


def _code_expected(context: ContextTypes.DEFAULT_TYPE) -> str:
    return tr(texts.CODE_EXPECTED).format(issuer=escape(services(context).settings.totp_issuer))


async def _send_summary(update: Update, enrolment: PendingEnrolment) -> None:
    await reply(
        update,
        tr(texts.SUMMARY).format(
            account=escape(enrolment.account_id), name=escape(enrolment.device_name or "")
        ),
        reply_markup=InlineKeyboardMarkup(
            [
                [button(tr(texts.BUTTON_COMPLETE), Action.COMPLETE, enrolment.id)],
                [button(tr(texts.BUTTON_CANCEL), Action.CANCEL_ENROLMENT, enrolment.id)],
            ]
        ),
    )


# ---------------------------------------------------------------------- the flow's steps


async def on_proof(update: Update, context: ContextTypes.DEFAULT_TYPE, slot: Conversation) -> None:
    """PROOF: the code that proves the user may add a device to an account that has 2FA.
    Accepted -> CODE: the QR code is sent (``EnrolmentService.start`` moves the slot)."""
    code = await proof_in(update, context)
    if code is not None:
        await begin(update, context, proof=code)


async def on_code(update: Update, context: ContextTypes.DEFAULT_TYPE, slot: Conversation) -> None:
    """CODE: the code from the app. Accepted -> NAME; a wrong one -> CODE, until the last
    try ends the enrolment."""
    user, message = update.effective_user, update.effective_message
    assert user is not None and message is not None
    svc = services(context)
    result = await svc.enrolment.submit_code(user.id, message.text, message.message_id)
    if result.outcome is Outcome.ACCEPTED:
        await reply(update, tr(texts.ASK_NAME).format(max=MAX_DEVICE_NAME))
    elif result.outcome is Outcome.WRONG_CODE:
        issuer = escape(svc.settings.totp_issuer)
        tries = texts.tries_left(result.attempts_left)
        await reply(update, tr(texts.CODE_WRONG).format(issuer=issuer, tries=tries))
    elif result.outcome is Outcome.EXHAUSTED:
        await reply(update, tr(texts.CODE_EXHAUSTED).format(max=svc.enrolment.max_attempts))
        await cleanup.flush(svc.cleanup, context.bot, _chat_id(update))
    elif result.outcome is Outcome.NOT_A_CODE and result.digit_count:
        await reply(update, tr(texts.CODE_LENGTH).format(count=result.digit_count))
        await stray_secret(update, context)
    else:
        await _not_taken(update, context, result)


async def on_name(update: Update, context: ContextTypes.DEFAULT_TYPE, slot: Conversation) -> None:
    """NAME: the device's name -> CONFIRM: the summary with Complete activation. At
    CONFIRM, a new name replaces the one in the summary."""
    user, message = update.effective_user, update.effective_message
    assert user is not None and message is not None
    result = await services(context).enrolment.submit_name(user.id, message.text)
    if result.outcome is Outcome.ACCEPTED and result.enrolment is not None:
        await _send_summary(update, result.enrolment)
    elif result.outcome is Outcome.LOOKS_LIKE_CODE:
        await reply(update, tr(texts.NAME_LOOKS_LIKE_CODE))
        await stray_secret(update, context)
    elif result.outcome is Outcome.INVALID_NAME:
        await refuse_name(update, context, result.problem)
    else:
        await _not_taken(update, context, result)


async def _not_taken(
    update: Update, context: ContextTypes.DEFAULT_TYPE, result: StepResult
) -> None:
    """Expired, gone, or input that does not fit the step: say what the bot is waiting for.
    The message is not taken: a secret in it leaves the chat (``stray_secret``)."""
    if result.outcome is Outcome.EXPIRED:
        await reply(update, tr(texts.EXPIRED).format(minutes=_minutes(context)))
    elif result.outcome is Outcome.NO_ENROLMENT:  # the slot outlived its enrolment
        assert update.effective_user is not None
        await services(context).conversations.release(update.effective_user.id, Flow.ENROL)
        await reply(update, tr(texts.UNKNOWN_INPUT))
    elif result.step is Step.CODE:
        await reply(update, _code_expected(context))
    elif result.step is Step.NAME:
        await reply(update, tr(texts.NAME_EXPECTED))
    elif result.step is Step.CONFIRM:
        await reply(update, tr(texts.CONFIRM_EXPECTED))
    else:
        await reply(update, tr(texts.UNKNOWN_INPUT))
    await stray_secret(update, context)


async def refuse_name(update: Update, context: ContextTypes.DEFAULT_TYPE, problem: str) -> None:
    """A name that cannot be kept: say why; a secret typed by mistake leaves the chat (and
    a recovery code is voided: it was not given as a proof)."""
    await reply(update, tr(texts.NAME_PROBLEMS[problem]).format(max=MAX_DEVICE_NAME))
    await stray_secret(update, context)


async def on_expired(
    update: Update, context: ContextTypes.DEFAULT_TYPE, slot: Conversation
) -> None:
    """A message after the set-up ran out: the enrolment says so (and ends)."""
    if slot.step == Step.PROOF:
        await services(context).conversations.release(slot.user_id, Flow.ENROL)
        await reply(update, tr(texts.TIMED_OUT).format(doing=conversation.doing(slot)))
        await stray_secret(update, context)  # a proof too late is no proof
        return
    await FLOW.states[Step(slot.step)](update, context, slot)  # the core ends it, and says


async def end(update: Update, context: ContextTypes.DEFAULT_TYPE, slot: Conversation) -> str:
    """/cancel (or a dropped set-up): the enrolment ends, its messages leave the chat."""
    svc = services(context)
    ended = await svc.enrolment.cancel(slot.user_id)
    if ended is None:  # still at the proof: nothing was set up yet
        await svc.conversations.release(slot.user_id, Flow.ENROL)
        return tr(texts.STOPPED_DOING).format(doing=conversation.doing(slot))
    await cleanup.flush(svc.cleanup, context.bot, _chat_id(update))
    return tr(texts.CANCELLED)


async def _start(update: Update, context: ContextTypes.DEFAULT_TYPE, data: dict[str, Any]) -> None:
    await begin(update, context)


# ------------------------------------------------------------------------- the buttons


async def on_enroll(update: Update, context: ContextTypes.DEFAULT_TYPE, press: Press) -> None:
    """ "Set up 2FA" (under /start, after a recovery code, after an approval)."""
    await press.query.answer()
    await begin(update, context)


async def show_key(update: Update, context: ContextTypes.DEFAULT_TYPE, press: Press) -> None:
    """Show key: the secret for typing by hand, once; the ref must be the live enrolment."""
    query, user, chat, ref = press.query, press.user, update.effective_chat, press.data.ref
    assert chat is not None
    svc = services(context)
    current = await svc.enrolment.pending(user.id)
    enrolment = current.enrolment
    if enrolment is None or enrolment.id != ref:
        await query.answer(tr(texts.STALE_BUTTON))
        return
    if enrolment.key_message_id is not None:
        await query.answer(tr(texts.KEY_ALREADY_SHOWN))
        return
    # The key's message will most likely follow the pressed one: that id is kept before
    # the send, so the message leaves the chat even if its real id never comes back.
    pressed = message_of(query)
    expected = pressed.message_id + 1 if pressed is not None else None
    secret = await svc.enrolment.manual_key(user.id, ref, expected_message_id=expected)
    if secret is None:
        await query.answer(tr(texts.STALE_BUTTON))
        return
    await query.answer()
    await cleanup.flush(svc.cleanup, context.bot, chat.id)  # a key shown before, unrecorded
    sent = await chat.send_message(
        tr(texts.MANUAL_KEY).format(
            key=totp.grouped_key(secret), account=escape(enrolment.account_id)
        ),
        parse_mode=ParseMode.HTML,
        protect_content=True,
    )
    await svc.enrolment.record_message(ref, chat.id, "key", sent.message_id)


async def complete(update: Update, context: ContextTypes.DEFAULT_TYPE, press: Press) -> None:
    """Complete activation (CONFIRM -> done): the device is active."""
    query, user, ref = press.query, press.user, press.data.ref
    svc = services(context)
    activation = await svc.enrolment.complete(user.id, ref)
    if activation.outcome is Outcome.EXPIRED:
        await query.answer()
        await edit_or_send(
            message_of(query), update, tr(texts.EXPIRED).format(minutes=_minutes(context))
        )
        await cleanup.flush(svc.cleanup, context.bot, _chat_id(update))
        return
    if activation.device is None:
        await query.answer(tr(texts.STALE_BUTTON))
        return
    await query.answer()
    device, account = activation.device, activation.device.account_id
    text = (
        tr(texts.ACTIVATED).format(account=escape(account), name=escape(device.name))
        if activation.device_count <= 1
        else tr(texts.ACTIVATED_ANOTHER).format(
            account=escape(account), name=escape(device.name), count=activation.device_count
        )
    )
    await edit_or_send(message_of(query), update, text)
    if activation.recovery_codes:
        await send_recovery_codes(update, context, account, activation.recovery_codes)
    await cleanup.flush(svc.cleanup, context.bot, _chat_id(update))


async def cancel(update: Update, context: ContextTypes.DEFAULT_TYPE, press: Press) -> None:
    """Cancel (under the QR code or the summary): the enrolment ends."""
    query, user, ref = press.query, press.user, press.data.ref
    svc = services(context)
    current = await svc.enrolment.pending(user.id)
    if current.enrolment is None or current.enrolment.id != ref:
        await query.answer(tr(texts.STALE_BUTTON))
        return
    await svc.enrolment.cancel(user.id)
    await query.answer()
    await reply(update, tr(texts.CANCELLED))
    await cleanup.flush(svc.cleanup, context.bot, _chat_id(update))


def _chat_id(update: Update) -> int | None:
    return update.effective_chat.id if update.effective_chat is not None else None


async def expire_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Ends enrolments past their deadline and tells the users."""
    svc = services(context)
    ended = await svc.enrolment.expire_due()
    languages = await svc.languages.of([e.telegram_user_id for e in ended])
    for enrolment in ended:
        with using(languages[enrolment.telegram_user_id]):
            text = tr(texts.EXPIRED).format(minutes=_minutes(context))
        try:
            await context.bot.send_message(enrolment.chat_id, text, parse_mode=ParseMode.HTML)
        except TelegramError as exc:
            # The expiry is recorded; a user who blocked us just isn't told.
            logger.info("expiry notice to chat %s failed: %s", enrolment.chat_id, exc)
    await cleanup.flush(svc.cleanup, context.bot)


FLOW = conversation.FlowSpec(
    Flow.ENROL,
    states={
        Step.PROOF: on_proof,  # a current code (an account with a device) -> CODE
        Step.CODE: on_code,  # the app's code -> NAME
        Step.NAME: on_name,  # the device's name -> CONFIRM
        Step.CONFIRM: on_name,  # a new name -> CONFIRM; Complete activation ends it
    },
    start=_start,
    end=end,
    expired=on_expired,
)
BUTTONS = ButtonTable(
    Place.PRIVATE,
    {
        Action.ENROLL: on_enroll,  # -> PROOF or CODE (the QR code)
        Action.SHOW_KEY: show_key,
        Action.COMPLETE: complete,  # CONFIRM -> done: the device is active
        Action.CANCEL_ENROLMENT: cancel,  # -> done
    },
)


def register(app: Application) -> None:
    app.add_handler(CommandHandler("enroll", begin))
    app.add_handler(BUTTONS.handler())
