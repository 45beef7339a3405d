"""What the bot is waiting for from a user outside an enrolment (a code for /check).

Kept in the database like every other step, so a restart does not forget it.
"""

from __future__ import annotations

from datetime import timedelta

from bot.clock import Clock
from storage.db import Database
from storage.repositories import Transaction

CHECK = "check"
PROMPT_TTL = timedelta(minutes=5)


class ChatPrompts:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def expect(self, user_id: int, kind: str, ttl: timedelta = PROMPT_TTL) -> None:
        now = self._clock.now()
        await self._db.run(lambda tx: tx.prompts.set(user_id, kind, now, now + ttl))

    async def current(self, user_id: int) -> str | None:
        """The kind of input expected from this user, if any (an expired prompt is dropped)."""
        now = self._clock.now()

        def work(tx: Transaction) -> str | None:
            prompt = tx.prompts.get(user_id)
            if prompt is None:
                return None
            if prompt.expires_at <= now:
                tx.prompts.clear(user_id)
                return None
            return prompt.kind

        return await self._db.run(work)

    async def clear(self, user_id: int) -> bool:
        return await self._db.run(lambda tx: tx.prompts.clear(user_id))
