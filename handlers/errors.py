"""The one error handler: log first, then an alert for the ops chat without secrets, and a
short apology to the user in the middle of a flow."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from telegram import Update
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from core.alerts import tail
from core.leadership import NotLeader
from core.redaction import redact
from handlers import alerts
from handlers.common import SERVICES_KEY, is_private, reply
from handlers.texts import tr
from handlers.texts import user as texts

logger = logging.getLogger(__name__)
# "query is too old": a button press answered after Telegram gave up waiting, such as a
# press handled again after a restart (bot/inbox.py: stored updates are at least once).
_BENIGN = (
    "not modified",
    "message to delete not found",
    "message to edit not found",
    "query is too old",
)
_MAX_TRACE = 3000  # stored with the alert; the ops chat shows its end


def _benign(error: BaseException | None, svc: Any = None) -> bool:
    """Failures that are part of Telegram life, handled where they happen, not errors;
    and what fails in a deposed bot (its sends refused, its database path gone: it is
    stopping, and the active bot handles it all)."""
    if _deposed(error):
        return True
    if svc is not None and not svc.leadership.is_current():
        return True
    if isinstance(error, Forbidden):
        return True  # the user blocked the bot
    return isinstance(error, BadRequest) and any(p in str(error).lower() for p in _BENIGN)


def _deposed(error: BaseException | None) -> bool:
    """NotLeader, raised or behind the error PTB wraps it in (a refused Bot API call)."""
    seen = 0
    while error is not None and seen < 5:
        if isinstance(error, NotLeader):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def _where(update: object) -> str:
    if not isinstance(update, Update):
        return "a job"
    if update.callback_query is not None:
        action = (update.callback_query.data or "").split(":")[:2]
        return f"button {':'.join(action)}"
    message = update.effective_message
    if message is not None and message.text and message.text.startswith("/"):
        return f"command {message.text.split()[0][:32]}"
    return "a message"


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    error = context.error
    # Never log the update itself: it can hold codes the user typed.
    update_id = update.update_id if isinstance(update, Update) else None
    svc = context.application.bot_data.get(SERVICES_KEY)
    if _benign(error, svc):
        logger.info("update %s: %s", update_id, error)
        raise ApplicationHandlerStop
    logger.error("error while handling update %s", update_id, exc_info=error)
    if svc is not None and error is not None:
        # Redacted whole, then cut: a cut never leaves half a secret that no longer
        # looks like one. The end is kept: the last line says what failed.
        secrets = alerts.configured_secrets(svc)
        trace = tail(redact("".join(traceback.format_exception(error)), secrets), _MAX_TRACE)
        user = update.effective_user if isinstance(update, Update) else None
        await svc.alerts.raise_event(
            "bot_error",
            "critical",
            telegram_user_id=user.id if user is not None else None,
            error=type(error).__name__,
            where=redact(_where(update), secrets),
            trace=trace,
        )
        try:
            await alerts.deliver(context.bot, svc)
        except TelegramError:
            logger.warning("error alert stays in the outbox")
    if isinstance(update, Update) and is_private(update):
        try:
            await reply(update, tr(texts.SORRY))
        except TelegramError:
            logger.warning("could not send the apology for update %s", update_id)
    # The update is dealt with: no later handler group (e.g. the catch-all) answers it too.
    raise ApplicationHandlerStop
