"""The one error handler: log first, then a short apology to the user in a flow."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from handlers import texts
from handlers.common import is_private, reply

logger = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    # Never log the update itself: it can hold codes the user typed.
    update_id = update.update_id if isinstance(update, Update) else None
    logger.error("error while handling update %s", update_id, exc_info=context.error)
    if isinstance(update, Update) and is_private(update):
        try:
            await reply(update, texts.SORRY)
        except TelegramError:
            logger.warning("could not send the apology for update %s", update_id)
    # The update is dealt with: no later handler group (e.g. the catch-all) answers it too.
    raise ApplicationHandlerStop
