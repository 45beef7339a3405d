"""Deletes chat messages the core marked obsolete (QR codes, keys, typed codes)."""

from __future__ import annotations

import logging

from telegram import Bot
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import ContextTypes

from bot.cleanup import ChatCleanup
from handlers.common import services
from storage.records import CleanupItem

logger = logging.getLogger(__name__)


async def flush(cleanup: ChatCleanup, bot: Bot, chat_id: int | None = None) -> int:
    """Delete what is due now (in one chat, when given); a message already gone counts.

    Handlers flush their own chat right after a change; the periodic job sweeps the
    rest (retries, and what a crash left behind).
    """
    deleted: list[CleanupItem] = []
    failed: list[CleanupItem] = []
    for item in await cleanup.due(chat_id=chat_id):
        try:
            await bot.delete_message(item.chat_id, item.message_id)
        except (BadRequest, Forbidden) as exc:
            # Already deleted, too old to delete (48 h), or the user blocked us:
            # retrying cannot help.
            logger.info("message %s not deleted: %s", item.message_id, exc)
        except TelegramError as exc:
            logger.warning("deleting message %s failed, will retry: %s", item.message_id, exc)
            failed.append(item)
            continue
        deleted.append(item)
    if deleted or failed:
        await cleanup.settle(deleted, failed)
    return len(deleted)


async def cleanup_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    await flush(services(context).cleanup, context.bot)
