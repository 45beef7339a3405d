"""Sends account notices to every Telegram user who manages the account."""

from __future__ import annotations

import logging
from html import escape

from telegram import Bot, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import ContextTypes

from core.records import UserNotice
from core.services import Services
from handlers.callback_data import Action, button
from handlers.common import services
from handlers.texts import tr, using
from handlers.texts import user as texts

logger = logging.getLogger(__name__)

# Notices that come with a button: (its label, its action, the detail that is its ref).
BUTTONS = {
    "deactivation_requested": (texts.BUTTON_WITHDRAW, Action.LOST_WITHDRAW, "id"),
}


def _markup(notice: UserNotice) -> InlineKeyboardMarkup | None:
    if notice.kind not in BUTTONS:
        return None
    label, action, ref = BUTTONS[notice.kind]
    return InlineKeyboardMarkup([[button(tr(label), action, str(notice.detail.get(ref, "")))]])


async def deliver(bot: Bot, svc: Services) -> int:
    """Send what is due, one run at a time; a Telegram failure is retried later."""
    sent = 0
    async with svc.notices.send_lock:
        due = await svc.notices.pending()
        # Everyone's language in one read, not one per notice.
        readers = {user.user_id for _, recipients in due for user in recipients}
        languages = await svc.languages.of(sorted(readers))
        for notice, recipients in due:
            template = texts.NOTICES.get(notice.kind)
            if template is None:
                await svc.notices.delivered(notice)
                continue
            values = {k: escape(str(v)) for k, v in notice.detail.items()}
            try:
                for user in recipients:
                    with using(languages[user.user_id]):  # each reads it in their own
                        text = tr(template).format(account=escape(notice.account_id), **values)
                        markup = _markup(notice)
                    try:
                        await bot.send_message(
                            user.user_id, text, parse_mode=ParseMode.HTML, reply_markup=markup
                        )
                    except (Forbidden, BadRequest) as exc:
                        logger.info("notice to %s not delivered: %s", user.user_id, exc)
            except TelegramError as exc:
                logger.warning("notice %s not delivered, will retry: %s", notice.id, exc)
                await svc.notices.failed(notice)
                break
            await svc.notices.delivered(notice)
            sent += 1
    return sent


async def deliver_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    await deliver(context.bot, services(context))
