"""Chat messages that must leave the chat (QR codes, keys, typed codes, recovery codes).

The rows are written in the transaction that made the messages obsolete; a message that
shows a secret and may stay a while (the recovery codes) gets its row *before* it is
sent, under the id it will most likely get, and the row follows its real id once the
send returns (``correct``): a process killed in between, or an answer lost on the way
back, still leaves a row that deletes it. A sender (the Telegram adapter) works through
the rows and reports back here. The rows are the only record: a restart deletes what is
due as if nothing happened.
"""

from __future__ import annotations

from datetime import timedelta

from core.backoff import retry_delay
from core.clock import Clock
from core.leadership import Leadership
from storage.db import Database
from storage.records import CleanupItem
from storage.repositories import Transaction

MAX_ATTEMPTS = 8
RECOVERY_CODES_SHOWN = timedelta(minutes=15)  # then the codes leave the chat, saved or not


class ChatCleanup:
    def __init__(self, db: Database, clock: Clock, leadership: Leadership | None = None) -> None:
        self._db = db
        self._clock = clock
        # What is deleted, and marked deleted, only while this bot may send.
        self._sending = leadership or Leadership(db)

    async def schedule(
        self, chat_id: int, message_ids: list[int], after: timedelta = timedelta(0)
    ) -> None:
        """Mark messages for deletion now (e.g. a code typed for /check), or ``after`` a
        while (the recovery codes, which the user needs time to copy)."""
        due_at = self._clock.now() + after
        await self._db.run(lambda tx: tx.cleanup.schedule(chat_id, message_ids, due_at))

    async def correct(
        self, chat_id: int, guessed: int, actual: int, after: timedelta = timedelta(0)
    ) -> None:
        """A message scheduled under a guess of its id (before it was sent) came back with
        its real id: the row follows it (due ``after`` from now)."""
        if guessed == actual:
            return
        due_at = self._clock.now() + after

        def work(tx: Transaction) -> None:
            tx.cleanup.cancel(chat_id, guessed)
            tx.cleanup.schedule(chat_id, [actual], due_at)

        await self._db.run(work)

    async def withdraw(self, chat_id: int, guessed: int) -> None:
        """Telegram refused the send: the guess of its id must delete nothing."""
        await self._db.run(lambda tx: tx.cleanup.cancel(chat_id, guessed))

    async def hasten(self, chat_id: int, message_id: int) -> bool:
        """A message scheduled for later goes now ("I have saved them"). False: it is not
        waiting to be deleted (already gone, or never meant to go)."""
        now = self._clock.now()
        return await self._db.run(lambda tx: tx.cleanup.hasten(chat_id, message_id, now))

    async def due(self, limit: int = 50, chat_id: int | None = None) -> list[CleanupItem]:
        """What is due now; in one chat only when ``chat_id`` is given."""
        now = self._clock.now()
        return await self._sending.run(lambda tx: tx.cleanup.due(now, limit, chat_id))

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

        await self._sending.run(record)
