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

    async def due(self, limit: int = 50) -> list[CleanupItem]:
        async with self._db.transaction() as tx:
            return await tx.cleanup.due(self._clock.now(), limit)

    async def done(self, item: CleanupItem) -> None:
        async with self._db.transaction() as tx:
            await tx.cleanup.done(item.id)

    async def failed(self, item: CleanupItem) -> None:
        """Try again later, backing off; give up after ``MAX_ATTEMPTS``."""
        async with self._db.transaction() as tx:
            if item.attempts + 1 >= MAX_ATTEMPTS:
                await tx.cleanup.done(item.id)
                return
            delay = timedelta(seconds=min(2 ** (item.attempts + 1), 600))
            await tx.cleanup.retry_later(item.id, self._clock.now() + delay)
