"""Chat messages that must leave the chat (QR codes, keys, typed codes).

The rows are written in the transaction that made the messages obsolete; a
sender (the Telegram adapter) works through them and reports back here.
"""

from __future__ import annotations

from datetime import timedelta

from bot.clock import Clock
from storage.db import Database
from storage.records import CleanupItem

MAX_ATTEMPTS = 8


class ChatCleanup:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def due(self, limit: int = 50, chat_id: int | None = None) -> list[CleanupItem]:
        """What is due now; in one chat only when ``chat_id`` is given."""
        async with self._db.transaction() as tx:
            return await tx.cleanup.due(self._clock.now(), limit, chat_id)

    async def settle(self, deleted: list[CleanupItem], failed: list[CleanupItem]) -> None:
        """Record a round of deletions in one transaction.

        Failed ones are tried again later, backing off; after ``MAX_ATTEMPTS`` they are
        dropped (Telegram no longer lets a bot delete a message after 48 hours).
        """
        now = self._clock.now()
        async with self._db.transaction() as tx:
            for item in deleted:
                await tx.cleanup.done(item.id)
            for item in failed:
                if item.attempts + 1 >= MAX_ATTEMPTS:
                    await tx.cleanup.done(item.id)
                else:
                    delay = timedelta(seconds=min(2 ** (item.attempts + 1), 600))
                    await tx.cleanup.retry_later(item.id, now + delay)
