"""What falls due for a lost-authenticator request with nobody acting, and the outboxes.

Undecided requests expire; one that waits past the SLA raises an alert; an approved
window that ran out ends (everyone on the account is told 2FA is required again); one
about to end with no new device set up gets a reminder. Every deadline is a column in
the database: the periodic jobs apply what fell due while the bot was down, too.

The outboxes, what the support chat and the users have been shown of each request, are
read and marked only while this bot may send (core/leadership.py). The requests and the
decisions themselves: ``core.deactivation``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from core import events
from core.clock import Clock
from core.leadership import Leadership
from storage.db import Database
from storage.records import DeactivationRequest, RequestStatus
from storage.repositories import Transaction

REMIND_BEFORE = timedelta(hours=3)
SYSTEM_ACTOR = "system"


def record_event(
    tx: Transaction,
    now: datetime,
    actor: str,
    action: str,
    severity: str,
    request: DeactivationRequest,
    **detail: object,
) -> None:
    """Every step of a request is audited and raises an alert event, with the same facts."""
    account, user = request.account_id, request.telegram_user_id
    tx.audit.record(
        now,
        actor,
        action,
        account_id=account,
        telegram_user_id=user,
        request_id=request.id,
        **detail,
    )
    tx.alerts.raise_event(
        now,
        action,
        severity,
        account_id=account,
        telegram_user_id=user,
        request_id=request.id,
        **detail,
    )


class DeactivationDeadlines:
    """The deadlines' jobs and the outboxes of the deactivation service (its base)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        waiting_alert_after: timedelta = timedelta(minutes=30),
        leadership: Leadership | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._waiting_alert_after = waiting_alert_after
        self._sending = leadership or Leadership(db)
        # One sync of the support chat and the users at a time (see handlers.support_sync.sync).
        self.sync_lock = asyncio.Lock()

    async def expire_due(self) -> list[DeactivationRequest]:
        """Undecided requests past their deadline expire (also those that fell due while down)."""
        now = self._clock.now()

        def work(tx: Transaction) -> list[DeactivationRequest]:
            expired = []
            for request in tx.requests.expired_open(now):
                if tx.requests.decide(request.id, RequestStatus.EXPIRED, now):
                    record_event(tx, now, SYSTEM_ACTOR, "deactivation_expired", "warning", request)
                    expired.append(request)
            return expired

        return await self._db.run(work)

    async def alert_waiting(self) -> list[DeactivationRequest]:
        """Raise one alert per open request that waits longer than the SLA for a decision."""
        now = self._clock.now()

        def work(tx: Transaction) -> list[DeactivationRequest]:
            waiting = tx.requests.waiting_longer_than(now - self._waiting_alert_after)
            for request in waiting:
                tx.requests.mark_sla_alerted(request.id, now)
                tx.alerts.raise_event(
                    now,
                    "request_waiting",
                    "warning",
                    account_id=request.account_id,
                    telegram_user_id=request.telegram_user_id,
                    request_id=request.id,
                    waiting_minutes=int((now - request.created_at).total_seconds() // 60),
                )
            return waiting

        return await self._db.run(work)

    async def open_count(self) -> int:
        return await self._db.run(lambda tx: tx.requests.count_open())

    async def unposted(self) -> list[DeactivationRequest]:
        return await self._sending.run(lambda tx: tx.requests.unposted())

    async def record_post(self, request_id: int, chat_id: int, message_id: int) -> None:
        await self._sending.run(
            lambda tx: tx.requests.set_support_message(request_id, chat_id, message_id)
        )

    async def support_outdated(self) -> list[DeactivationRequest]:
        return await self._sending.run(lambda tx: tx.requests.support_outdated())

    async def users_to_tell(self) -> list[DeactivationRequest]:
        return await self._sending.run(lambda tx: tx.requests.users_to_tell())

    async def mark_support_shown(self, request_id: int, status: RequestStatus) -> None:
        await self._sending.run(lambda tx: tx.requests.mark_support_shown(request_id, status))

    async def mark_user_told(self, request_id: int, status: RequestStatus) -> None:
        await self._sending.run(lambda tx: tx.requests.mark_user_told(request_id, status))

    async def mark_reminded(self, request_id: int) -> None:
        now = self._clock.now()
        await self._sending.run(lambda tx: tx.requests.mark_reminded(request_id, now))

    async def end_windows(self) -> list[DeactivationRequest]:
        """Approved windows whose time ran out: audited, alerted, and the account's people
        are told that 2FA is required again (also for windows that ended while down)."""
        now = self._clock.now()

        def work(tx: Transaction) -> list[DeactivationRequest]:
            ended = tx.requests.windows_ended(now)
            for request in ended:
                tx.requests.mark_window_ended(request.id, now)
                current = tx.security.get(request.account_id).deactivated_until
                if current is None or current != request.deactivated_until:
                    continue  # a new device ended it early (audited then), or a newer window
                record_event(tx, now, SYSTEM_ACTOR, "deactivation_ended", "info", request)
                events.emit(
                    tx,
                    events.DEACTIVATION_ENDED,
                    request.account_id,
                    now,
                    by=events.actor(SYSTEM_ACTOR),
                    reason="window_ended",
                    request_id=request.id,
                )
                tx.notices.add(request.account_id, "deactivation_ended", now)
            return ended

        return await self._db.run(work)

    async def reminders_due(self) -> list[DeactivationRequest]:
        """Approved windows ending within REMIND_BEFORE, where no new device was set up."""
        now = self._clock.now()

        def work(tx: Transaction) -> list[DeactivationRequest]:
            candidates = tx.requests.reminders_due(now, now + REMIND_BEFORE)
            return [r for r in candidates if not tx.devices.active_for(r.account_id)]

        return await self._sending.run(work)
