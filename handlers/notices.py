"""Sends account notices to every Telegram user who manages the account."""

from __future__ import annotations

import logging
from html import escape

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import ContextTypes

from core.services import Services
from handlers.common import services
from handlers.texts import tr, using
from handlers.texts import user as texts

logger = logging.getLogger(__name__)


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
                    try:
                        await bot.send_message(user.user_id, text, parse_mode=ParseMode.HTML)
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
