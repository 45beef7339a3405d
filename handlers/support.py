"""The support chat's buttons: Approve (with a duration), Deny (with an optional reason
as a reply), Back; agents only, the first decision wins."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    ContextTypes,
    MessageHandler,
    filters,
)

from core.conversation import Flow, Step
from core.deactivation import DecisionOutcome
from core.free_text import secret_problem
from core.records import Conversation, DeactivationRequest, RequestStatus
from core.services import Services
from core.support_desk import AgentView
from handlers import conversation, support_desk
from handlers.callback_data import Action, ButtonTable, Place, Press, button, ref_number
from handlers.common import identity, reply, services, stray_secret
from handlers.support_sync import decide_markup, render, sync
from handlers.texts import format as fmt
from handlers.texts import support as support_texts
from handlers.texts import tr
from handlers.texts import user as user_texts

logger = logging.getLogger(__name__)


def _closed(request: DeactivationRequest) -> str:
    """What a late press is told: the request's fate, and who decided it."""
    status = tr(support_texts.STATUS_NAMES[request.status.value])
    if request.decided_by_name:
        return tr(support_texts.ALREADY_DECIDED).format(
            status=status, agent=request.decided_by_name
        )
    return tr(support_texts.ALREADY_CLOSED).format(status=status)


async def _open_request(
    update: Update, context: ContextTypes.DEFAULT_TYPE, press: Press
) -> tuple[AgentView, int] | None:
    """The open request under the pressed button, and its id: pressed by an agent, in the
    support chat, on the request's own message. None: the press was answered."""
    query, user, data = press.query, press.user, press.data
    svc = services(context)
    message = query.message
    request_id = ref_number(data.ref.partition(".")[0])
    if message is None or message.chat.id != svc.settings.support_chat_id or request_id is None:
        await query.answer(tr(user_texts.STALE_BUTTON))
        return None
    if not await svc.support_desk.is_agent(user.id):
        await query.answer(tr(support_texts.ONLY_AGENTS), show_alert=True)
        return None
    view = await svc.support_desk.agent_view(request_id)
    if view is None or view.request.support_message_id != message.message_id:
        await query.answer(tr(user_texts.STALE_BUTTON))
        return None
    if view.request.status is not RequestStatus.OPEN:
        await query.answer(_closed(view.request))
        await sync(context.bot, svc)
        return None
    return view, request_id


async def on_approve(update: Update, context: ContextTypes.DEFAULT_TYPE, press: Press) -> None:
    """Approve: the durations to choose from."""
    opened = await _open_request(update, context, press)
    if opened is None:
        return
    view, request_id = opened
    await press.query.answer()
    markup = _duration_markup(services(context), request_id)
    await _show(press.query, view, tr(support_texts.SUPPORT_CHOOSE_DURATION), markup)


async def on_approve_for(update: Update, context: ContextTypes.DEFAULT_TYPE, press: Press) -> None:
    """A duration (ref "<request>.<hours>"): approved for that long, if it is one offered."""
    opened = await _open_request(update, context, press)
    if opened is None:
        return
    _, request_id = opened
    hours = press.data.ref.partition(".")[2]
    if ref_number(hours) not in _offered_hours(services(context)):
        await press.query.answer(tr(user_texts.STALE_BUTTON))
        return
    await _decide(update, context, request_id, approve=True, hours=int(hours))


async def on_deny(update: Update, context: ContextTypes.DEFAULT_TYPE, press: Press) -> None:
    """Deny: -> DENY at REASON (a reply with the reason), or Deny without reason, or Back."""
    opened = await _open_request(update, context, press)
    if opened is None:
        return
    view, request_id = opened
    data = {"request": request_id}
    if not await conversation.claim(update, context, Flow.DENY, Step.REASON, data=data):
        return  # the agent was told what waits for them first
    await press.query.answer()
    ref = str(request_id)
    markup = InlineKeyboardMarkup(
        [
            [button(tr(support_texts.BUTTON_DENY_NO_REASON), Action.DENY_NO_REASON, ref)],
            [button(tr(support_texts.BUTTON_BACK), Action.BACK, ref)],
        ]
    )
    await _show(press.query, view, tr(support_texts.SUPPORT_DENY_HOW), markup)


async def on_deny_no_reason(
    update: Update, context: ContextTypes.DEFAULT_TYPE, press: Press
) -> None:
    """DENY at REASON -> done: denied, with no reason for the user."""
    opened = await _open_request(update, context, press)
    if opened is None:
        return
    await services(context).conversations.release(press.user.id, Flow.DENY)
    await _decide(update, context, opened[1], approve=False)


async def on_back(update: Update, context: ContextTypes.DEFAULT_TYPE, press: Press) -> None:
    """Back to Approve and Deny (a DENY waiting for a reason ends)."""
    opened = await _open_request(update, context, press)
    if opened is None:
        return
    view, request_id = opened
    await services(context).conversations.release(press.user.id, Flow.DENY)
    await press.query.answer()
    await _show(press.query, view, "", decide_markup(request_id))


def _offered_hours(svc: Services) -> set[int]:
    return {int(d.total_seconds() // 3600) for d in svc.deactivation.durations}


def _duration_markup(svc: Services, request_id: int) -> InlineKeyboardMarkup:
    choices = [
        button(
            fmt.duration_label(d),
            Action.APPROVE_FOR,
            f"{request_id}.{int(d.total_seconds() // 3600)}",
        )
        for d in svc.deactivation.durations
    ]
    return InlineKeyboardMarkup(
        [choices, [button(tr(support_texts.BUTTON_BACK), Action.BACK, str(request_id))]]
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
        DecisionOutcome.NOT_AGENT: tr(support_texts.ONLY_AGENTS),
        DecisionOutcome.OWN_ACCOUNT: tr(support_texts.OWN_ACCOUNT),
        DecisionOutcome.UNKNOWN: tr(user_texts.STALE_BUTTON),
        DecisionOutcome.INVALID_DURATION: tr(user_texts.STALE_BUTTON),
        DecisionOutcome.UNSAFE_REASON: tr(support_texts.DENY_REASON_UNSAFE),
    }.get(decision.outcome)
    if decision.outcome is DecisionOutcome.ALREADY_DECIDED and decision.request is not None:
        latest = await svc.support_desk.agent_view(request_id)
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
    slot = await svc.conversations.current(user.id)
    if slot is None or slot.flow != Flow.DENY or svc.conversations.expired(slot):
        return
    view = await svc.support_desk.agent_view(int(slot.data.get("request", 0)))
    replied = message.reply_to_message
    if view is None or replied is None or replied.message_id != view.request.support_message_id:
        return
    problem = secret_problem(message.text)
    if problem:
        await reply(update, tr(support_texts.DENY_REASON_UNSAFE))
        await stray_secret(update, context, message)  # out of the group, and spent
        raise ApplicationHandlerStop  # dealt with: the group's catch-all must not again

    await svc.conversations.release(user.id, Flow.DENY)
    await _decide(update, context, view.request.id, approve=False, reason=message.text)


async def _start_deny(
    update: Update, context: ContextTypes.DEFAULT_TYPE, data: dict[str, Any]
) -> None:
    """A deny is started from its request's buttons only."""
    await reply(update, tr(user_texts.STALE_BUTTON))


async def _reason_step(
    update: Update, context: ContextTypes.DEFAULT_TYPE, slot: Conversation
) -> None:
    await on_deny_reason(update, context)


DENY = conversation.FlowSpec(
    Flow.DENY,
    states={
        Step.REASON: _reason_step,  # a reply to the request with the reason -> done: denied
    },
    start=_start_deny,
)
BUTTONS = ButtonTable(
    Place.GROUP,
    {
        Action.APPROVE: on_approve,
        Action.APPROVE_FOR: on_approve_for,
        Action.DENY: on_deny,  # -> DENY at REASON
        Action.DENY_NO_REASON: on_deny_no_reason,  # DENY at REASON -> done
        Action.BACK: on_back,  # DENY at REASON -> done
    },
)


def register(app: Application, support_chat_id: int | None) -> None:
    app.add_handler(BUTTONS.handler())
    if support_chat_id is None:
        return
    support_chat = filters.Chat(support_chat_id)
    support_desk.register(app, support_chat)
    app.add_handler(
        MessageHandler(
            support_chat & filters.REPLY & filters.TEXT & ~filters.COMMAND, on_deny_reason
        )
    )
