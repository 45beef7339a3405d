"""Approve a login in the chat: the message, its buttons, the press, the outcome.

The active bot sends each challenge (core/challenges.py) to everyone who manages the
account, in their language, and records each message as it goes, so a take-over sends
it to nobody twice. The first press decides; every recipient's message then shows the
outcome without buttons (also after an expiry or a cancel), edited by ``show_outcomes``.

Callback data: ``v1:chl:<challenge id>.<choice>`` (a number, ``ok`` or ``no``). A press
counts only from someone who manages the account, on the message the challenge was shown
to them on, with a choice that message shows; anything else is answered and ignored.
"""

from __future__ import annotations

import logging
import re
from html import escape

from telegram import (
    Bot,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
    User,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

from core.challenges import (
    APPROVE,
    REPORT,
    Challenge,
    PressResult,
    Reason,
    Status,
)
from core.leadership import NotLeader
from core.services import Services
from handlers.common import identity, services
from handlers.texts import format as fmt
from handlers.texts import tr, using
from handlers.texts import user as texts

logger = logging.getLogger(__name__)

PREFIX = "v1:chl:"
_DATA = re.compile(r"^v1:chl:([0-9a-z]{1,32})\.([0-9]{2}|ok|no)$")
JOB_INTERVAL_S = 1.0

# The buttons: a choice and its label (numbers are their own label).
BUTTONS = {
    APPROVE: texts.BUTTON_CHALLENGE_APPROVE,
    REPORT: texts.BUTTON_CHALLENGE_NOT_ME,
}
# What the presser is told (the toast).
ANSWERS = {
    PressResult.ACCEPTED: texts.CHALLENGE_ANSWER_ACCEPTED,
    PressResult.WRONG_NUMBER: texts.CHALLENGE_ANSWER_WRONG,
    PressResult.LOCKED: texts.CHALLENGE_ANSWER_LOCKED,
    PressResult.REPORTED: texts.CHALLENGE_ANSWER_REPORTED,
    PressResult.ALREADY_DECIDED: texts.CHALLENGE_ANSWER_DECIDED,
    PressResult.EXPIRED: texts.CHALLENGE_ANSWER_EXPIRED,
    PressResult.STALE: texts.STALE_BUTTON,
}
# What every message shows once decided: by status, or by the reason of a decline.
OUTCOMES: dict[str, str] = {
    Status.ACCEPTED: texts.CHALLENGE_ACCEPTED,
    Reason.WRONG_NUMBER: texts.CHALLENGE_WRONG_NUMBER,
    Reason.LOCKED: texts.CHALLENGE_DECLINED_LOCKED,
    Reason.REPORTED: texts.CHALLENGE_REPORTED,
    Status.EXPIRED: texts.CHALLENGE_EXPIRED,
    Status.CANCELLED: texts.CHALLENGE_CANCELLED,
}


def data(challenge: Challenge, choice: str) -> str:
    return f"{PREFIX}{challenge.id}.{choice}"


def markup(challenge: Challenge) -> InlineKeyboardMarkup:
    first_row = (
        [InlineKeyboardButton(n, callback_data=data(challenge, n)) for n in challenge.choices]
        if challenge.number is not None
        else [InlineKeyboardButton(tr(BUTTONS[APPROVE]), callback_data=data(challenge, APPROVE))]
    )
    not_me = InlineKeyboardButton(tr(BUTTONS[REPORT]), callback_data=data(challenge, REPORT))
    return InlineKeyboardMarkup([first_row, [not_me]])


def render(challenge: Challenge) -> str:
    """The request as the user reads it (the context escaped: text, never markup), and
    below it the outcome once there is one."""
    context = challenge.context
    lines = [tr(texts.CHALLENGE_TITLE), ""]
    lines.append(tr(texts.CHALLENGE_ACCOUNT).format(account=escape(challenge.account_id)))
    if "app" in context:
        lines.append(tr(texts.CHALLENGE_APP).format(app=escape(context["app"])))
    if "ip" in context:
        lines.append(tr(texts.CHALLENGE_IP).format(ip=escape(context["ip"])))
    if "location" in context:
        lines.append(tr(texts.CHALLENGE_LOCATION).format(location=escape(context["location"])))
    lines.append(tr(texts.CHALLENGE_TIME).format(when=fmt.when(challenge.created_at)))
    lines.append("")
    if challenge.status == Status.PENDING:
        ask = texts.CHALLENGE_PICK_NUMBER if challenge.number else texts.CHALLENGE_APPROVE_OR_NOT
        lines.append(tr(ask).format(until=fmt.when(challenge.expires_at)))
    else:
        outcome = OUTCOMES.get(challenge.reason or challenge.status, texts.CHALLENGE_EXPIRED)
        when = fmt.when(challenge.decided_at or challenge.expires_at)
        lines.append(tr(outcome).format(when=when))
    return "\n".join(lines)


async def send_due(bot: Bot, svc: Services) -> int:
    """Send the challenges that wait for their message; how many were sent."""
    sent = 0
    async with svc.challenges.send_lock:
        due = await svc.challenges.to_send()
        readers = sorted({u.user_id for item in due for u in item.recipients})
        languages = await svc.languages.of(readers) if readers else {}
        for item in due:
            challenge = item.challenge
            try:
                for person in item.recipients:
                    if person.user_id in item.sent_to:
                        continue  # sent before a take-over: not twice
                    language = languages.get(person.user_id, "en")
                    with using(language):
                        text, buttons = render(challenge), markup(challenge)
                    try:
                        message = await bot.send_message(
                            person.user_id, text, parse_mode=ParseMode.HTML, reply_markup=buttons
                        )
                    except (Forbidden, BadRequest) as exc:
                        logger.info("challenge to %s not delivered: %s", person.user_id, exc)
                        continue
                    await svc.challenges.shown_to(
                        challenge.id, person.user_id, message.message_id, language
                    )
            except TelegramError as exc:
                logger.warning("challenge %s not delivered, will retry: %s", challenge.id, exc)
                await svc.challenges.send_failed(challenge)
                continue
            await svc.challenges.sent(challenge)
            sent += 1
    return sent


async def show_outcomes(bot: Bot, svc: Services) -> int:
    """Edit the messages of decided challenges to show the outcome, without buttons."""
    async with svc.challenges.outcome_lock:
        return await _show_outcomes(bot, svc)


async def _show_outcomes(bot: Bot, svc: Services) -> int:
    shown = 0
    for challenge, messages in await svc.challenges.outcomes_to_show():
        try:
            for message in messages:
                with using(message.language):
                    text = render(challenge)
                try:
                    await bot.edit_message_text(
                        text,
                        chat_id=message.user_id,
                        message_id=message.message_id,
                        parse_mode=ParseMode.HTML,
                        reply_markup=None,
                    )
                except (Forbidden, BadRequest) as exc:  # deleted, blocked, or shown already
                    logger.info("challenge message %s not edited: %s", message.message_id, exc)
        except TelegramError as exc:
            logger.warning("challenge %s outcome not shown, will retry: %s", challenge.id, exc)
            continue
        await svc.challenges.outcome_shown(challenge.id)
        shown += 1
    return shown


async def challenge_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every second on the active bot: send what is due, expire, show outcomes."""
    svc = services(context)
    try:
        await send_due(context.bot, svc)
        await svc.challenges.expire_due()
        await show_outcomes(context.bot, svc)
    except NotLeader as exc:
        logger.info("challenges not sent: %s", exc)


async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query, user = update.callback_query, update.effective_user
    if query is None or user is None:
        return
    parsed = _DATA.match(query.data or "")
    message = query.message if isinstance(query.message, Message) else None
    if parsed is None or message is None or not _pressed_where_shown(query, message, user):
        await query.answer(tr(texts.STALE_BUTTON))
        return
    svc = services(context)
    challenge_id, choice = parsed.groups()
    press = await svc.challenges.press(challenge_id, identity(user), choice, message.message_id)
    await query.answer(tr(ANSWERS[press.result]), show_alert=press.result is PressResult.REPORTED)
    if press.result is not PressResult.STALE:
        try:
            await show_outcomes(context.bot, svc)
        except NotLeader as exc:
            logger.info("challenge outcome not shown: %s", exc)


def _pressed_where_shown(query: CallbackQuery, message: Message, user: User) -> bool:
    """In the presser's own chat with the bot, on a bot message showing this button."""
    sender = message.from_user
    if sender is None or sender.id != query.get_bot().id:
        return False
    if message.chat.type != ChatType.PRIVATE or message.chat.id != user.id:
        return False
    shown = message.reply_markup.inline_keyboard if message.reply_markup else ()
    return any(button.callback_data == query.data for row in shown for button in row)


def register(app: Application) -> None:
    app.add_handler(CallbackQueryHandler(on_press, pattern=rf"^{re.escape(PREFIX)}"))
