"""Notices for everyone who manages an account from the chat: a device added or removed,
a recovery code used. Written in the transaction of the change (``tx.notices.add``),
delivered by a sender; several Telegram users can manage one account."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from core.backoff import retry_delay
from core.clock import Clock
from core.leadership import Leadership
from storage.db import Database
from storage.records import TelegramUserLink, UserNotice
from storage.repositories import Transaction

PRUNE_BATCH = 500  # rows deleted per transaction by retention


class NoticeService:
    def __init__(self, db: Database, clock: Clock, leadership: Leadership | None = None) -> None:
        self._db = db
        self._clock = clock
        # What is sent, and marked sent, only while this bot may send (core/leadership.py).
        self._sending = leadership or Leadership(db)
        self.send_lock = asyncio.Lock()

    async def pending(self) -> list[tuple[UserNotice, list[TelegramUserLink]]]:
        """Due notices and who gets each (everyone linked to the account, less the actor)."""
        now = self._clock.now()

        def work(tx: Transaction) -> list[tuple[UserNotice, list[TelegramUserLink]]]:
            due = tx.notices.due(now)
            # Each account's people read once, however many of its notices are due.
            people = {
                account: tx.accounts.users_of(account) for account in {n.account_id for n in due}
            }
            return [
                (
                    notice,
                    [u for u in people[notice.account_id] if u.user_id != notice.skip_user_id],
                )
                for notice in due
            ]

        return await self._sending.run(work)

    async def delivered(self, notice: UserNotice) -> None:
        now = self._clock.now()
        await self._sending.run(lambda tx: tx.notices.delivered(notice.id, now))

    async def failed(self, notice: UserNotice) -> None:
        at = self._clock.now() + retry_delay(notice.attempts)
        await self._sending.run(lambda tx: tx.notices.retry_later(notice.id, at))

    async def prune(self, older_than: timedelta, batch: int = PRUNE_BATCH) -> int:
        """Delete notices delivered more than ``older_than`` ago, ``batch`` rows per
        transaction; undelivered ones stay. How many were deleted."""
        before = self._clock.now() - older_than
        total = 0
        while True:
            deleted = await self._db.run(lambda tx: tx.notices.prune(before, batch))
            total += deleted
            if deleted < batch:
                return total
