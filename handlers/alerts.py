"""Delivers the alert outbox to the ops chat (or only to the log when OPS_CHAT_ID is unset)."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from html import escape, unescape

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from core.alerts import FOLD_AFTER, FOLD_WINDOW, STRUCTURED_DETAILS, TRACE_LIMIT, AlertMessage, tail
from core.redaction import redact
from core.services import Services
from handlers.common import services
from handlers.texts import format as fmt
from handlers.texts import ops as texts
from handlers.texts import tr, using

logger = logging.getLogger(__name__)
_TAGS = re.compile(r"<[^>]+>")
_MAX_DETAIL = 300  # characters of a free-text detail (the trace has TRACE_LIMIT)
_MAX_LISTED = 5  # accounts or Telegram users named in one message
_MALFORMED = "can't parse entities"


def _translated(message: str | None) -> str | None:
    return None if message is None else tr(message)


def render(message: AlertMessage, secrets: tuple[str, ...] = ()) -> str:
    """Severity, what happened, the account, the Telegram user, when, what to do (HTML).

    Every value is made safe before it goes into the HTML: structured facts are only
    escaped, free text is redacted first, then escaped."""
    first, last = message.events[0], message.events[-1]
    accounts = sorted({e.account_id for e in message.events if e.account_id})
    users = sorted({str(e.telegram_user_id) for e in message.events if e.telegram_user_id})
    facts = ""
    if accounts:
        template = tr(texts.ALERT_ACCOUNTS) if len(accounts) > 1 else tr(texts.ALERT_ACCOUNT)
        facts += template.format(accounts=_listed([f"<code>{escape(a)}</code>" for a in accounts]))
    if users:
        template = tr(texts.ALERT_USERS) if len(users) > 1 else tr(texts.ALERT_USER)
        facts += template.format(users=_listed(users))
    action = _translated(texts.ALERT_ACTIONS.get(message.kind))
    action_text = tr(texts.ALERT_ACTION).format(action=action) if action else ""
    common = {
        "icon": texts.ALERT_ICONS.get(message.severity, "⚪"),
        "severity": _translated(texts.ALERT_SEVERITIES.get(message.severity))
        or message.severity.upper(),
        "title": escape(_translated(texts.ALERT_TITLES.get(message.kind)) or message.kind),
        "facts": facts,
        "action": action_text,
    }
    if message.folded:
        return tr(texts.ALERT_FOLDED).format(
            count=len(message.events),
            more_than=FOLD_AFTER,
            minutes=int(FOLD_WINDOW.total_seconds() // 60),
            first=fmt.when(first.at),
            last=fmt.when(last.at),
            **common,
        )
    details = "".join(
        tr(texts.ALERT_DETAIL).format(
            key=escape(_translated(texts.ALERT_DETAIL_NAMES.get(key)) or key),
            value=_detail(key, value, secrets),
        )
        for key, value in sorted(first.detail.items())
    )
    return tr(texts.ALERT_SINGLE).format(when=fmt.when(first.at), details=details, **common)


def _listed(items: list[str]) -> str:
    more = len(items) - _MAX_LISTED
    return ", ".join(items[:_MAX_LISTED]) + (
        tr(texts.ALERT_MORE).format(count=more) if more > 0 else ""
    )


def _detail(key: str, value: object, secrets: tuple[str, ...]) -> str:
    if key == "until" and isinstance(value, str):
        try:  # stored as ISO 8601 UTC, shown as every time in a chat
            return escape(fmt.when(datetime.fromisoformat(value)))
        except ValueError:
            pass
    if key in STRUCTURED_DETAILS:
        return escape(str(value))
    text = redact(str(value), secrets)
    if key == "trace":
        return f"<pre>{escape(tail(text, TRACE_LIMIT))}</pre>"
    return escape(text[:_MAX_DETAIL])


def plain(html: str) -> str:
    """The text of a rendered alert without its markup."""
    return unescape(_TAGS.sub("", html))


async def deliver(bot: Bot, svc: Services) -> int:
    """Send what is due; at the first failure, all that is due waits (backoff)."""
    async with svc.alerts.send_lock:
        with using(svc.settings.ops_language):
            return await _deliver(bot, svc)


async def _deliver(bot: Bot, svc: Services) -> int:
    chat_id = svc.settings.ops_chat_id
    sent = 0
    secrets = configured_secrets(svc)
    due = await svc.alerts.pending()
    for index, message in enumerate(due):
        text = render(message, secrets)
        if chat_id is None:
            logger.warning("alert: %s", plain(text).replace("\n", " | "))
        else:
            try:
                await _send(bot, chat_id, text)
            except TelegramError as exc:
                logger.warning("the ops chat did not take an alert, will retry: %s", exc)
                svc.metrics.alert_delivery_failures.inc()
                # The ops chat is out of reach: whatever else is due waits with this one.
                for waiting in due[index:]:
                    await _failed(svc, waiting, secrets)
                break
        await svc.alerts.delivered(message)
        sent += 1
    return sent


async def _send(bot: Bot, chat_id: int, text: str) -> None:
    """HTML; should Telegram refuse it as malformed, the same text without markup."""
    try:
        await bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)
    except BadRequest as exc:
        if _MALFORMED not in str(exc).lower():
            raise
        logger.warning("an alert was refused as malformed, sent as plain text: %s", exc)
        await bot.send_message(chat_id, plain(text))


async def _failed(svc: Services, message: AlertMessage, secrets: tuple[str, ...]) -> None:
    set_aside = await svc.alerts.failed(message)
    if set_aside:
        svc.metrics.alerts_set_aside.inc(set_aside)
        logger.error(
            "alert set aside after a day of failed deliveries (no longer retried): %s",
            plain(render(message, secrets)).replace("\n", " | "),
        )


def configured_secrets(svc: Services) -> tuple[str, ...]:
    settings = svc.settings
    return tuple(s for s in (settings.telegram_bot_token, settings.api_token) if s)


async def deliver_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    await deliver(context.bot, services(context))


async def retention_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Delivered alerts and account notices older than RETENTION_DAYS go (the audit log
    stays); nothing that still waits for delivery is deleted."""
    svc = services(context)
    alerts = await svc.alerts.prune(svc.settings.retention)
    notices = await svc.notices.prune(svc.settings.retention)
    webhooks = await svc.webhooks.prune(svc.settings.retention)
    await svc.inbox.forget_old()  # update ids kept a day against repeats (bot/inbox.py)
    if alerts or notices or webhooks:
        logger.info(
            "retention: %d delivered alerts, %d notices and %d webhook deliveries older than "
            "%d days deleted",
            alerts,
            notices,
            webhooks,
            svc.settings.retention.days,
        )
