"""What the bot is waiting for from a user outside an enrolment (a code for /check).

Kept in the database like every other step, so a restart does not forget it.
"""

from __future__ import annotations

from datetime import timedelta

from bot.clock import Clock
from storage.db import Database
from storage.records import ChatPrompt
from storage.repositories import Transaction

CHECK = "check"
LOST_REASON = "lost_reason"
LOST_CONFIRM = "lost_confirm"  # data: the reason, until the user sends it
DENY_REASON = "deny_reason"  # an agent's; data: the request id
DEVICE_CODE = "device_code"  # data: "rename:<device id>", "remove:<device id>" or "recovery"
DEVICE_NAME = "device_name"  # after a code; data: the device id
REMOVE_LAST = "remove_last"  # after a code; data: the device id, waiting for the yes
LOST_RECOVERY = "lost_recovery"  # waiting for a recovery code
RECOVERED = "recovered"  # a recovery code was accepted: lost devices may be removed
PROMPT_TTL = timedelta(minutes=5)
LONG_PROMPT_TTL = timedelta(minutes=30)


class ChatPrompts:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def expect(
        self, user_id: int, kind: str, ttl: timedelta = PROMPT_TTL, data: str | None = None
    ) -> None:
        now = self._clock.now()
        await self._db.run(lambda tx: tx.prompts.set(user_id, kind, now, now + ttl, data))

    async def get(self, user_id: int) -> ChatPrompt | None:
        """The input expected from this user, if any (an expired prompt is dropped)."""
        now = self._clock.now()

        def work(tx: Transaction) -> ChatPrompt | None:
            prompt = tx.prompts.get(user_id)
            if prompt is not None and prompt.expires_at <= now:
                tx.prompts.clear(user_id)
                return None
            return prompt

        return await self._db.run(work)

    async def clear(self, user_id: int) -> bool:
        return await self._db.run(lambda tx: tx.prompts.clear(user_id))
