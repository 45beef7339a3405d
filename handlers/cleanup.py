"""Deletes chat messages the core marked obsolete (QR codes, keys, typed codes, recovery
codes), and the "I have saved them" button that sends the recovery codes off early."""

from __future__ import annotations

import logging
from collections import defaultdict

from telegram import Bot, Update
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application, CallbackQueryHandler, ContextTypes

from core.cleanup import ChatCleanup
from core.records import CleanupItem
from handlers.callback_data import Action, Place, parse_press, pattern
from handlers.common import services
from handlers.texts import tr
from handlers.texts import user as texts

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


async def on_saved(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """ "I have saved them" under the recovery codes: the message leaves the chat now."""
    press = await parse_press(update, tr(texts.STALE_BUTTON), Place.PRIVATE)
    if press is None:
        return
    query, _, _ = press
    message = query.message
    assert message is not None  # parse_press checked where the press happened
    svc = services(context)
    if not await svc.cleanup.hasten(message.chat.id, message.message_id):
        await query.answer(tr(texts.STALE_BUTTON))
        return
    await query.answer(tr(texts.CODES_REMOVED))
    await flush(svc.cleanup, context.bot, message.chat.id)


def register(app: Application) -> None:
    app.add_handler(CallbackQueryHandler(on_saved, pattern=pattern(Action.RECOVERY_SAVED)))
