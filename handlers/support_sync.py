"""The support chat's outboxes: requests posted with what an agent needs, their messages
kept up to date, users told of every outcome, reminders, expiry.

The support message and the user's notices are outboxes keyed by the request's status:
``sync`` posts what is not posted, edits what shows an old status and tells users what
they were not told yet. It runs right after every change and as a periodic job, so a
Telegram failure or a restart only delays a message.
"""

from __future__ import annotations

import logging
from html import escape

from telegram import Bot, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    ContextTypes,
)

from core.records import DeactivationRequest, Device, RequestStatus
from core.services import Services
from core.support_desk import AgentView
from handlers.callback_data import Action, button
from handlers.common import services
from handlers.texts import format as fmt
from handlers.texts import support as support_texts
from handlers.texts import tr, using
from handlers.texts import user as user_texts

logger = logging.getLogger(__name__)

MAX_DEVICES_SHOWN = 10
MAX_NAME_SHOWN = 80


def agent_devices(devices: list[Device]) -> str:
    """Devices as an agent sees them: at most MAX_DEVICES_SHOWN, the rest counted."""
    return fmt.device_lines(devices, limit=MAX_DEVICES_SHOWN)


def request_list(requests: list[DeactivationRequest]) -> str:
    """Earlier requests as an agent sees them (the last five); "" for none."""
    return ", ".join(
        tr(support_texts.EARLIER_REQUEST).format(
            id=r.id,
            status=tr(support_texts.STATUS_NAMES[r.status.value]),
            when=fmt.when(r.created_at),
        )
        for r in requests[:5]
    )


def render(view: AgentView) -> str:
    """The one place that formats an account and its request for a support agent."""
    request = view.request
    devices = agent_devices(view.devices)
    earlier = request_list(view.earlier)
    text = tr(support_texts.SUPPORT_REQUEST).format(
        id=request.id,
        account=escape(request.account_id),
        name=escape(request.display_name[:MAX_NAME_SHOWN]),
        username=f"@{escape(request.username)}" if request.username else "",
        user_id=request.telegram_user_id,
        linked=_linked_since(view),
        created=fmt.when(request.created_at),
        devices=devices,
        failed=view.failed_checks_24h,
        earlier=earlier or tr(support_texts.SUPPORT_NO_EARLIER),
        reason=escape(request.reason),
    )
    return text + _outcome(request)


def _linked_since(view: AgentView) -> str:
    """Since when the requester manages the account: a link made moments before a request
    is worth a second look."""
    requester = view.requester
    if requester is None or requester.account_id != view.request.account_id:
        return tr(support_texts.SUPPORT_LINK_GONE)
    linked_at = requester.linked_at
    since = fmt.when(linked_at) if linked_at else tr(support_texts.SUPPORT_LINKED_UNKNOWN)
    return tr(support_texts.SUPPORT_LINKED_SINCE).format(since=since)


def _outcome(request: DeactivationRequest) -> str:
    if request.status is RequestStatus.OPEN:
        return ""
    at = fmt.when(request.decided_at) if request.decided_at else ""
    reason = (
        tr(user_texts.LOST_DENIED_REASON).format(reason=escape(request.decision_reason))
        if request.decision_reason
        else ""
    )
    return tr(support_texts.SUPPORT_OUTCOME[request.status.value]).format(
        agent=escape(request.decided_by_name or ""),
        at=at,
        until=fmt.when(request.deactivated_until) if request.deactivated_until else "",
        reason=reason,
    )


def decide_markup(request_id: int) -> InlineKeyboardMarkup:
    ref = str(request_id)
    return InlineKeyboardMarkup(
        [
            [
                button(tr(support_texts.BUTTON_APPROVE), Action.APPROVE, ref),
                button(tr(support_texts.BUTTON_DENY), Action.DENY, ref),
            ]
        ]
    )


async def sync(bot: Bot, svc: Services) -> None:
    """Bring the support chat and the users up to date with every request's status.

    One run at a time: two would both post (or tell) what neither has marked yet."""
    async with svc.deactivation.sync_lock:
        await svc.deactivation.expire_due()
        await svc.deactivation.end_windows()
        await svc.deactivation.alert_waiting()
        chat_id = svc.settings.support_chat_id
        if chat_id is not None:
            with using(svc.settings.support_language):
                await _post_new(bot, svc, chat_id)
                await _refresh_support(bot, svc)
        await _tell_users(bot, svc)
        await _remind(bot, svc)


async def _post_new(bot: Bot, svc: Services, chat_id: int) -> None:
    for request in await svc.deactivation.unposted():
        view = await svc.support_desk.agent_view(request.id)
        if view is None:
            continue
        try:
            sent = await bot.send_message(
                chat_id,
                render(view),
                parse_mode=ParseMode.HTML,
                reply_markup=decide_markup(request.id),
            )
        except BadRequest as exc:
            # This request's message is refused; the others must still get through.
            logger.warning("request #%s could not be posted to support: %s", request.id, exc)
            continue
        except TelegramError as exc:
            logger.warning("posting request #%s to support failed, will retry: %s", request.id, exc)
            return
        await svc.deactivation.record_post(request.id, chat_id, sent.message_id)


async def _refresh_support(bot: Bot, svc: Services) -> None:
    for request in await svc.deactivation.support_outdated():
        view = await svc.support_desk.agent_view(request.id)
        if view is None or request.support_chat_id is None or request.support_message_id is None:
            continue
        markup = decide_markup(request.id) if request.status is RequestStatus.OPEN else None
        try:
            await bot.edit_message_text(
                render(view),
                chat_id=request.support_chat_id,
                message_id=request.support_message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
            )
        except BadRequest as exc:
            if "not modified" not in str(exc).lower():
                logger.info("support message of #%s not updated: %s", request.id, exc)
        except TelegramError as exc:
            logger.warning(
                "updating support message of #%s failed, will retry: %s", request.id, exc
            )
            continue
        await svc.deactivation.mark_support_shown(request.id, request.status)


async def _tell_users(bot: Bot, svc: Services) -> None:
    due = await svc.deactivation.users_to_tell()
    languages = await svc.languages.of([r.telegram_user_id for r in due])
    for request in due:
        with using(languages[request.telegram_user_id]):  # the user's, not the agent's
            text, markup = _user_notice(request)
        try:
            await bot.send_message(
                request.chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup
            )
        except BadRequest as exc:
            logger.info("user of #%s cannot be told: %s", request.id, exc)
        except TelegramError as exc:
            if "blocked" not in str(exc).lower():
                logger.warning("telling the user of #%s failed, will retry: %s", request.id, exc)
                continue
        await svc.deactivation.mark_user_told(request.id, request.status)


def _user_notice(request: DeactivationRequest) -> tuple[str, InlineKeyboardMarkup | None]:
    account = escape(request.account_id)
    if request.status is RequestStatus.APPROVED:
        assert request.deactivated_until is not None
        return (
            tr(user_texts.LOST_APPROVED).format(
                id=request.id, account=account, until=fmt.when(request.deactivated_until)
            ),
            InlineKeyboardMarkup([[button(tr(user_texts.BUTTON_SET_UP_NEW), Action.ENROLL)]]),
        )
    if request.status is RequestStatus.DENIED:
        reason = (
            tr(user_texts.LOST_DENIED_REASON).format(reason=escape(request.decision_reason))
            if request.decision_reason
            else ""
        )
        return tr(user_texts.LOST_DENIED).format(
            id=request.id, reason=reason, account=account
        ), None
    return tr(user_texts.LOST_EXPIRED).format(id=request.id), None


async def _remind(bot: Bot, svc: Services) -> None:
    due = await svc.deactivation.reminders_due()
    languages = await svc.languages.of([r.telegram_user_id for r in due])
    for request in due:
        assert request.deactivated_until is not None
        with using(languages[request.telegram_user_id]):
            text = tr(user_texts.LOST_REMINDER).format(
                account=escape(request.account_id), until=fmt.when(request.deactivated_until)
            )
            markup = InlineKeyboardMarkup(
                [[button(tr(user_texts.BUTTON_SET_UP_NEW), Action.ENROLL)]]
            )
        try:
            await bot.send_message(
                request.chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup
            )
        except TelegramError as exc:
            logger.info("reminder for #%s not sent: %s", request.id, exc)
        await svc.deactivation.mark_reminded(request.id)


async def sync_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    await sync(context.bot, services(context))
