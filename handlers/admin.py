"""/agents: admins (ADMIN_USER_IDS) list, add and remove support agents."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from core.support_desk import telegram_user_id
from handlers.common import identity, reply, services
from handlers.texts import support as texts
from handlers.texts import tr


async def agents(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = update.effective_user
    svc = services(context)
    if user is None or user.id not in svc.settings.admin_user_ids:
        await reply(update, tr(texts.AGENTS_ONLY_ADMINS))
        return
    args = context.args or []
    if not args:
        configured, added = await svc.support_desk.agents()
        await reply(
            update,
            tr(texts.AGENTS_LIST).format(
                configured=", ".join(map(str, sorted(configured))) or "none",
                added=", ".join(map(str, added)) or "none",
            ),
        )
        return
    agent_id = telegram_user_id(args[1]) if len(args) == 2 else None
    if agent_id is None or args[0] not in ("add", "remove"):
        await reply(update, tr(texts.AGENTS_USAGE))
        return
    if args[0] == "add":
        was_added = await svc.support_desk.add_agent(agent_id, identity(user))
        await reply(
            update,
            (tr(texts.AGENTS_ADDED) if was_added else tr(texts.AGENTS_ALREADY)).format(id=agent_id),
        )
    else:
        removed = await svc.support_desk.remove_agent(agent_id, identity(user))
        await reply(
            update,
            (tr(texts.AGENTS_REMOVED) if removed else tr(texts.AGENTS_NOT_FOUND)).format(
                id=agent_id
            ),
        )


def register(app: Application) -> None:
    app.add_handler(CommandHandler("agents", agents))
