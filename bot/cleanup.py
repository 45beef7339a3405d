"""Chat messages that must leave the chat (QR codes, keys, typed codes).

The rows are written in the transaction that made the messages obsolete; a
sender (the Telegram adapter) works through them and reports back here.
"""

from __future__ import annotations

from datetime import timedelta

from bot.backoff import retry_delay
from bot.clock import Clock
from storage.db import Database
from storage.records import CleanupItem
from storage.repositories import Transaction

MAX_ATTEMPTS = 8


class ChatCleanup:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def schedule(self, chat_id: int, message_ids: list[int]) -> None:
        """Mark messages for deletion now (e.g. a code typed for /check)."""
        now = self._clock.now()
        await self._db.run(lambda tx: tx.cleanup.schedule(chat_id, message_ids, now))

    async def due(self, limit: int = 50, chat_id: int | None = None) -> list[CleanupItem]:
        """What is due now; in one chat only when ``chat_id`` is given."""
        now = self._clock.now()
        return await self._db.run(lambda tx: tx.cleanup.due(now, limit, chat_id))

    async def settle(self, deleted: list[CleanupItem], failed: list[CleanupItem]) -> None:
        """Record a round of deletions in one transaction.

        Failed ones are tried again later, backing off; after ``MAX_ATTEMPTS`` they are
        dropped (Telegram no longer lets a bot delete a message after 48 hours).
        """
        now = self._clock.now()

        def record(tx: Transaction) -> None:
            for item in deleted:
                tx.cleanup.done(item.id)
            for item in failed:
                if item.attempts + 1 >= MAX_ATTEMPTS:
                    tx.cleanup.done(item.id)
                else:
                    delay = retry_delay(item.attempts, first=timedelta(seconds=2))
                    tx.cleanup.retry_later(item.id, now + delay)

        await self._db.run(record)
