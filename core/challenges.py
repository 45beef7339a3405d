"""Approving a login in the chat (push with number matching): every rule in one place.

The login system asks (``open``, POST /v1/challenges); the row it writes is also the
outbox of the chat message, which the active bot sends (``to_send``/``shown_to``/
``sent``, through the leadership fence) to everyone who manages the account. The first
press decides (``press``): the right number accepts, a wrong one declines and counts as
a failed code toward the lock, "This wasn't me" declines, alerts the ops chat, emits
``challenge.reported`` and refuses new challenges for a while. The login system reads
the verdict (``read``/``wait``): an accepted challenge is one login, read once.

Each public method is one transaction, so two presses, a press and the expiry, or two
API workers reading at once produce one decision and one login. A long poll learns of a
decision through ``ChallengeWatch``: at once when the press was taken in this process,
else from one shared look at the rows every ``WATCH_INTERVAL`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from core import events
from core.accounts import TelegramIdentity
from core.clients import client_name
from core.clock import Clock
from core.identifiers import text_problem
from core.leadership import Leadership
from core.verification import VerificationService
from storage.db import Database
from storage.records import Challenge, ChallengeMessage, TelegramUserLink
from storage.repositories import Transaction

logger = logging.getLogger(__name__)

__all__ = ["Challenge", "ChallengeMessage"]

DEFAULT_SECONDS = 60
# The login system waits at most this long in one request (GET ?wait=, RADIUS).
LONGEST_WAIT_S = 25
# Fatigue: this many declined or expired within the window block new ones for a while.
REFUSALS_PER_BLOCK = 3
REFUSAL_WINDOW = timedelta(minutes=15)
REFUSAL_BLOCK = timedelta(minutes=15)
# "This wasn't me": no new challenge for the account for this long.
REPORT_BLOCK = timedelta(minutes=15)
NUMBER_CHOICES = 3  # buttons: the right number and two others
CONTEXT_FIELDS = ("app", "ip", "location")
MAX_CONTEXT_CHARS = 100
RECENT_SHOWN = 5  # in /lookup
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
ID_LENGTH = 20  # about 103 random bits
# The choices a press carries besides a number.
REPORT = "no"  # "This wasn't me"
APPROVE = "ok"  # the plain approval's button (RADIUS, PAM)
# How often the long polls of one process look at the rows they wait for (one query).
WATCH_INTERVAL = 0.2
WATCH_BATCH = 500


class Status(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Reason(StrEnum):
    """Why a challenge was declined."""

    WRONG_NUMBER = "wrong_number"
    REPORTED = "reported"  # "This wasn't me"
    LOCKED = "locked"  # the right answer, but the account was locked meanwhile


class Refusal(StrEnum):
    """Why no challenge was opened."""

    DISABLED = "disabled"  # PUSH_APPROVAL=off
    NOT_ENROLLED = "not_enrolled"
    ENROLLMENT_REQUIRED = "enrollment_required"
    LOCKED = "locked"
    NO_CHAT = "no_chat"
    TOO_MANY = "too_many_challenges"
    DEACTIVATED = "deactivated"  # no second factor needed: the login goes on


class PressResult(StrEnum):
    ACCEPTED = "accepted"
    WRONG_NUMBER = "wrong_number"
    REPORTED = "reported"
    LOCKED = "locked"
    ALREADY_DECIDED = "already_decided"
    EXPIRED = "expired"
    STALE = "stale"  # unknown, forged, not this user's, not this message


class InvalidContext(ValueError):
    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


@dataclass(frozen=True)
class Opened:
    """The answer to a login system that asked: a challenge, or why not."""

    challenge: Challenge | None = None
    refusal: Refusal | None = None
    retry_after: int | None = None  # TOO_MANY, LOCKED (None: a hard lock)
    deactivated_until: datetime | None = None


@dataclass(frozen=True)
class Reading:
    """What the login system reads of its challenge. ``used``: accepted, but its verdict
    was read before (it is one login, not two)."""

    challenge: Challenge
    status: Status
    used: bool = False


@dataclass(frozen=True)
class Press:
    result: PressResult
    challenge: Challenge | None = None  # as it stands after the press
    locked_until: datetime | None = None  # the wrong number locked the account

    @property
    def decided(self) -> bool:
        return self.result in (
            PressResult.ACCEPTED,
            PressResult.WRONG_NUMBER,
            PressResult.REPORTED,
            PressResult.LOCKED,
        )


@dataclass(frozen=True)
class Outgoing:
    """A challenge whose message is due, the people to send it to, and those who have it."""

    challenge: Challenge
    recipients: list[TelegramUserLink]
    sent_to: frozenset[int]


def parse_context(value: object) -> dict[str, str]:
    """The context a login system sent, checked: an object of ``CONTEXT_FIELDS``, each a
    string of at most ``MAX_CONTEXT_CHARS`` with no control, format (bidi) or line
    separator characters. It is shown as text, never as markup; ``InvalidContext``
    otherwise."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidContext("invalid_context", "context must be a JSON object")
    context: dict[str, str] = {}
    for key, text in value.items():
        if key not in CONTEXT_FIELDS:
            raise InvalidContext(
                "unknown_field", f"context may hold {', '.join(CONTEXT_FIELDS)} only"
            )
        if text is None:
            continue
        if not isinstance(text, str):
            raise InvalidContext("invalid_context", f"context.{key} must be a string")
        if len(text) > MAX_CONTEXT_CHARS:
            raise InvalidContext(
                "invalid_context", f"context.{key} must be at most {MAX_CONTEXT_CHARS} characters"
            )
        if text_problem(text) is not None:
            raise InvalidContext(
                "invalid_context",
                f"context.{key} must be one line of plain text (no control or bidi characters)",
            )
        if text.strip():
            context[key] = text.strip()
    return context


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


class ChallengeService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        verifier: VerificationService,
        *,
        enabled: bool = True,
        lifetime: timedelta = timedelta(seconds=DEFAULT_SECONDS),
        leadership: Leadership | None = None,
        watch_interval: float = WATCH_INTERVAL,
    ) -> None:
        self._db = db
        self._clock = clock
        self._verifier = verifier
        self.enabled = enabled
        self.lifetime = lifetime
        # What is sent, and marked sent, only while this bot may send (core/leadership.py).
        self._sending = leadership or Leadership(db)
        self.watch = ChallengeWatch(db, clock, watch_interval)
        self.send_lock = asyncio.Lock()

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
        if state.deactivated_until is not None and state.deactivated_until > now:
            return Opened(refusal=Refusal.DEACTIVATED, deactivated_until=state.deactivated_until)
        if not devices:
            if state.two_factor_required:
                return Opened(refusal=Refusal.ENROLLMENT_REQUIRED)
            return Opened(refusal=Refusal.NOT_ENROLLED)
        if state.hard_locked_at is not None:
            return Opened(refusal=Refusal.LOCKED)
        if state.locked_until is not None and state.locked_until > now:
            return Opened(
                refusal=Refusal.LOCKED, retry_after=_seconds_until(state.locked_until, now)
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
        state = tx.security.get(challenge.account_id)
        if state.hard_locked_at is not None or (
            state.locked_until is not None and state.locked_until > now
        ):
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

    # ------------------------------------------------------------------ the sender

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

    # ------------------------------------------------------------------ support

    async def recent(self, account_id: str) -> list[Challenge]:
        """The account's last challenges, newest first (/lookup)."""
        return await self._db.run(lambda tx: tx.challenges.recent(account_id, RECENT_SHOWN))

    @staticmethod
    def _audit(
        tx: Transaction,
        challenge: Challenge,
        now: datetime,
        actor: str,
        action: str,
        **detail: object,
    ) -> None:
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


def _statuses(ids: list[str]) -> Callable[[Transaction], dict[str, tuple[str, datetime]]]:
    return lambda tx: tx.challenges.statuses(ids)


def _with(tx: Transaction, challenge_id: str) -> Challenge:
    challenge = tx.challenges.get(challenge_id)
    assert challenge is not None
    return challenge
