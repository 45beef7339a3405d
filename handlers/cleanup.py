"""Deletes chat messages the core marked obsolete (QR codes, keys, typed codes, recovery
codes): right after a change in the handler's own chat, and from a periodic job."""

from __future__ import annotations

import logging
from collections import defaultdict

from telegram import Bot
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import ContextTypes

from core.cleanup import ChatCleanup
from core.records import CleanupItem
from handlers.common import services

logger = logging.getLogger(__name__)


async def flush(cleanup: ChatCleanup, bot: Bot, chat_id: int | None = None) -> int:
    """Delete what is due now (in one chat, when given); a message already gone counts.

    Handlers flush their own chat right after a change; the periodic job sweeps the
    rest (retries, what a crash left behind, and what was kept for a while).
    """
    deleted: list[CleanupItem] = []
    failed: list[CleanupItem] = []
    by_chat: dict[int, list[CleanupItem]] = defaultdict(list)
    for item in await cleanup.due(chat_id=chat_id):
        by_chat[item.chat_id].append(item)
    for chat, items in by_chat.items():
        # One request per chat: Telegram skips messages that are already gone.
        try:
            await bot.delete_messages(chat, [item.message_id for item in items])
        except (BadRequest, Forbidden) as exc:
            # Too old to delete (48 h), none left, no right to delete in a group, or the
            # user blocked us: retrying cannot help.
            logger.info("messages in chat %s not deleted: %s", chat, exc)
        except TelegramError as exc:
            logger.warning("deleting messages in chat %s failed, will retry: %s", chat, exc)
            failed.extend(items)
            continue
        deleted.extend(items)
    if deleted or failed:
        await cleanup.settle(deleted, failed)
    return len(deleted)


async def cleanup_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    await flush(services(context).cleanup, context.bot)
