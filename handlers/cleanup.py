"""Deletes chat messages the core marked obsolete (QR codes, keys, typed codes)."""

from __future__ import annotations

import logging

from telegram import Bot
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import ContextTypes

from bot.cleanup import ChatCleanup
from handlers.common import services

logger = logging.getLogger(__name__)


async def flush(cleanup: ChatCleanup, bot: Bot) -> int:
    """Delete what is due now; a message already gone counts as deleted."""
    deleted = 0
    for item in await cleanup.due():
        try:
            await bot.delete_message(item.chat_id, item.message_id)
        except (BadRequest, Forbidden) as exc:
            # Already deleted, too old to delete (48 h), or the user blocked us:
            # retrying cannot help.
            logger.info("message %s not deleted: %s", item.message_id, exc)
        except TelegramError as exc:
            logger.warning("deleting message %s failed, will retry: %s", item.message_id, exc)
            await cleanup.failed(item)
            continue
        await cleanup.done(item)
        deleted += 1
    return deleted


async def cleanup_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    await flush(services(context).cleanup, context.bot)
