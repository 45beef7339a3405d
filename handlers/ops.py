"""/health in the ops chat (and for admins anywhere): is the bot well?"""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from handlers.common import reply, services
from handlers.texts import format as fmt
from handlers.texts import ops as texts

STARTED_AT_KEY = "started_at"


async def health(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    chat, user = update.effective_chat, update.effective_user
    in_ops = chat is not None and chat.id == svc.settings.ops_chat_id
    if not in_ops and (user is None or user.id not in svc.settings.admin_user_ids):
        await reply(update, texts.HEALTH_ONLY)
        return
    database_ok = await svc.db.ping()
    started = context.application.bot_data.get(STARTED_AT_KEY)
    await reply(
        update,
        texts.HEALTH.format(
            database="ok" if database_ok else "NOT ANSWERING",
            outbox=await svc.alerts.depth() if database_ok else "?",
            open_requests=await svc.deactivation.open_count() if database_ok else "?",
            since=fmt.when(started) if started else "?",
        ),
    )


def register(app: Application) -> None:
    app.add_handler(CommandHandler("health", health))
