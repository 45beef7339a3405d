"""/health in the ops chat (and for admins anywhere): is the bot well?"""

from __future__ import annotations

from datetime import datetime

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from core.alerts import Outbox
from handlers.common import reply, services
from handlers.texts import format as fmt
from handlers.texts import ops as texts
from handlers.texts import tr

STARTED_AT_KEY = "started_at"


async def health(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    svc = services(context)
    chat, user = update.effective_chat, update.effective_user
    in_ops = chat is not None and chat.id == svc.settings.ops_chat_id
    if not in_ops and (user is None or user.id not in svc.settings.admin_user_ids):
        await reply(update, tr(texts.HEALTH_ONLY))
        return
    database_ok = await svc.db.ping()
    started = context.application.bot_data.get(STARTED_AT_KEY)
    unknown = texts.HEALTH_UNKNOWN
    outbox = await svc.alerts.outbox() if database_ok else None
    await reply(
        update,
        tr(texts.HEALTH).format(
            database=tr(texts.HEALTH_DATABASE_OK if database_ok else texts.HEALTH_DATABASE_DOWN),
            outbox=_waiting(outbox, svc.clock.now()) if outbox else unknown,
            set_aside=outbox.set_aside if outbox else unknown,
            open_requests=await svc.deactivation.open_count() if database_ok else unknown,
            since=fmt.when(started) if started else unknown,
        ),
    )


def _waiting(outbox: Outbox, now: datetime) -> str:
    """How many alerts wait, and since when: a count that only grows means the ops chat
    does not take them."""
    if outbox.oldest_waiting_at is None:
        return str(outbox.waiting)
    return tr(texts.HEALTH_OLDEST).format(
        count=outbox.waiting, age=fmt.age(now - outbox.oldest_waiting_at)
    )


def register(app: Application) -> None:
    app.add_handler(CommandHandler("health", health))
