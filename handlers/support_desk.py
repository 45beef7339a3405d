"""Commands for agents in the support chat: /queue, /lookup, /unlock."""

from __future__ import annotations

import logging
from datetime import datetime
from html import escape

from telegram import Update
from telegram.ext import (
    Application,
    CommandHandler,
    ContextTypes,
    filters,
)

from core.challenges import Challenge
from core.clients import client_name
from core.identifiers import MAX_ACCOUNT_ID_LENGTH
from core.support_desk import AccountLookup, RecentCheck, UnlockOutcome, lookup_problem
from handlers.common import identity, reply, services
from handlers.support_sync import MAX_NAME_SHOWN, agent_devices, request_list
from handlers.texts import format as fmt
from handlers.texts import support as texts
from handlers.texts import tr

logger = logging.getLogger(__name__)


async def _agent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Whether an agent sent the command; anyone else is told it is for agents."""
    user = update.effective_user
    if user is None or not await services(context).support_desk.is_agent(user.id):
        await reply(update, tr(texts.ONLY_AGENTS))
        return False
    return True


async def queue(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/queue in the support chat: open requests, oldest first, with their age."""
    if not await _agent(update, context):
        return
    svc = services(context)
    now = svc.clock.now()
    open_requests = await svc.support_desk.queue()
    if not open_requests:
        await reply(update, tr(texts.QUEUE_EMPTY))
        return
    lines = [
        tr(texts.QUEUE_LINE).format(
            id=r.id, account=escape(r.account_id), age=fmt.age(now - r.created_at)
        )
        for r in open_requests
    ]
    await reply(update, "\n".join([tr(texts.QUEUE_HEADER), *lines]))


async def lookup(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/lookup <account or Telegram user id>: what support knows about an account."""
    if not await _agent(update, context):
        return
    query = _rest_of_line(update)
    if not query:
        await reply(update, tr(texts.LOOKUP_USAGE))
        return
    if lookup_problem(query):
        await reply(update, tr(texts.LOOKUP_BAD_QUERY).format(query=_shown(query)))
        return
    svc = services(context)
    found = await svc.support_desk.lookup(query)
    if found is None:
        await reply(update, tr(texts.LOOKUP_NONE).format(query=_shown(query)))
        return
    recent = await svc.challenges.recent(found.account_id)
    await reply(update, render_lookup(found, svc.clock.now()) + _recent_challenges(recent))


def _recent_challenges(recent: list[Challenge]) -> str:
    """The account's last login approvals in the chat (none: nothing added)."""
    if not recent:
        return ""
    lines = ["", "", tr(texts.LOOKUP_RECENT_CHALLENGES)]
    for challenge in recent:
        name = texts.CHALLENGE_STATUS_NAMES.get(challenge.reason or challenge.status)
        app = challenge.context.get("app")
        lines.append(
            tr(texts.RECENT_CHALLENGE).format(
                when=fmt.when(challenge.created_at),
                status=tr(name) if name else escape(challenge.status),
                client=escape(client_name(challenge.client) or challenge.client),
                app=tr(texts.RECENT_CHALLENGE_APP).format(app=escape(app)) if app else "",
            )
        )
    return "\n".join(lines)


def render_lookup(found: AccountLookup, now: datetime) -> str:
    state = found.state
    account = escape(found.account_id)
    if state.hard_locked_at is not None:
        lock = tr(texts.LOCK_HARD).format(failures=state.consecutive_failures, account=account)
    elif state.locked_until is not None and state.locked_until > now:
        lock = tr(texts.LOCK_UNTIL).format(
            until=fmt.when(state.locked_until), failures=state.consecutive_failures
        )
    else:
        lock = tr(texts.LOCK_NONE).format(failures=state.consecutive_failures)
    deactivated = state.deactivated_until is not None and state.deactivated_until > now
    users = ", ".join(
        f"{escape(u.display_name[:MAX_NAME_SHOWN])}"
        + (f" @{escape(u.username)}" if u.username else "")
        + f" ({u.user_id})"
        for u in found.users
    )
    devices = agent_devices(found.devices)
    requests = request_list(found.requests)
    if deactivated and state.deactivated_until is not None:
        two_factor = tr(texts.DEACTIVATED_UNTIL).format(until=fmt.when(state.deactivated_until))
    elif found.needs_new_device:
        two_factor = tr(texts.TWO_FA_NO_DEVICE)
    elif found.devices:
        two_factor = tr(texts.TWO_FA_ON)
    else:
        two_factor = tr(texts.TWO_FA_OFF)
    return tr(texts.LOOKUP).format(
        account=account,
        users=users or "none",
        devices=devices,
        lock=lock,
        deactivation=two_factor,
        failed=found.failed_checks_24h,
        requests=requests or tr(texts.SUPPORT_NO_EARLIER),
    ) + "\n".join(["", _recent_checks_title(found), *map(_recent_check, found.recent_checks)])


def _recent_checks_title(found: AccountLookup) -> str:
    return tr(texts.LOOKUP_RECENT_CHECKS if found.recent_checks else texts.LOOKUP_NO_CHECKS)


def _recent_check(check: RecentCheck) -> str:
    """One line: when, the result, and who asked (an API client by name, or the chat)."""
    name = texts.CHECK_RESULT_NAMES.get(check.result)
    values = {"when": fmt.when(check.at), "result": tr(name) if name else escape(check.result)}
    if check.client is not None:
        return tr(texts.RECENT_CHECK_VIA_CLIENT).format(client=escape(check.client), **values)
    if check.telegram_user_id is not None:
        return tr(texts.RECENT_CHECK_IN_CHAT).format(**values)
    return tr(texts.RECENT_CHECK_VIA_API).format(**values)


async def unlock(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/unlock <account>: support clears a lock, also the one after 100 failures. Who may
    is the core's rule (clear_lock); the agent check here only orders the usage answer."""
    account = _rest_of_line(update)
    if not account:
        if await _agent(update, context):
            await reply(update, tr(texts.UNLOCK_USAGE))
        return
    assert update.effective_user is not None
    svc = services(context)
    outcome = await svc.support_desk.clear_lock(account, identity(update.effective_user))
    await reply(update, tr(_UNLOCK_ANSWERS[outcome]).format(account=_shown(account)))


_UNLOCK_ANSWERS = {
    UnlockOutcome.CLEARED: texts.UNLOCKED,
    UnlockOutcome.NOT_LOCKED: texts.NOT_LOCKED,
    UnlockOutcome.OWN_ACCOUNT: texts.UNLOCK_OWN_ACCOUNT,
    UnlockOutcome.NOT_AGENT: texts.ONLY_AGENTS,
    UnlockOutcome.NOT_AN_ACCOUNT: texts.UNLOCK_NOT_AN_ACCOUNT,
}


def _shown(typed: str) -> str:
    """What the agent typed, as an answer quotes it: escaped, and cut where no account id
    reaches (the command itself may be thousands of characters long)."""
    if len(typed) > MAX_ACCOUNT_ID_LENGTH:
        typed = typed[:MAX_ACCOUNT_ID_LENGTH] + "…"
    return escape(typed)


def _rest_of_line(update: Update) -> str:
    """Everything after the command, without the spaces around it: an account id may hold
    spaces (``/lookup Jane Doe``)."""
    message = update.effective_message
    text = message.text if message is not None and message.text else ""
    parts = text.split(maxsplit=1)
    return parts[1].strip() if len(parts) == 2 else ""


def register(app: Application, support_chat: filters.BaseFilter) -> None:
    app.add_handler(CommandHandler("queue", queue, filters=support_chat))
    app.add_handler(CommandHandler("lookup", lookup, filters=support_chat))
    app.add_handler(CommandHandler("unlock", unlock, filters=support_chat))
