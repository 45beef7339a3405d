"""Alerts for the ops chat: written to an outbox in the transaction of the change that
raised them, delivered by a sender that retries with backoff, folded when they repeat.

Delivery is at least once: an alert is marked delivered right after Telegram accepted
it, so only a crash in that instant could send it twice. None is silently lost: one that
cannot be delivered for a day is set aside (kept, logged, counted) instead of retried.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.backoff import retry_delay
from core.clock import Clock
from core.leadership import Leadership
from storage.db import Database
from storage.records import AlertEvent
from storage.repositories import Transaction

# Folding is for bursts: the first alerts of a kind go one by one, as soon as they are
# raised (the sender runs every few seconds). Once more than FOLD_AFTER of a kind went
# out within FOLD_WINDOW, further ones are gathered and go as one summary at most every
# SUMMARY_INTERVAL; critical ones are never held back, they go at once, gathered with
# whatever else of their kind is waiting. No kind is exempt from folding.
FOLD_WINDOW = timedelta(minutes=10)
FOLD_AFTER = 3
SUMMARY_INTERVAL = timedelta(minutes=1)
# An alert that Telegram has refused for this long is set aside: kept, logged and
# counted, no longer retried (a message that can never be delivered must not block).
GIVE_UP_AFTER = timedelta(days=1)
PRUNE_BATCH = 500  # rows deleted per transaction by retention
TRACE_LIMIT = 1500  # characters of a trace shown in the ops chat: the end, where it failed

BURST_WINDOW = timedelta(minutes=10)
BURST_THRESHOLD = 10  # failed codes from one Telegram user within the window

# The details that are an alert's own structured facts (counts, ids, times), written by
# the core: shown as they are. Every other detail is free text (an error, a trace, where
# it happened) and passes through redaction before it is shown. The account id and the
# Telegram user id are columns of their own and are never redacted either: a six-digit
# customer number is an account, not a code.
STRUCTURED_DETAILS = frozenset(
    {
        "accounts",
        "agent_id",
        "bot",
        "devices",
        "failures",
        "first_row",
        "key_id",
        "left",
        "mac",
        "minutes",
        "recovery_codes",
        "request_id",
        "rows",
        "seq",
        "until",
        "waiting_minutes",
    }
)


@dataclass(frozen=True)
class AlertMessage:
    """One message for the ops chat: a single event, or several of a kind folded."""

    kind: str
    severity: str
    events: tuple[AlertEvent, ...]

    @property
    def folded(self) -> bool:
        return len(self.events) > 1


@dataclass(frozen=True)
class Outbox:
    """The state of delivery, for /health."""

    waiting: int
    oldest_waiting_at: datetime | None
    set_aside: int


def tail(text: str, limit: int) -> str:
    """The end of ``text`` in at most about ``limit`` characters, from a line start when
    there is one: the end of a trace says what failed."""
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    newline = cut.find("\n")
    return "…" + (cut[newline:] if 0 <= newline < len(cut) - 1 else cut)


def note_failure(tx: Transaction, telegram_user_id: int | None, now: datetime) -> None:
    """After a failed code from a Telegram user: raise a burst alert when they cross the
    threshold (once per burst, not for every failure after it)."""
    if telegram_user_id is None:
        return
    count = tx.audit.failures_by_user_since(telegram_user_id, now - BURST_WINDOW)
    if count == BURST_THRESHOLD:
        tx.alerts.raise_event(
            now,
            "failure_burst",
            "warning",
            telegram_user_id=telegram_user_id,
            failures=count,
            minutes=int(BURST_WINDOW.total_seconds() // 60),
        )


class AlertService:
    def __init__(self, db: Database, clock: Clock, leadership: Leadership | None = None) -> None:
        self._db = db
        self._clock = clock
        # What is sent, and marked sent, only while this bot may send (core/leadership.py).
        self._sending = leadership or Leadership(db)
        # One sender at a time: two would both send what is due before either marks it.
        self.send_lock = asyncio.Lock()

    async def raise_event(
        self,
        kind: str,
        severity: str,
        *,
        account_id: str | None = None,
        telegram_user_id: int | None = None,
        **detail: object,
    ) -> None:
        now = self._clock.now()
        await self._db.run(
            lambda tx: tx.alerts.raise_event(
                now,
                kind,
                severity,
                account_id=account_id,
                telegram_user_id=telegram_user_id,
                **detail,
            )
        )

    async def pending(self) -> list[AlertMessage]:
        """What to send now, oldest first (see FOLD_AFTER)."""
        now = self._clock.now()

        def work(tx: Transaction) -> list[AlertMessage]:
            by_kind: dict[str, list[AlertEvent]] = {}
            for event in tx.alerts.due(now):
                by_kind.setdefault(event.kind, []).append(event)
            messages = [
                message
                for kind, events in by_kind.items()
                for message in _fold(tx, kind, events, now)
            ]
            return sorted(messages, key=lambda m: m.events[0].id)

        return await self._sending.run(work)

    async def delivered(self, message: AlertMessage) -> None:
        now = self._clock.now()
        ids = [e.id for e in message.events]
        await self._sending.run(lambda tx: tx.alerts.mark_delivered(ids, now))

    async def failed(self, message: AlertMessage) -> int:
        """Try again later: 5 s, 10 s, 20 s ... up to 10 minutes; after a day of failures
        the events are set aside instead. How many were set aside."""
        now = self._clock.now()
        at = now + retry_delay(max(e.attempts for e in message.events))
        ids = [e.id for e in message.events]

        def work(tx: Transaction) -> int:
            tx.alerts.retry_later(ids, at, now)
            return tx.alerts.set_aside_failing_since(ids, now - GIVE_UP_AFTER, now)

        return await self._sending.run(work)

    async def depth(self) -> int:
        """Alerts waiting for delivery."""
        return await self._db.run(lambda tx: tx.alerts.depth())

    async def outbox(self) -> Outbox:
        return await self._db.run(
            lambda tx: Outbox(
                tx.alerts.depth(), tx.alerts.oldest_waiting_at(), tx.alerts.set_aside_count()
            )
        )

    async def prune(self, older_than: timedelta, batch: int = PRUNE_BATCH) -> int:
        """Delete alerts delivered (or set aside) more than ``older_than`` ago, ``batch``
        rows per transaction; those still waiting stay. How many were deleted."""
        before = self._clock.now() - older_than
        total = 0
        while True:
            deleted = await self._db.run(lambda tx: tx.alerts.prune(before, batch))
            total += deleted
            if deleted < batch:
                return total


def _fold(
    tx: Transaction, kind: str, events: list[AlertEvent], now: datetime
) -> list[AlertMessage]:
    """The messages for the due events of one kind (oldest first)."""
    went_out = tx.alerts.delivered_since(kind, now - FOLD_WINDOW)
    alone = max(0, FOLD_AFTER + 1 - went_out)
    messages = [AlertMessage(kind, e.severity, (e,)) for e in events[:alone]]
    gathered = events[alone:]
    if not gathered:
        return messages
    if not any(e.severity == "critical" for e in gathered):
        if messages:
            return messages  # the burst starts with these: the rest waits for a summary
        last = tx.alerts.last_delivered_at(kind)
        if last is not None and now - last < SUMMARY_INTERVAL:
            return messages
    severity = max((e.severity for e in gathered), key=_SEVERITY_ORDER.index)
    return [*messages, AlertMessage(kind, severity, tuple(gathered))]


_SEVERITY_ORDER = ["info", "warning", "critical"]
