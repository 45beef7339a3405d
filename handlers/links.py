"""Who manages an account, from the chat: ``t.me/<bot>?start=<token>`` binds the chat to
an account (switching away from another one needs a yes; an account with 2FA needs a code
first), and a person on an account removes another one (after a code)."""

from __future__ import annotations

from html import escape
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import Application, ContextTypes

from core.conversation import Flow, Step
from core.links import LinkOpening, LinkOutcome, ManagerRemoval, RemovalOutcome
from core.records import Conversation
from handlers import cleanup, conversation, enrolment
from handlers.callback_data import (
    Action,
    ButtonTable,
    Place,
    Press,
    button,
    message_of,
    ref_number,
)
from handlers.common import (
    edit_or_send,
    forget,
    identity,
    proof_in,
    refuse_proof,
    reply,
    services,
)
from handlers.texts import format as fmt
from handlers.texts import tr
from handlers.texts import user as texts

Context = ContextTypes.DEFAULT_TYPE

_PROBLEMS = {
    LinkOutcome.UNKNOWN: texts.LINK_UNKNOWN,
    LinkOutcome.USED: texts.LINK_USED,
    LinkOutcome.EXPIRED: texts.LINK_EXPIRED,
    LinkOutcome.VOID: texts.LINK_VOID,
}


async def open_link(update: Update, context: Context, token: str) -> None:
    """/start <token> in the private chat."""
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    await _settle(
        update, context, await services(context).links.open(token, identity(user), chat.id)
    )


async def link_seen_in_group(update: Update, context: Context, token: str) -> None:
    """/start <token> in a group: everyone there could open the link, so it never binds
    anyone; the message leaves the group where the bot may delete it."""
    user, message = update.effective_user, update.effective_message
    assert user is not None and message is not None
    await forget(update, context, message)
    voided = await services(context).links.void_seen(token, identity(user))
    template = tr(texts.LINK_IN_GROUP) if voided else tr(texts.GROUP_REFUSAL)
    await reply(update, template.format(bot_username=context.bot.username))


async def _settle(update: Update, context: Context, opening: LinkOpening) -> None:
    """What opening (or switching to) a link came to, in words."""
    link, outcome = opening.link, opening.outcome
    if outcome is LinkOutcome.CONFIRM:
        assert link is not None and opening.current_account is not None
        new, current = escape(link.account_id), escape(opening.current_account)
        await reply(
            update,
            tr(texts.LINK_CONFIRM).format(new=new, current=current),
            reply_markup=InlineKeyboardMarkup(
                [
                    [button(tr(texts.BUTTON_SWITCH), Action.SWITCH_ACCOUNT, link.id)],
                    [button(tr(texts.BUTTON_KEEP), Action.KEEP_ACCOUNT, link.id)],
                ]
            ),
        )
    elif outcome is LinkOutcome.PROOF:
        assert link is not None
        await reply(update, tr(texts.LINK_ASK_PROOF).format(account=escape(link.account_id)))
    elif outcome is LinkOutcome.BUSY:
        assert opening.waiting is not None
        await conversation.show_busy(update, opening.waiting)
    elif outcome is LinkOutcome.REFUSED:
        assert opening.verdict is not None
        await refuse_proof(update, opening.verdict)
    elif outcome is LinkOutcome.BOUND:
        assert link is not None
        account = escape(link.account_id)
        # A set-up begun for the account the user left ends; its QR code leaves the chat.
        svc = services(context)
        await cleanup.flush(svc.cleanup, context.bot, _chat_id(update))
        if opening.proved:  # the account has devices: nothing to set up now
            await reply(update, tr(texts.LINK_BOUND_PROVED).format(account=account))
            return
        await reply(update, tr(texts.LINK_BOUND).format(account=account))
        await enrolment.begin(update, context)
    else:
        lifetime = fmt.age(services(context).settings.enrollment_link_ttl)
        await reply(
            update, tr(_PROBLEMS.get(outcome, texts.LINK_UNKNOWN)).format(duration=lifetime)
        )


async def on_keep(update: Update, context: Context, press: Press) -> None:
    """Keep (under a link's question): the chat stays with its account."""
    kept = await services(context).links.keep(press.data.ref, identity(press.user))
    if kept.outcome is not LinkOutcome.KEPT or kept.current_account is None:
        await press.query.answer(tr(texts.STALE_BUTTON))
        return
    await press.query.answer()
    current = escape(kept.current_account)
    await edit_or_send(message_of(press.query), update, tr(texts.LINK_KEPT).format(current=current))


async def on_switch(update: Update, context: Context, press: Press) -> None:
    """Switch (under a link's question): bound, or LINK at PROOF first."""
    opening = await services(context).links.proceed(
        press.data.ref, identity(press.user), _chat_id(update)
    )
    if opening.outcome is LinkOutcome.UNKNOWN:
        await press.query.answer(tr(texts.STALE_BUTTON))
        return
    await press.query.answer()
    await _settle(update, context, opening)


async def on_remove_manager(update: Update, context: Context, press: Press) -> None:
    """Remove <person> (under /status): -> UNLINK at PROOF."""
    person_id = ref_number(press.data.ref)
    removal = (
        None
        if person_id is None
        else await services(context).links.start_removal(
            identity(press.user), person_id, _chat_id(update)
        )
    )
    if removal is None or removal.outcome is RemovalOutcome.UNKNOWN:
        await press.query.answer(tr(texts.STALE_BUTTON))
        return
    await press.query.answer()
    await _show_removal(update, removal)


# ------------------------------------------------------------------ the flows' steps


async def on_link_code(update: Update, context: Context, slot: Conversation) -> None:
    """The code that proves the user may manage the link's account, which has 2FA."""
    code = await proof_in(update, context)
    if code is None:
        return
    assert update.effective_user is not None
    who = identity(update.effective_user)
    opening = await services(context).links.prove(str(slot.data.get("link", "")), who, code)
    await _settle(update, context, opening)


async def start_link(update: Update, context: Context, data: dict[str, Any]) -> None:
    """The link's flow, taken up again after the user dropped the one that waited."""
    user = update.effective_user
    assert user is not None
    link_id = str(data.get("link", ""))
    opening = await services(context).links.proceed(link_id, identity(user), _chat_id(update))
    await _settle(update, context, opening)


async def end_link(update: Update, context: Context, slot: Conversation) -> str:
    """/cancel while the link waits for a code (or another flow instead): the link is void."""
    user = update.effective_user
    assert user is not None
    account = await services(context).links.stop(str(slot.data.get("link", "")), identity(user))
    if account is None:
        return tr(texts.STOPPED_DOING).format(doing=conversation.doing(slot))
    return tr(texts.LINK_STOPPED).format(account=escape(account))


async def on_unlink_code(update: Update, context: Context, slot: Conversation) -> None:
    """The code before removing another person from the account."""
    code = await proof_in(update, context)
    if code is None:
        return
    assert update.effective_user is not None
    who = identity(update.effective_user)
    person_id = int(slot.data.get("person", 0))
    await _show_removal(update, await services(context).links.remove_manager(who, person_id, code))


async def start_unlink(update: Update, context: Context, data: dict[str, Any]) -> None:
    user = update.effective_user
    assert user is not None
    person_id = int(data.get("person", 0))
    removal = await services(context).links.start_removal(
        identity(user), person_id, _chat_id(update)
    )
    await _show_removal(update, removal)


def _chat_id(update: Update) -> int:
    assert update.effective_chat is not None
    return update.effective_chat.id


async def _show_removal(update: Update, removal: ManagerRemoval) -> None:
    outcome, person = removal.outcome, removal.person
    account = escape(removal.account_id)
    name = escape(person.display_name) if person is not None else ""
    if outcome is RemovalOutcome.PROOF:
        await reply(update, tr(texts.ASK_CODE["unlink"]).format(name=name, account=account))
    elif outcome is RemovalOutcome.BUSY:
        assert removal.waiting is not None
        await conversation.show_busy(update, removal.waiting)
    elif outcome is RemovalOutcome.REFUSED:
        assert removal.verdict is not None
        await refuse_proof(update, removal.verdict)
    elif outcome is RemovalOutcome.REMOVED:
        await reply(update, tr(texts.MANAGER_REMOVED).format(name=name, account=account))
    else:
        await reply(update, tr(texts.STALE_BUTTON))


LINK = conversation.FlowSpec(
    Flow.LINK,
    states={
        Step.PROOF: on_link_code,  # a current code for the link's account -> done: bound
    },
    start=start_link,
    end=end_link,
)
UNLINK = conversation.FlowSpec(
    Flow.UNLINK,
    states={
        Step.PROOF: on_unlink_code,  # a current code -> done: the person is removed
    },
    start=start_unlink,
)
BUTTONS = ButtonTable(
    Place.PRIVATE,
    {
        Action.SWITCH_ACCOUNT: on_switch,
        Action.KEEP_ACCOUNT: on_keep,
        Action.MANAGER_REMOVE: on_remove_manager,
    },
)


def register(app: Application) -> None:
    app.add_handler(BUTTONS.handler())
