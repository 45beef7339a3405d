"""One conversation at a time: the slot that says what the bot waits for from a user.

Every flow that waits for a typed answer claims the user's slot, in the transaction of
its own change, moves it from step to step and releases it when it ends. So a message
goes to exactly one flow: the one in the slot. A flow started while another one waits
does not take the slot: the caller learns what is pending (``Busy``), and the request
is kept as the slot's *offer*, to be started if the user drops the waiting flow.

The slot lives in the database, so a restart (or another process) sees the same step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from core.clock import Clock
from storage.db import Database
from storage.records import Conversation
from storage.repositories import Transaction


class Flow(StrEnum):
    ENROL = "enrol"  # a new device: proof (if the account has one), code, name, confirm
    CHECK = "check"  # /check: a code to try
    RENAME = "rename"  # proof, then the new name
    REMOVE = "remove"  # proof, then (for the last device) the second yes
    NEW_CODES = "new_codes"  # proof, then a new set of recovery codes
    RECOVER = "recover"  # /lost with a recovery code
    LOST = "lost"  # /lost to support: the reason, then Send
    DENY = "deny"  # an agent's reason for denying a request (in the support chat)
    LINK = "link"  # an enrolment link for an account with 2FA: proof, then the switch
    UNLINK = "unlink"  # remove another person from the account: proof, then they go


class Step(StrEnum):
    PROOF = "proof"  # a current code (or a recovery code) before a change
    CODE = "code"  # a code: the app's (enrolment, /check) or a recovery code (recover)
    NAME = "name"  # a device name
    CONFIRM = "confirm"  # a button under the summary; a typed answer may replace the last
    REASON = "reason"  # a reason, for support or for the user


SHORT = timedelta(minutes=5)
LONG = timedelta(minutes=30)


@dataclass(frozen=True)
class Busy:
    """Another flow waits for this user's answer; the new one was not started."""

    waiting: Conversation


def live(tx: Transaction, user_id: int, now: datetime) -> Conversation | None:
    """The user's slot, if it holds a flow that has not run out."""
    slot = tx.conversations.get(user_id)
    return slot if slot is not None and slot.expires_at > now else None


def step_of(tx: Transaction, user_id: int, flow: Flow) -> Step | None:
    """The step ``flow`` waits at for this user (None: the slot holds no such flow)."""
    slot = tx.conversations.get(user_id)
    if slot is None or slot.flow != flow or slot.step not in _STEPS:
        return None
    return Step(slot.step)


_STEPS = {step.value for step in Step}


def claim(
    tx: Transaction,
    user_id: int,
    chat_id: int,
    flow: Flow,
    step: Step,
    now: datetime,
    *,
    ttl: timedelta = SHORT,
    data: dict[str, Any] | None = None,
) -> Conversation | Busy:
    """Take the user's slot for ``flow`` (restarting it if it already holds ``flow``).

    If another flow waits, nothing changes but the slot's offer: ``Busy``."""
    data = data or {}
    current = live(tx, user_id, now)
    if current is not None and current.flow != flow:
        tx.conversations.put(replace(current, offer={"flow": flow.value, "data": data}))
        return Busy(current)
    slot = Conversation(user_id, chat_id, flow.value, step.value, data, None, now, now + ttl)
    tx.conversations.put(slot)
    return slot


def move(
    tx: Transaction,
    user_id: int,
    flow: Flow,
    step: Step,
    *,
    data: dict[str, Any] | None = None,
    expires_at: datetime | None = None,
) -> bool:
    """Move the user's ``flow`` to ``step`` (False if the slot holds another flow)."""
    slot = tx.conversations.get(user_id)
    if slot is None or slot.flow != flow:
        return False
    tx.conversations.put(
        replace(
            slot,
            step=step.value,
            data=slot.data if data is None else data,
            offer=None,
            expires_at=expires_at or slot.expires_at,
        )
    )
    return True


def release(tx: Transaction, user_id: int, flow: Flow) -> bool:
    """End ``flow``'s wait (and only that flow's: another one may hold the slot now)."""
    return tx.conversations.delete(user_id, flow.value)


class Conversations:
    """The slot, for the chat adapters."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def now(self) -> datetime:
        return self._clock.now()

    async def current(self, user_id: int) -> Conversation | None:
        """The slot, expired or not (``expired`` tells): the flow says how it ended."""
        return await self._db.run(lambda tx: tx.conversations.get(user_id))

    def expired(self, slot: Conversation) -> bool:
        return slot.expires_at <= self._clock.now()

    async def claim(
        self,
        user_id: int,
        chat_id: int,
        flow: Flow,
        step: Step,
        *,
        ttl: timedelta = SHORT,
        data: dict[str, Any] | None = None,
    ) -> Conversation | Busy:
        now = self._clock.now()
        return await self._db.run(
            lambda tx: claim(tx, user_id, chat_id, flow, step, now, ttl=ttl, data=data)
        )

    async def move(
        self, user_id: int, flow: Flow, step: Step, *, data: dict[str, Any] | None = None
    ) -> bool:
        return await self._db.run(lambda tx: move(tx, user_id, flow, step, data=data))

    async def release(self, user_id: int, flow: Flow) -> bool:
        return await self._db.run(lambda tx: release(tx, user_id, flow))

    async def clear(self, user_id: int) -> Conversation | None:
        """Empty the slot whatever it holds; what it held."""

        def work(tx: Transaction) -> Conversation | None:
            slot = tx.conversations.get(user_id)
            tx.conversations.delete(user_id)
            return slot

        return await self._db.run(work)
