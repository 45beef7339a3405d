"""Delivers the alert outbox to the ops chat (or only to the log when OPS_CHAT_ID is unset)."""

from __future__ import annotations

import logging
import re
from html import escape

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.alerts import FOLD_WINDOW, AlertMessage
from bot.redaction import redact
from bot.services import Services
from handlers.common import services
from handlers.texts import format as fmt
from handlers.texts import ops as texts

logger = logging.getLogger(__name__)
_TAGS = re.compile(r"<[^>]+>")
_MAX_DETAIL = 1500  # a Telegram message holds 4096 characters; keep alerts short


def render(message: AlertMessage, secrets: tuple[str, ...] = ()) -> str:
    """Severity, what happened, the account, the Telegram user, when, what to do (HTML)."""
    first, last = message.events[0], message.events[-1]
    accounts = sorted({e.account_id for e in message.events if e.account_id})
    users = sorted({str(e.telegram_user_id) for e in message.events if e.telegram_user_id})
    facts = ""
    if accounts:
        shown = ", ".join(f"<code>{escape(a)}</code>" for a in accounts[:5])
        more = f" (+{len(accounts) - 5} more)" if len(accounts) > 5 else ""
        facts += f"Account{'s' if len(accounts) > 1 else ''}: {shown}{more}\n"
    if users:
        facts += f"Telegram user{'s' if len(users) > 1 else ''}: {', '.join(users[:5])}\n"
    action = texts.ALERT_ACTIONS.get(message.kind)
    action_text = f"\nWhat to do: {action}" if action else ""
    common = {
        "icon": texts.ALERT_ICONS.get(message.severity, "⚪"),
        "severity": message.severity.upper(),
        "title": texts.ALERT_TITLES.get(message.kind, message.kind),
        "facts": facts,
        "action": action_text,
    }
    if message.folded:
        text = texts.ALERT_FOLDED.format(
            count=len(message.events),
            minutes=int(FOLD_WINDOW.total_seconds() // 60),
            first=fmt.when(first.at),
            last=fmt.when(last.at),
            **common,
        )
    else:
        details = "".join(
            f"\n{escape(str(key))}: {_detail(key, value)}"
            for key, value in sorted(first.detail.items())
        )
        text = texts.ALERT_SINGLE.format(when=fmt.when(first.at), details=details, **common)
    return redact(text, secrets)


def _detail(key: str, value: object) -> str:
    text = escape(str(value))[:_MAX_DETAIL]
    return f"<pre>{text}</pre>" if key == "trace" else text


async def deliver(bot: Bot, svc: Services) -> int:
    """Send what is due; stop at the first failure and try again later (backoff)."""
    async with svc.alerts.send_lock:
        return await _deliver(bot, svc)


async def _deliver(bot: Bot, svc: Services) -> int:
    chat_id = svc.settings.ops_chat_id
    sent = 0
    secrets = _secrets(svc)
    for message in await svc.alerts.pending():
        text = render(message, secrets)
        if chat_id is None:
            logger.warning("alert: %s", _TAGS.sub("", text).replace("\n", " | "))
        else:
            try:
                await bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)
            except TelegramError as exc:
                logger.warning("alert not delivered, will retry: %s", exc)
                await svc.alerts.failed(message)
                break
        await svc.alerts.delivered(message)
        sent += 1
    return sent


def _secrets(svc: Services) -> tuple[str, ...]:
    settings = svc.settings
    return tuple(s for s in (settings.telegram_bot_token, settings.api_token) if s)


async def deliver_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    await deliver(context.bot, services(context))
