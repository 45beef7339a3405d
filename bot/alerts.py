"""Alerts for the ops chat: written to an outbox in the transaction of the change that
raised them, delivered by a sender that retries with backoff, folded when they repeat.

Delivery is at least once: an alert is marked delivered right after Telegram accepted
it, so only a crash in that instant could send it twice; none is ever lost.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.backoff import retry_delay
from bot.clock import Clock
from storage.db import Database
from storage.records import AlertEvent
from storage.repositories import Transaction

FOLD_WINDOW = timedelta(minutes=10)
NEVER_FOLDED = frozenset({"bot_started", "bot_stopped"})
BURST_WINDOW = timedelta(minutes=10)
BURST_THRESHOLD = 10  # failed codes from one Telegram user within the window


@dataclass(frozen=True)
class AlertMessage:
    """One message for the ops chat: a single event, or several of a kind folded."""

    kind: str
    severity: str
    events: tuple[AlertEvent, ...]

    @property
    def folded(self) -> bool:
        return len(self.events) > 1


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
    def __init__(self, db: Database, clock: Clock, fold_window: timedelta = FOLD_WINDOW) -> None:
        self._db = db
        self._clock = clock
        self._fold_window = fold_window
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
        """What to send now. The first alert of a kind goes at once; more of the same
        kind within the fold window wait, then go as one summary."""
        now = self._clock.now()

        def work(tx: Transaction) -> list[AlertMessage]:
            by_kind: dict[str, list[AlertEvent]] = {}
            for event in tx.alerts.due(now):
                by_kind.setdefault(event.kind, []).append(event)
            messages = []
            for kind, events in by_kind.items():
                last = tx.alerts.last_delivered_at(kind)
                if kind in NEVER_FOLDED:
                    messages.extend(AlertMessage(kind, e.severity, (e,)) for e in events)
                    continue
                if last is not None and now - last < self._fold_window:
                    continue  # a burst: wait for the window to close, then summarise
                severity = max((e.severity for e in events), key=_SEVERITY_ORDER.index)
                messages.append(AlertMessage(kind, severity, tuple(events)))
            return messages

        return await self._db.run(work)

    async def delivered(self, message: AlertMessage) -> None:
        now = self._clock.now()
        ids = [e.id for e in message.events]
        await self._db.run(lambda tx: tx.alerts.mark_delivered(ids, now))

    async def failed(self, message: AlertMessage) -> None:
        """Try again later: 5 s, 10 s, 20 s ... up to 10 minutes."""
        at = self._clock.now() + retry_delay(max(e.attempts for e in message.events))
        ids = [e.id for e in message.events]
        await self._db.run(lambda tx: tx.alerts.retry_later(ids, at))

    async def depth(self) -> int:
        return await self._db.run(lambda tx: tx.alerts.depth())


_SEVERITY_ORDER = ["info", "warning", "critical"]
