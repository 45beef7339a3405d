"""The webhook's inbox: an update is kept before Telegram hears 200, handled once.

Telegram takes a 200 as "delivered" and never sends that update again. So in webhook
mode each update is written to the database first (``receive``), and only then answered;
it is marked handled (``handled``) once the bot has handled it. A crash in between loses
nothing: the next start (of this bot, or of the standby taking over) handles what was
not marked (``resume``), in arrival order.

Each update_id is handled once: one received again (Telegram retrying a delivery whose
answer it did not see, a proxy trying the other bot host, a replayed request) is
dropped. The ids of handled updates are remembered for ``REMEMBER_FOR`` (Telegram keeps
an undelivered update for 24 hours: it retries no later) and at most ``REMEMBER_MOST``
of them, so the table stays small. An update that was not handled after
``MAX_ATTEMPTS`` starts (it crashes the bot, every time) is given up, with its id kept.

The body of an update (which may hold a code) is kept only until it is handled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core.clock import Clock
from storage.db import Database
from storage.repositories import Transaction

REMEMBER_FOR = timedelta(hours=24)
REMEMBER_MOST = 100_000
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class InboxUpdate:
    update_id: int
    payload: str  # the update's JSON as Telegram sent it


@dataclass(frozen=True)
class Resumed:
    """What a start found unhandled: to handle now, in order; and the update_ids given
    up (tried ``MAX_ATTEMPTS`` times, or older than Telegram itself would deliver)."""

    updates: tuple[InboxUpdate, ...]
    given_up: tuple[int, ...]


class UpdateInbox:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def receive(self, update_id: int, payload: str) -> bool:
        """Keep an update before it is acknowledged: True to handle it, False for one
        received before (handled, or waiting to be): drop it."""
        now = self._clock.now()
        return await self._db.run(lambda tx: tx.inbox.receive(update_id, payload, now))

    async def handled(self, update_id: int) -> None:
        """The update was handled: it is not handled again."""
        now = self._clock.now()
        await self._db.run(lambda tx: tx.inbox.handled(update_id, now))

    async def forget_old(self) -> None:
        """Handled ids older than REMEMBER_FOR, or beyond the newest REMEMBER_MOST, go
        (a periodic job: not on the path of every update)."""
        now = self._clock.now()
        await self._db.run(lambda tx: tx.inbox.forget(now - REMEMBER_FOR, REMEMBER_MOST))

    async def resume(self) -> Resumed:
        """At start: the updates received and not handled, each counted as one more
        attempt; those to give up are marked handled."""
        now = self._clock.now()

        def work(tx: Transaction) -> Resumed:
            waiting = tx.inbox.unhandled()
            updates, given_up = [], []
            for update_id, payload, attempts, received_at in waiting:
                if attempts >= MAX_ATTEMPTS or received_at < now - REMEMBER_FOR:
                    tx.inbox.handled(update_id, now)
                    given_up.append(update_id)
                else:
                    updates.append(InboxUpdate(update_id, payload))
            tx.inbox.count_attempt([update.update_id for update in updates])
            return Resumed(tuple(updates), tuple(given_up))

        return await self._db.run(work)
