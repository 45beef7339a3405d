"""Approving a login in the chat (push with number matching): every rule in one place.

The login system asks (``open``, POST /v1/challenges); the row it writes is also the
outbox of the chat message, which the active bot sends (core/challenge_outbox.py, the
base class) to everyone who manages the account. The first press decides (``press``):
the right number accepts, a wrong one declines and counts as a failed code toward the
lock, "This wasn't me" declines, alerts the ops chat, emits ``challenge.reported`` and
refuses new challenges for a while. The login system reads the verdict (``read``/
``wait``): an accepted challenge is one login, read once.

Each public method is one transaction, so two presses, a press and the expiry, or two
API workers reading at once produce one decision and one login. A long poll learns of a
decision through ``ChallengeWatch`` (core/challenge_watch.py). The states and answers:
core/challenge_results.py; the context a login system sends: core/challenge_context.py.
"""

from __future__ import annotations

import asyncio
import math
import secrets
from datetime import datetime, timedelta

from core import events
from core.accounts import TelegramIdentity
from core.challenge_context import InvalidContext, parse_context
from core.challenge_outbox import ChallengeOutbox
from core.challenge_results import Opened, Press, PressResult, Reading, Reason, Refusal, Status
from core.challenge_watch import WATCH_INTERVAL, ChallengeWatch
from core.clients import client_name
from core.clock import Clock
from core.config_values import DEFAULT_CHALLENGE_SECONDS
from core.leadership import Leadership
from core.verification import Result, VerificationService, gate, lock_verdict
from storage.db import Database
from storage.records import Challenge, ChallengeMessage
from storage.repositories import Transaction

__all__ = ["Challenge", "ChallengeMessage", "InvalidContext", "parse_context"]

# The login system waits at most this long in one request (GET ?wait=, RADIUS).
LONGEST_WAIT_S = 25
# Fatigue: this many declined or expired within the window block new ones for a while.
REFUSALS_PER_BLOCK = 3
REFUSAL_WINDOW = timedelta(minutes=15)
REFUSAL_BLOCK = timedelta(minutes=15)
# "This wasn't me": no new challenge for the account for this long.
REPORT_BLOCK = timedelta(minutes=15)
NUMBER_CHOICES = 3  # buttons: the right number and two others
RECENT_SHOWN = 5  # in /lookup
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
ID_LENGTH = 20  # about 103 random bits
# The choices a press carries besides a number.
REPORT = "no"  # "This wasn't me"
APPROVE = "ok"  # the plain approval's button (RADIUS, PAM)


def new_id() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def draw_numbers() -> tuple[str, tuple[str, ...]]:
    """The right number and the buttons (it and two others, in random order)."""
    picked: list[str] = []
    while len(picked) < NUMBER_CHOICES:
        number = f"{10 + secrets.randbelow(90)}"
        if number not in picked:
            picked.append(number)
    right = picked[0]
    shuffled = sorted(picked, key=lambda _: secrets.randbelow(1 << 30))
    return right, tuple(shuffled)


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


def blocked_until(tx: Transaction, account_id: str, now: datetime) -> datetime | None:
    """Until when new challenges are refused: after "This wasn't me", or after
    ``REFUSALS_PER_BLOCK`` declined or expired ones within ``REFUSAL_WINDOW``."""
    since = now - max(REPORT_BLOCK, REFUSAL_BLOCK + REFUSAL_WINDOW)
    refusals = tx.challenges.refusals_since(account_id, since)
    until: datetime | None = None
    for refusal in refusals:
        assert refusal.decided_at is not None
        if refusal.reason == Reason.REPORTED:
            until = max(until or now, refusal.decided_at + REPORT_BLOCK)
    for newest in range(len(refusals) - REFUSALS_PER_BLOCK + 1):
        last, first = refusals[newest], refusals[newest + REFUSALS_PER_BLOCK - 1]
        assert last.decided_at is not None and first.decided_at is not None
        if last.decided_at - first.decided_at <= REFUSAL_WINDOW:
            until = max(until or now, last.decided_at + REFUSAL_BLOCK)
    return until if until is not None and until > now else None


# Why no challenge, when the account's gate (core/verification.py) says no.
_REFUSAL_OF = {
    Result.DEACTIVATED: Refusal.DEACTIVATED,
    Result.NOT_ENROLLED: Refusal.NOT_ENROLLED,
    Result.ENROLLMENT_REQUIRED: Refusal.ENROLLMENT_REQUIRED,
    Result.LOCKED: Refusal.LOCKED,
}


class ChallengeService(ChallengeOutbox):
    """The rules; the outbox of the chat messages in the base class
    (core/challenge_outbox.py)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        verifier: VerificationService,
        *,
        enabled: bool = True,
        lifetime: timedelta = timedelta(seconds=DEFAULT_CHALLENGE_SECONDS),
        leadership: Leadership | None = None,
        watch_interval: float = WATCH_INTERVAL,
    ) -> None:
        super().__init__(db, clock, leadership)
        self._verifier = verifier
        self.enabled = enabled
        self.lifetime = lifetime
        self.watch = ChallengeWatch(db, clock, watch_interval)

    # ------------------------------------------------------------------ the login system

    async def open(
        self, account_id: str, context: dict[str, str], *, actor: str, match_number: bool = True
    ) -> Opened:
        """A new challenge for the account (``context`` from ``parse_context``), or why
        not. ``match_number`` False: a plain approval (no screen shows a number)."""
        if not self.enabled:
            return Opened(refusal=Refusal.DISABLED)
        now = self._clock.now()
        number, choices = draw_numbers() if match_number else (None, ())
        challenge = Challenge(
            id=new_id(),
            account_id=account_id,
            client=actor,
            number=number,
            choices=choices,
            context=context,
            status=Status.PENDING,
            reason=None,
            created_at=now,
            expires_at=now + self.lifetime,
            decided_at=None,
            decided_by=None,
            used_at=None,
            sent_at=None,
            outcome_shown_at=None,
            attempts=0,
        )
        return await self._db.run(lambda tx: self._open_in(tx, challenge, now))

    def _open_in(self, tx: Transaction, challenge: Challenge, now: datetime) -> Opened:
        account_id = challenge.account_id
        state, devices = tx.security.with_devices(account_id)
        gated = gate(state, devices, now)  # the same rules as a code's, in the same order
        if gated is not None:
            return Opened(
                refusal=_REFUSAL_OF[gated.result],
                deactivated_until=gated.deactivated_until,
                retry_after=None
                if gated.locked_until is None
                else _seconds_until(gated.locked_until, now),
            )
        if not tx.accounts.users_of(account_id):
            return Opened(refusal=Refusal.NO_CHAT)
        pending = tx.challenges.pending_of(account_id)
        if pending is not None and pending.expires_at <= now:
            self._expire_in(tx, pending)
            pending = None
        if pending is not None:
            return Opened(
                refusal=Refusal.TOO_MANY, retry_after=_seconds_until(pending.expires_at, now)
            )
        until = blocked_until(tx, account_id, now)
        if until is not None:
            return Opened(refusal=Refusal.TOO_MANY, retry_after=_seconds_until(until, now))
        if not tx.challenges.add(challenge):  # another worker's, an instant ago
            return Opened(refusal=Refusal.TOO_MANY, retry_after=int(self.lifetime.total_seconds()))
        tx.audit.record(
            now,
            challenge.client,
            "challenge_created",
            account_id=account_id,
            challenge_id=challenge.id,
            kind="number" if challenge.number else "plain",
            client=client_name(challenge.client),
            context=challenge.context,
        )
        return Opened(challenge=challenge)

    async def read(self, challenge_id: str, *, actor: str) -> Reading | None:
        """The challenge as its client sees it (None: unknown, or another client's). An
        accepted one is one login: the first read takes it, later ones see ``used``."""
        now = self._clock.now()
        reading = await self._db.run(lambda tx: self._read_in(tx, challenge_id, actor, now))
        return reading

    def _read_in(
        self, tx: Transaction, challenge_id: str, actor: str, now: datetime
    ) -> Reading | None:
        challenge = tx.challenges.get(challenge_id)
        if challenge is None or challenge.client != actor:
            return None
        if challenge.status == Status.PENDING and challenge.expires_at <= now:
            challenge = self._expire_in(tx, challenge)
        status = Status(challenge.status)
        if status is Status.ACCEPTED:
            if not tx.challenges.use(challenge.id, now):
                return Reading(challenge, status, used=True)
            tx.audit.record(
                now,
                actor,
                "challenge_used",
                account_id=challenge.account_id,
                challenge_id=challenge.id,
                client=client_name(actor),
            )
        return Reading(challenge, status)

    async def wait(self, challenge_id: str, *, actor: str, seconds: float) -> Reading | None:
        """``read``, once the challenge is decided or ``seconds`` passed (a long poll)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            reading = await self.read(challenge_id, actor=actor)
            left = deadline - loop.time()
            if reading is None or reading.status is not Status.PENDING or left <= 0:
                return reading
            expires_in = (reading.challenge.expires_at - self._clock.now()).total_seconds()
            await self.watch.wait(challenge_id, max(0.0, min(left, expires_in + 0.05)))

    async def cancel(self, challenge_id: str, *, actor: str) -> Reading | None:
        """The login system gives up: a pending challenge is cancelled; an accepted one
        can no longer be read as a login. None: unknown, or another client's."""
        now = self._clock.now()

        def work(tx: Transaction) -> Reading | None:
            challenge = tx.challenges.get(challenge_id)
            if challenge is None or challenge.client != actor:
                return None
            if challenge.status == Status.PENDING and challenge.expires_at <= now:
                challenge = self._expire_in(tx, challenge)
            if challenge.status == Status.PENDING:
                tx.challenges.decide(challenge.id, Status.CANCELLED, None, now, None)
                self._audit(tx, challenge, now, actor, "challenge_cancelled")
                return Reading(_with(tx, challenge.id), Status.CANCELLED)
            if challenge.status == Status.ACCEPTED:
                # Read now or never: this answer is the one login (used: it was read before).
                first = tx.challenges.use(challenge.id, now)
                return Reading(challenge, Status.ACCEPTED, used=not first)
            return Reading(challenge, Status(challenge.status))

        reading = await self._db.run(work)
        self.watch.wake(challenge_id)
        return reading

    # ------------------------------------------------------------------ the user

    async def press(
        self, challenge_id: str, who: TelegramIdentity, choice: str, message_id: int
    ) -> Press:
        """A button of the challenge pressed on message ``message_id`` in ``who``'s own
        chat with the bot (the handler checks the message shows that button): the first
        answer decides, for every recipient."""
        now = self._clock.now()
        press = await self._db.run(
            lambda tx: self._press_in(tx, challenge_id, who, choice, message_id, now)
        )
        if press.decided or press.result is PressResult.EXPIRED:
            self.watch.wake(challenge_id)
        return press

    def _press_in(
        self,
        tx: Transaction,
        challenge_id: str,
        who: TelegramIdentity,
        choice: str,
        message_id: int,
        now: datetime,
    ) -> Press:
        challenge = tx.challenges.get(challenge_id)
        if challenge is None:
            return Press(PressResult.STALE)
        managers = tx.accounts.users_of(challenge.account_id)
        choices = (*challenge.choices, REPORT) if challenge.number else (APPROVE, REPORT)
        if who.user_id not in {u.user_id for u in managers} or choice not in choices:
            return Press(PressResult.STALE)
        # The message pressed shows this challenge's button in the presser's own chat (the
        # handler checks): recorded, should a bot have died before recording it, so that
        # it shows the outcome too.
        shown = [m for m in tx.challenges.messages(challenge_id) if m.user_id == who.user_id]
        if message_id not in {m.message_id for m in shown}:
            language = shown[0].language if shown else "en"
            tx.challenges.add_message(
                ChallengeMessage(challenge_id, who.user_id, message_id, language)
            )
        if challenge.status == Status.PENDING and challenge.expires_at <= now:
            return Press(PressResult.EXPIRED, self._expire_in(tx, challenge))
        if challenge.status != Status.PENDING:
            return Press(PressResult.ALREADY_DECIDED, challenge)
        if choice == REPORT:
            return self._report_in(tx, challenge, who, now)
        if challenge.number is not None and choice != challenge.number:
            return self._wrong_number_in(tx, challenge, who, now)
        if lock_verdict(tx.security.get(challenge.account_id), now) is not None:
            tx.challenges.decide(challenge.id, Status.DECLINED, Reason.LOCKED, now, who.user_id)
            self._audit(tx, challenge, now, who.actor, "challenge_declined", reason=Reason.LOCKED)
            return Press(PressResult.LOCKED, _with(tx, challenge.id))
        tx.challenges.decide(challenge.id, Status.ACCEPTED, None, now, who.user_id)
        self._audit(tx, challenge, now, who.actor, "challenge_accepted")
        return Press(PressResult.ACCEPTED, _with(tx, challenge.id))

    def _wrong_number_in(
        self, tx: Transaction, challenge: Challenge, who: TelegramIdentity, now: datetime
    ) -> Press:
        tx.challenges.decide(challenge.id, Status.DECLINED, Reason.WRONG_NUMBER, now, who.user_id)
        self._audit(tx, challenge, now, who.actor, "challenge_declined", reason=Reason.WRONG_NUMBER)
        verdict = self._verifier.count_failure_in(
            tx, challenge.account_id, who.actor, who.user_id, now, method="challenge"
        )
        events.emit(
            tx,
            events.CHALLENGE_DECLINED,
            challenge.account_id,
            now,
            by=events.actor(who.actor),
            challenge_id=challenge.id,
            reason=Reason.WRONG_NUMBER.value,
            client=client_name(challenge.client),
        )
        return Press(PressResult.WRONG_NUMBER, _with(tx, challenge.id), verdict.locked_until)

    def _report_in(
        self, tx: Transaction, challenge: Challenge, who: TelegramIdentity, now: datetime
    ) -> Press:
        tx.challenges.decide(challenge.id, Status.DECLINED, Reason.REPORTED, now, who.user_id)
        self._audit(tx, challenge, now, who.actor, "challenge_reported")
        tx.alerts.raise_event(
            now,
            "challenge_reported",
            "warning",
            account_id=challenge.account_id,
            telegram_user_id=who.user_id,
            client=client_name(challenge.client) or challenge.client,
            **challenge.context,
        )
        events.emit(
            tx,
            events.CHALLENGE_REPORTED,
            challenge.account_id,
            now,
            by=events.actor(who.actor),
            challenge_id=challenge.id,
            client=client_name(challenge.client),
        )
        return Press(PressResult.REPORTED, _with(tx, challenge.id))

    # ------------------------------------------------------------------ expiry

    def _expire_in(self, tx: Transaction, challenge: Challenge) -> Challenge:
        """A pending challenge past its time: expired, as of its expiry (once)."""
        if tx.challenges.decide(challenge.id, Status.EXPIRED, None, challenge.expires_at, None):
            self._audit(tx, challenge, challenge.expires_at, "system", "challenge_expired")
        return _with(tx, challenge.id)

    async def expire_due(self) -> int:
        """Expire every pending challenge past its time; how many."""
        now = self._clock.now()

        def work(tx: Transaction) -> list[str]:
            due = tx.challenges.expired_pending(now)
            for challenge in due:
                self._expire_in(tx, challenge)
            return [c.id for c in due]

        expired = await self._db.run(work)
        for challenge_id in expired:
            self.watch.wake(challenge_id)
        return len(expired)

    # ------------------------------------------------------------------ support

    async def recent(self, account_id: str) -> list[Challenge]:
        """The account's last challenges, newest first (/lookup)."""
        return await self._db.run(lambda tx: tx.challenges.recent(account_id, RECENT_SHOWN))


def _with(tx: Transaction, challenge_id: str) -> Challenge:
    challenge = tx.challenges.get(challenge_id)
    assert challenge is not None
    return challenge
