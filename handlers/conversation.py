"""One conversation at a time, seen from the chat.

Every flow that waits for a typed answer declares its steps in one table beside its
buttons, as python-telegram-bot's ``ConversationHandler(states={...})`` does::

    RENAME = FlowSpec(
        Flow.RENAME,
        states={
            Step.PROOF: on_rename_code,  # a current code -> NAME
            Step.NAME: on_new_name,  # the new name -> done
        },
        start=start_rename,
    )

The user's slot (``core.conversation``, in the database) is the one place that says which
flow waits and at which step; the core service a step calls moves it on (or ends it) in
the transaction of its change. ``on_message`` reads the slot once and hands the message
to that step of that flow's table, and to no other. A flow started while another waits
is not started: the user is told what is pending and offered to continue it, or to drop
it and start the new one.

The tables are listed where the handlers are registered (``handlers.register_all``) and
given to ``register``; nothing is filled in at import.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from html import escape, unescape
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CommandHandler,
    ContextTypes,
    filters,
)

from core.conversation import LONG, SHORT, Busy, Flow, Step
from core.records import Conversation
from handlers.callback_data import Action, ButtonTable, Place, Press, button
from handlers.common import is_private, private_messages, reply, services, stray_secret
from handlers.texts import tr
from handlers.texts import user as texts

Context = ContextTypes.DEFAULT_TYPE
StepHandler = Callable[[Update, Context, Conversation], Awaitable[None]]
STEP_GROUP = 10  # after commands and buttons; before the catch-all reply


@dataclass(frozen=True)
class FlowSpec:
    """A flow's steps and what moves each on, in one table."""

    flow: Flow
    states: Mapping[Step, StepHandler]
    # Begin the flow (again) with the data it was asked with: a dropped flow's successor.
    start: Callable[[Update, Context, dict[str, Any]], Awaitable[None]]
    # Ends what the flow keeps besides the slot (an enrolment's secret, its QR message);
    # returns what to tell the user. None: the slot is all there is.
    end: Callable[[Update, Context, Conversation], Awaitable[str]] | None = None
    # Answers a message that comes after the flow ran out (and routes a secret in it to
    # ``stray_secret``). None: "that took too long".
    expired: StepHandler | None = None

    def step(self, slot: Conversation) -> StepHandler | None:
        """The handler for the step the slot is at (None: a step this flow has not)."""
        known = slot.step in Step.__members__.values()
        return self.states.get(Step(slot.step)) if known else None


def doing(slot: Conversation) -> str:
    """What the user is in the middle of, in words ("renaming <b>Phone</b>")."""
    name = escape(str(slot.data.get("name", "")))
    key = slot.flow if slot.flow != Flow.ENROL or not name else "enrol_named"
    return tr(texts.FLOW_DOING[key]).format(name=name, request=slot.data.get("request", ""))


def pending(slot: Conversation) -> str:
    ask = tr(texts.STEP_ASK.get(f"{slot.flow}.{slot.step}", texts.STEP_ASK[slot.step]))
    return tr(texts.PENDING).format(doing=doing(slot), ask=ask)


async def claim(
    update: Update,
    context: Context,
    flow: Flow,
    step: Step,
    *,
    data: dict[str, Any] | None = None,
    long: bool = False,
) -> bool:
    """Make ``flow`` the one that waits for this user's answer. False: another flow waits;
    the user was told what is pending and offered to drop it."""
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    svc = services(context)
    result = await svc.conversations.claim(
        user.id, chat.id, flow, step, ttl=LONG if long else SHORT, data=data
    )
    if isinstance(result, Busy):
        await show_busy(update, result.waiting)
        return False
    return True


async def show_busy(update: Update, waiting: Conversation) -> None:
    """Another flow waits: say which, and offer to continue it or drop it."""
    markup = InlineKeyboardMarkup(
        [
            [button(tr(texts.BUTTON_CONTINUE), Action.CONTINUE_FLOW)],
            [button(tr(texts.BUTTON_DROP), Action.DROP_FLOW)],
        ]
    )
    if update.callback_query is not None and not is_private(update):
        what = unescape(re.sub(r"<[^>]+>", "", doing(waiting)))  # a pop-up shows no HTML
        await update.callback_query.answer(tr(texts.BUSY_ELSEWHERE).format(doing=what))
        return
    await reply(update, pending(waiting), reply_markup=markup)


class Flows:
    """Every flow's table, by the flow's name: what a message, /cancel and the Continue
    and Drop buttons are handed to."""

    def __init__(self, specs: Iterable[FlowSpec]) -> None:
        self._specs: dict[str, FlowSpec] = {}
        for spec in specs:
            if spec.flow.value in self._specs:
                raise ValueError(f"two tables for the flow {spec.flow.value!r}")
            self._specs[spec.flow.value] = spec
        missing = {f.value for f in Flow} - set(self._specs)
        if missing:
            raise ValueError(f"flows without a table: {sorted(missing)}")
        self.buttons = ButtonTable(
            Place.PRIVATE,
            {Action.CONTINUE_FLOW: self.continue_flow, Action.DROP_FLOW: self.drop_flow},
        )

    async def on_message(self, update: Update, context: Context) -> None:
        """A private message: the answer for the flow in the user's slot, if any."""
        user, chat = update.effective_user, update.effective_chat
        if user is None or chat is None or update.effective_message is None:
            return
        svc = services(context)
        slot = await svc.conversations.current(user.id)
        spec = None if slot is None else self._specs.get(slot.flow)
        if slot is None or spec is None:
            return  # nothing asked: the catch-all answers
        step = spec.step(slot)
        if svc.conversations.expired(slot) or step is None:
            if spec.expired is not None and step is not None:
                await spec.expired(update, context, slot)
            else:
                await svc.conversations.release(user.id, spec.flow)
                await reply(update, tr(texts.TIMED_OUT).format(doing=doing(slot)))
                await stray_secret(update, context)  # its prompt ran out: nothing takes it now
        elif slot.chat_id != chat.id:
            await reply(update, tr(texts.WAITING_ELSEWHERE).format(doing=doing(slot)))
            await stray_secret(update, context)
        else:
            await step(update, context, slot)
        raise ApplicationHandlerStop

    async def end(self, update: Update, context: Context, slot: Conversation) -> str:
        """End the flow in the slot; what to tell the user."""
        spec = self._specs.get(slot.flow)
        if spec is not None and spec.end is not None:
            return await spec.end(update, context, slot)
        await services(context).conversations.release(slot.user_id, Flow(slot.flow))
        return tr(texts.STOPPED_DOING).format(doing=doing(slot))

    async def cancel(self, update: Update, context: Context) -> None:
        """/cancel: end whatever waits, and say what that was."""
        user = update.effective_user
        if user is None:
            return
        slot = await services(context).conversations.current(user.id)
        if slot is None:
            await reply(update, tr(texts.NOTHING_TO_CANCEL))
            return
        await reply(update, await self.end(update, context, slot))

    async def continue_flow(self, update: Update, context: Context, press: Press) -> None:
        """Continue: say again what the waiting flow asks for."""
        slot = await _waiting(context, press)
        if slot is not None:
            await press.query.answer()
            await reply(update, pending(slot))

    async def drop_flow(self, update: Update, context: Context, press: Press) -> None:
        """Drop: end the waiting flow and start the one the user asked for."""
        slot = await _waiting(context, press)
        if slot is None:
            return
        offer = slot.offer
        successor = None if offer is None else self._specs.get(str(offer.get("flow")))
        if offer is None or successor is None:
            await press.query.answer(tr(texts.STALE_BUTTON))
            return
        await press.query.answer()
        await reply(update, await self.end(update, context, slot))
        await successor.start(update, context, dict(offer.get("data") or {}))


async def _waiting(context: Context, press: Press) -> Conversation | None:
    """The flow that waits for the presser; None (the press answered): it ran out."""
    svc = services(context)
    slot = await svc.conversations.current(press.user.id)
    if slot is None or svc.conversations.expired(slot):
        await press.query.answer(tr(texts.STALE_BUTTON))
        return None
    return slot


def register(app: Application, flows: Iterable[FlowSpec]) -> None:
    """/cancel, Continue and Drop, and each private message to its flow's step."""
    table = Flows(flows)
    app.add_handler(CommandHandler("cancel", table.cancel, filters=filters.ChatType.PRIVATE))
    app.add_handler(table.buttons.handler())
    app.add_handler(private_messages(table.on_message), group=STEP_GROUP)
