"""How a long poll learns that its challenge was decided (``ChallengeService.wait``): at
once when the press was taken in this process, else from one shared look at the rows
every ``WATCH_INTERVAL`` seconds (one query per process, not per poll)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from core.challenge_results import Status
from core.clock import Clock
from storage.db import Database
from storage.repositories import Transaction

logger = logging.getLogger(__name__)

# How often the long polls of one process look at the rows they wait for (one query).
WATCH_INTERVAL = 0.2
WATCH_BATCH = 500


class ChallengeWatch:
    """The long polls of this process: each waits for its challenge to be decided. One
    task looks at all their rows in one query every ``interval`` seconds (a decision
    taken in another process); a decision taken here wakes its waiters at once."""

    def __init__(self, db: Database, clock: Clock, interval: float = WATCH_INTERVAL) -> None:
        self._db = db
        self._clock = clock
        self._interval = interval
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        return sum(len(events) for events in self._waiters.values())

    def wake(self, challenge_id: str) -> None:
        for event in self._waiters.get(challenge_id, ()):
            event.set()

    async def wait(self, challenge_id: str, seconds: float) -> None:
        """Until the challenge may have changed, or ``seconds`` passed."""
        event = asyncio.Event()
        self._waiters.setdefault(challenge_id, set()).add(event)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._look(), name="challenge-watch")
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            pass
        finally:
            waiting = self._waiters.get(challenge_id)
            if waiting is not None:
                waiting.discard(event)
                if not waiting:
                    del self._waiters[challenge_id]

    async def _look(self) -> None:
        while self._waiters:
            await asyncio.sleep(self._interval)
            ids = list(self._waiters)
            try:
                for start in range(0, len(ids), WATCH_BATCH):
                    batch = ids[start : start + WATCH_BATCH]
                    found = await self._db.run(_statuses(batch))
                    now = self._clock.now()
                    for challenge_id in batch:
                        status, expires_at = found.get(challenge_id, ("", now))
                        if status != Status.PENDING or expires_at <= now:
                            self.wake(challenge_id)
            except Exception as exc:  # the database away for a moment: the polls time out
                logger.warning("challenge watch could not read the challenges: %s", exc)


def _statuses(ids: list[str]) -> Callable[[Transaction], dict[str, tuple[str, datetime]]]:
    return lambda tx: tx.challenges.statuses(ids)
