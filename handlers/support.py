"""The support chat: requests posted with what an agent needs, Approve / Deny, /queue.

The support message and the user's notices are outboxes keyed by the request's status:
``sync`` posts what is not posted, edits what shows an old status and tells users what
they were not told yet. It runs right after every change and as a periodic job, so a
Telegram failure or a restart only delays a message.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from html import escape

from telegram import Bot, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import prompts
from bot.deactivation import AccountLookup, AgentView, DecisionOutcome
from bot.services import Services
from handlers import texts
from handlers.callback_data import Action, button, parse_press, pattern, ref_number
from handlers.common import identity, reply, services
from storage.records import DeactivationRequest, RequestStatus

logger = logging.getLogger(__name__)
# Keep a request's message well under Telegram's 4,096 characters, whatever the account.
MAX_DEVICES_SHOWN = 10
MAX_NAME_SHOWN = 80


def render(view: AgentView) -> str:
    """The one place that formats an account and its request for a support agent."""
    request = view.request
    devices = "\n".join(
        f"• {escape(d.name)}, added {texts.when(d.created_at)}"
        for d in view.devices[:MAX_DEVICES_SHOWN]
    )
    if len(view.devices) > MAX_DEVICES_SHOWN:
        devices += f"\n• … and {len(view.devices) - MAX_DEVICES_SHOWN} more"
    earlier = ", ".join(
        f"#{r.id} {r.status.value} ({texts.when(r.created_at)})" for r in view.earlier[:5]
    )
    text = texts.SUPPORT_REQUEST.format(
        id=request.id,
        account=escape(request.account_id),
        name=escape(request.display_name[:MAX_NAME_SHOWN]),
        username=f"@{escape(request.username)}" if request.username else "",
        user_id=request.telegram_user_id,
        created=texts.when(request.created_at),
        devices=devices or texts.SUPPORT_NO_DEVICES,
        failed=view.failed_checks_24h,
        earlier=earlier or texts.SUPPORT_NO_EARLIER,
        reason=escape(request.reason),
    )
    return text + _outcome(request)


def _outcome(request: DeactivationRequest) -> str:
    if request.status is RequestStatus.OPEN:
        return ""
    at = texts.when(request.decided_at) if request.decided_at else ""
    reason = (
        texts.LOST_DENIED_REASON.format(reason=escape(request.decision_reason))
        if request.decision_reason
        else ""
    )
    return texts.SUPPORT_OUTCOME[request.status.value].format(
        agent=escape(request.decided_by_name or ""),
        at=at,
        until=texts.when(request.deactivated_until) if request.deactivated_until else "",
        reason=reason,
    )


def _closed(request: DeactivationRequest) -> str:
    """What a late press is told: the request's fate, and who decided it."""
    if request.decided_by_name:
        return texts.ALREADY_DECIDED.format(
            status=request.status.value, agent=request.decided_by_name
        )
    return texts.ALREADY_CLOSED.format(status=request.status.value)


def _decide_markup(request_id: int) -> InlineKeyboardMarkup:
    ref = str(request_id)
    return InlineKeyboardMarkup(
        [
            [
                button(texts.BUTTON_APPROVE, Action.APPROVE, ref),
                button(texts.BUTTON_DENY, Action.DENY, ref),
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
            await _post_new(bot, svc, chat_id)
            await _refresh_support(bot, svc)
        await _tell_users(bot, svc)
        await _remind(bot, svc)


async def _post_new(bot: Bot, svc: Services, chat_id: int) -> None:
    for request in await svc.deactivation.unposted():
        view = await svc.deactivation.agent_view(request.id)
        if view is None:
            continue
        try:
            sent = await bot.send_message(
                chat_id,
                render(view),
                parse_mode=ParseMode.HTML,
                reply_markup=_decide_markup(request.id),
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
        view = await svc.deactivation.agent_view(request.id)
        if view is None or request.support_chat_id is None or request.support_message_id is None:
            continue
        markup = _decide_markup(request.id) if request.status is RequestStatus.OPEN else None
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
        await svc.deactivation.mark(request.id, "support_shown_status", request.status.value)


async def _tell_users(bot: Bot, svc: Services) -> None:
    for request in await svc.deactivation.users_to_tell():
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
        await svc.deactivation.mark(request.id, "user_told_status", request.status.value)


def _user_notice(request: DeactivationRequest) -> tuple[str, InlineKeyboardMarkup | None]:
    account = escape(request.account_id)
    if request.status is RequestStatus.APPROVED:
        assert request.deactivated_until is not None
        return (
            texts.LOST_APPROVED.format(
                id=request.id, account=account, until=texts.when(request.deactivated_until)
            ),
            InlineKeyboardMarkup([[button(texts.BUTTON_SET_UP_NEW, Action.ENROLL)]]),
        )
    if request.status is RequestStatus.DENIED:
        reason = (
            texts.LOST_DENIED_REASON.format(reason=escape(request.decision_reason))
            if request.decision_reason
            else ""
        )
        return texts.LOST_DENIED.format(id=request.id, reason=reason, account=account), None
    return texts.LOST_EXPIRED.format(id=request.id), None


async def _remind(bot: Bot, svc: Services) -> None:
    for request in await svc.deactivation.reminders_due():
        assert request.deactivated_until is not None
        try:
            await bot.send_message(
                request.chat_id,
                texts.LOST_REMINDER.format(
                    account=escape(request.account_id), until=texts.when(request.deactivated_until)
                ),
                parse_mode=ParseMode.HTML,
                reply_markup=InlineKeyboardMarkup(
                    [[button(texts.BUTTON_SET_UP_NEW, Action.ENROLL)]]
                ),
            )
        except TelegramError as exc:
            logger.info("reminder for #%s not sent: %s", request.id, exc)
        await svc.deactivation.mark(request.id, "reminder_sent_at", svc.clock.now())


async def sync_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    await sync(context.bot, services(context))


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Approve, a duration, Deny, Deny without reason, Back: agents only."""
    press = await parse_press(update, texts.STALE_BUTTON)
    if press is None:
        return
    query, user, data = press
    svc = services(context)
    message = query.message
    ref_id, _, hours = data.ref.partition(".")
    request_id = ref_number(ref_id)
    if message is None or message.chat.id != svc.settings.support_chat_id or request_id is None:
        await query.answer(texts.STALE_BUTTON)
        return
    if not await svc.deactivation.is_agent(user.id):
        await query.answer(texts.ONLY_AGENTS, show_alert=True)
        return
    view = await svc.deactivation.agent_view(request_id)
    if view is None or view.request.support_message_id != message.message_id:
        await query.answer(texts.STALE_BUTTON)
        return
    if view.request.status is not RequestStatus.OPEN:
        await query.answer(_closed(view.request))
        await sync(context.bot, svc)
        return
    if data.action is Action.APPROVE:
        await query.answer()
        await _show(query, view, texts.SUPPORT_CHOOSE_DURATION, _duration_markup(svc, request_id))
    elif data.action is Action.DENY:
        await svc.prompts.expect(
            user.id, prompts.DENY_REASON, prompts.LONG_PROMPT_TTL, str(request_id)
        )
        await query.answer()
        markup = InlineKeyboardMarkup(
            [
                [button(texts.BUTTON_DENY_NO_REASON, Action.DENY_NO_REASON, str(request_id))],
                [button(texts.BUTTON_BACK, Action.BACK, str(request_id))],
            ]
        )
        await _show(query, view, texts.SUPPORT_DENY_HOW, markup)
    elif data.action is Action.BACK:
        await svc.prompts.clear(user.id)
        await query.answer()
        await _show(query, view, "", _decide_markup(request_id))
    elif data.action is Action.APPROVE_FOR and ref_number(hours) in _offered_hours(svc):
        await _decide(update, context, request_id, approve=True, hours=int(hours))
    elif data.action is Action.DENY_NO_REASON:
        await svc.prompts.clear(user.id)
        await _decide(update, context, request_id, approve=False)
    else:
        await query.answer(texts.STALE_BUTTON)


def _offered_hours(svc: Services) -> set[int]:
    return {int(d.total_seconds() // 3600) for d in svc.deactivation.durations}


def _duration_markup(svc: Services, request_id: int) -> InlineKeyboardMarkup:
    choices = [
        button(
            texts.duration_label(d),
            Action.APPROVE_FOR,
            f"{request_id}.{int(d.total_seconds() // 3600)}",
        )
        for d in svc.deactivation.durations
    ]
    return InlineKeyboardMarkup(
        [choices, [button(texts.BUTTON_BACK, Action.BACK, str(request_id))]]
    )


async def _show(query: object, view: AgentView, suffix: str, markup: InlineKeyboardMarkup) -> None:
    try:
        await query.edit_message_text(  # type: ignore[attr-defined]
            render(view) + suffix, parse_mode=ParseMode.HTML, reply_markup=markup
        )
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


async def _decide(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    request_id: int,
    *,
    approve: bool,
    hours: int | None = None,
    reason: str | None = None,
) -> None:
    query, user = update.callback_query, update.effective_user
    assert user is not None
    svc = services(context)
    decision = await svc.deactivation.decide(
        request_id,
        identity(user),
        approve=approve,
        duration=timedelta(hours=hours) if hours is not None else None,
        reason=reason,
    )
    answer = {
        DecisionOutcome.NOT_AGENT: texts.ONLY_AGENTS,
        DecisionOutcome.OWN_ACCOUNT: texts.OWN_ACCOUNT,
        DecisionOutcome.UNKNOWN: texts.STALE_BUTTON,
        DecisionOutcome.INVALID_DURATION: texts.STALE_BUTTON,
    }.get(decision.outcome)
    if decision.outcome is DecisionOutcome.ALREADY_DECIDED and decision.request is not None:
        latest = await svc.deactivation.agent_view(request_id)
        answer = _closed(latest.request if latest is not None else decision.request)
    if query is not None:
        await query.answer(answer, show_alert=answer is not None)
    elif answer is not None:
        await reply(update, answer)
    await sync(context.bot, svc)


async def on_deny_reason(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An agent's reply to a request message after pressing Deny: the reason for the user."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None or message.text is None:
        return
    svc = services(context)
    prompt = await svc.prompts.get(user.id)
    if prompt is None or prompt.kind != prompts.DENY_REASON or prompt.data is None:
        return
    view = await svc.deactivation.agent_view(int(prompt.data))
    replied = message.reply_to_message
    if view is None or replied is None or replied.message_id != view.request.support_message_id:
        return
    await svc.prompts.clear(user.id)
    await _decide(update, context, view.request.id, approve=False, reason=message.text)


async def queue(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/queue in the support chat: open requests, oldest first, with their age."""
    user = update.effective_user
    svc = services(context)
    if user is None or not await svc.deactivation.is_agent(user.id):
        await reply(update, texts.ONLY_AGENTS)
        return
    now = svc.clock.now()
    open_requests = await svc.deactivation.queue()
    if not open_requests:
        await reply(update, texts.QUEUE_EMPTY)
        return
    lines = [
        texts.QUEUE_LINE.format(
            id=r.id, account=escape(r.account_id), age=texts.age(now - r.created_at)
        )
        for r in open_requests
    ]
    await reply(update, "\n".join([texts.QUEUE_HEADER, *lines]))


async def _agent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    user = update.effective_user
    if user is None or not await services(context).deactivation.is_agent(user.id):
        await reply(update, texts.ONLY_AGENTS)
        return False
    return True


async def lookup(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/lookup <account or Telegram user id>: what support knows about an account."""
    if not await _agent(update, context):
        return
    if not context.args or len(context.args) != 1:
        await reply(update, texts.LOOKUP_USAGE)
        return
    query = context.args[0][:256]
    svc = services(context)
    found = await svc.deactivation.lookup(query)
    if found is None:
        await reply(update, texts.LOOKUP_NONE.format(query=escape(query)))
        return
    await reply(update, render_lookup(found, svc.clock.now()))


def render_lookup(found: AccountLookup, now: datetime) -> str:
    state = found.state
    account = escape(found.account_id)
    if state.hard_locked_at is not None:
        lock = texts.LOCK_HARD.format(failures=state.consecutive_failures, account=account)
    elif state.locked_until is not None and state.locked_until > now:
        lock = texts.LOCK_UNTIL.format(
            until=texts.when(state.locked_until), failures=state.consecutive_failures
        )
    else:
        lock = texts.LOCK_NONE.format(failures=state.consecutive_failures)
    deactivated = state.deactivated_until is not None and state.deactivated_until > now
    users = ", ".join(
        f"{escape(u.display_name[:MAX_NAME_SHOWN])}"
        + (f" @{escape(u.username)}" if u.username else "")
        + f" ({u.user_id})"
        for u in found.users
    )
    devices = "\n".join(
        f"• {escape(d.name)}, added {texts.when(d.created_at)}"
        for d in found.devices[:MAX_DEVICES_SHOWN]
    )
    requests = ", ".join(
        f"#{r.id} {r.status.value} ({texts.when(r.created_at)})" for r in found.requests[:5]
    )
    return texts.LOOKUP.format(
        account=account,
        users=users or "none",
        devices=devices or texts.SUPPORT_NO_DEVICES,
        lock=lock,
        deactivation=texts.DEACTIVATED_UNTIL.format(until=texts.when(state.deactivated_until))
        if deactivated and state.deactivated_until is not None
        else texts.TWO_FA_ON,
        failed=found.failed_checks_24h,
        requests=requests or texts.SUPPORT_NO_EARLIER,
    )


async def unlock(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/unlock <account>: support clears a lock, also the one after 100 failures."""
    if not await _agent(update, context):
        return
    if not context.args or len(context.args) != 1:
        await reply(update, texts.UNLOCK_USAGE)
        return
    account = context.args[0][:256]
    assert update.effective_user is not None
    svc = services(context)
    cleared = await svc.deactivation.clear_lock(account, identity(update.effective_user))
    await reply(
        update, (texts.UNLOCKED if cleared else texts.NOT_LOCKED).format(account=escape(account))
    )


def register(app: Application, support_chat_id: int | None) -> None:
    app.add_handler(
        CallbackQueryHandler(
            on_button,
            pattern=pattern(
                Action.APPROVE, Action.APPROVE_FOR, Action.DENY, Action.DENY_NO_REASON, Action.BACK
            ),
        )
    )
    if support_chat_id is None:
        return
    support_chat = filters.Chat(support_chat_id)
    app.add_handler(CommandHandler("queue", queue, filters=support_chat))
    app.add_handler(CommandHandler("lookup", lookup, filters=support_chat))
    app.add_handler(CommandHandler("unlock", unlock, filters=support_chat))
    app.add_handler(
        MessageHandler(
            support_chat & filters.REPLY & filters.TEXT & ~filters.COMMAND, on_deny_reason
        )
    )
