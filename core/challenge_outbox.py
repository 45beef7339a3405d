"""The chat side of a login approval: a challenge's row is also the outbox of its message.

The active bot sends each due challenge to everyone who manages the account
(``to_send``), records each recipient's message as it goes (``shown_to``) so that a bot
taking over sends it only to whom it had not reached, marks it shown (``sent``) or tries
again a little later (``send_failed``), and once it is decided replaces the buttons with
the outcome (``outcomes_to_show``/``outcome_shown``). All of it only while this bot may
send (core/leadership.py). The rules of the challenges themselves: ``core.challenges``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from core.challenge_results import Outgoing
from core.clients import client_name
from core.clock import Clock
from core.leadership import Leadership
from storage.db import Database
from storage.records import Challenge, ChallengeMessage
from storage.repositories import Transaction


class ChallengeOutbox:
    """The outbox of the challenge service (its base)."""

    def __init__(self, db: Database, clock: Clock, leadership: Leadership | None = None) -> None:
        self._db = db
        self._clock = clock
        # What is sent, and marked sent, only while this bot may send (core/leadership.py).
        self._sending = leadership or Leadership(db)
        self.send_lock = asyncio.Lock()
        # One edit of the outcomes at a time: the job and a press would both edit each.
        self.outcome_lock = asyncio.Lock()

    async def to_send(self) -> list[Outgoing]:
        """Challenges whose message is due, with who gets it (the active bot only)."""
        now = self._clock.now()

        def work(tx: Transaction) -> list[Outgoing]:
            return [
                Outgoing(
                    challenge,
                    tx.accounts.users_of(challenge.account_id),
                    frozenset(m.user_id for m in tx.challenges.messages(challenge.id)),
                )
                for challenge in tx.challenges.to_send(now)
            ]

        return await self._sending.run(work)

    async def shown_to(
        self, challenge_id: str, user_id: int, message_id: int, language: str
    ) -> None:
        """One recipient has the message: recorded at once, so a take-over does not send
        it to them again."""
        message = ChallengeMessage(challenge_id, user_id, message_id, language)
        await self._sending.run(lambda tx: tx.challenges.add_message(message))

    async def sent(self, challenge: Challenge) -> None:
        now = self._clock.now()

        def work(tx: Transaction) -> None:
            tx.challenges.mark_sent(challenge.id, now)
            recipients = len(tx.challenges.messages(challenge.id))
            self._audit(tx, challenge, now, "system", "challenge_shown", recipients=recipients)

        await self._sending.run(work)

    async def send_failed(self, challenge: Challenge) -> None:
        at = self._clock.now() + timedelta(seconds=min(2 ** (challenge.attempts + 1), 10))
        await self._sending.run(lambda tx: tx.challenges.retry_later(challenge.id, at))

    async def outcomes_to_show(self) -> list[tuple[Challenge, list[ChallengeMessage]]]:
        """Decided challenges whose messages still show buttons (the active bot only)."""

        def work(tx: Transaction) -> list[tuple[Challenge, list[ChallengeMessage]]]:
            return [(c, tx.challenges.messages(c.id)) for c in tx.challenges.outcomes_to_show()]

        return await self._sending.run(work)

    async def outcome_shown(self, challenge_id: str) -> None:
        now = self._clock.now()
        await self._sending.run(lambda tx: tx.challenges.outcome_shown(challenge_id, now))

    @staticmethod
    def _audit(
        tx: Transaction,
        challenge: Challenge,
        now: datetime,
        actor: str,
        action: str,
        **detail: object,
    ) -> None:
        """Every step of a challenge is audited with the same facts."""
        user_id = int(actor[3:]) if actor.startswith("tg:") and actor[3:].isdigit() else None
        tx.audit.record(
            now,
            actor,
            action,
            account_id=challenge.account_id,
            telegram_user_id=user_id,
            challenge_id=challenge.id,
            client=client_name(challenge.client) or challenge.client,
            **{k: str(v) for k, v in detail.items()},
        )
