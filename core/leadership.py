"""Who may send: the rule that keeps a deposed bot from sending anything.

On PostgreSQL two ``python -m bot`` run, and the one that holds the leader lock is
active (bot/leader.py elects it). Holding a lock is not enough to keep a second sender
out, because a holder does not learn at once that it lost the lock: its path to the
database may have gone silent, its event loop may have stalled. So sending rests on two
things, both here:

- **A lease, in this process.** The active bot counts as the leader until ``lease``
  seconds after it *sent* the last check that the server answered with "you hold it"
  (``renew``); past that, it is not, whatever a check still under way may say later,
  and a lapsed lease is never renewed (the bot is deposed for good, and exits). The
  check runs on the event loop, so a stalled loop lets the lease lapse as surely as a
  silent database. A standby that gets the lock waits ``grace`` (longer than the lease)
  before it sends: the lock was freed after the old holder's last confirmed check was
  sent, so the old holder's lease has lapsed by then.
- **A fencing token, in the database.** Each time a bot becomes active it takes a new
  epoch (``leader_epoch``, raised in a transaction on the lock's own session that checks
  the session holds the lock). Every transaction that reads what is to be sent, or marks
  it sent, runs through ``run``, which checks the epoch is still this bot's: once
  another bot took a newer one, this one gets nothing to send and marks nothing sent.

The Telegram transport asks ``is_current()`` before every call (bot/telegram_transport.py):
the lease covers replies to users too, not only the outboxes.

On SQLite there is one bot process (a lock file) and nothing to elect: ``Leadership``
starts as the sole sender, always current, with no epoch to check.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from storage.db import Database
from storage.repositories import Transaction

T = TypeVar("T")


def lease_clock() -> float:
    """Seconds on a clock that never jumps and keeps counting while the process is
    stopped (SIGSTOP) or the machine is suspended: CLOCK_BOOTTIME where there is one."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    if boottime is not None:
        return time.clock_gettime(boottime)
    return time.monotonic()


@dataclass(frozen=True)
class LeaseTiming:
    """The election's clock (seconds). The take-over bound follows from it (README):
    a holder that falls silent is ended by the server after ``session_idle``, a standby
    tries again within ``retry``, then waits ``grace``."""

    check_interval: float = 1.0  # the holder asks the server whether it holds the lock
    lease: float = 3.0  # counts as holding it this long after sending a confirmed check
    margin: float = 0.5  # for what runs between a lease check and the bytes on the wire
    retry: float = 1.0  # a standby tries for the lock this often
    session_idle: float = 3.0  # the server ends a lock session silent this long
    watchdog_tick: float = 0.25  # the watchdog thread looks at the lease this often

    @property
    def grace(self) -> float:
        """A standby that got the lock waits this long before it sends."""
        return self.lease + self.margin

    @property
    def takeover_bound(self) -> float:
        """From the moment the active bot falls silent to the standby's first send, at
        most (plus the standby's own start-up: its connection, getMe, the command menu)."""
        return self.session_idle + self.retry + self.grace


class NotLeader(Exception):
    """This process may not send: it is a standby, or it was deposed."""


class _State(enum.Enum):
    SOLE = "sole"  # SQLite, or a tool: the only possible sender
    STANDBY = "standby"
    ACTIVE = "active"
    DEPOSED = "deposed"


class Leadership:
    def __init__(
        self,
        db: Database,
        timing: LeaseTiming | None = None,
        now: Callable[[], float] = lease_clock,
    ) -> None:
        self._db = db
        self.timing = timing or LeaseTiming()
        self._now = now
        self._state = _State.SOLE
        self.epoch: int | None = None
        self._lease_until = 0.0

    def now(self) -> float:
        """The lease's clock (``lease_clock`` unless a test moves it)."""
        return self._now()

    # ------------------------------------------------------------------ the election

    def stand_by(self) -> None:
        """An elected process that does not hold the lock (yet): it sends nothing."""
        self._state = _State.STANDBY
        self.epoch = None

    def begin(self, epoch: int, confirmed_at: float) -> None:
        """This process holds the lock and took ``epoch``; ``confirmed_at`` is when the
        statement that found it holding the lock was sent."""
        self._state = _State.ACTIVE
        self.epoch = epoch
        self._lease_until = confirmed_at + self.timing.lease

    def renew(self, confirmed_at: float) -> bool:
        """A check sent at ``confirmed_at`` found the lock held: the lease runs from then.
        False (and deposed) when the lease had lapsed already: it is never revived."""
        if not self.is_current():
            self.depose()
            return False
        self._lease_until = max(self._lease_until, confirmed_at + self.timing.lease)
        return True

    def depose(self) -> None:
        if self._state is not _State.SOLE:
            self._state = _State.DEPOSED

    # ------------------------------------------------------------------ the rule

    def is_current(self) -> bool:
        """May this process send now? (Thread-safe: the watchdog thread asks too.)"""
        state = self._state
        if state is _State.SOLE:
            return True
        return state is _State.ACTIVE and self._now() < self._lease_until

    def lease_left(self) -> float:
        """Seconds until the lease lapses (0 when it has, or there is none)."""
        if self._state is not _State.ACTIVE:
            return 0.0
        return max(0.0, self._lease_until - self._now())

    def require(self) -> None:
        if not self.is_current():
            self.depose()
            raise NotLeader(self._why())

    async def run(self, work: Callable[[Transaction], T]) -> T:
        """``work`` as one transaction, and only while this process may send: refused
        (NotLeader) when its lease lapsed, or, in the transaction itself, when another bot
        took a newer epoch. For every read of what is to be sent and every mark of
        something sent."""
        self.require()
        epoch = self.epoch
        if epoch is None:  # the sole sender
            return await self._db.run(work)

        def fenced(tx: Transaction) -> T:
            current = tx.leadership.epoch()
            if current != epoch:
                raise NotLeader(f"another bot took over (epoch {current}, this bot's {epoch})")
            return work(tx)

        try:
            return await self._db.run(fenced)
        except NotLeader:
            self.depose()
            raise

    def _why(self) -> str:
        if self._state is _State.STANDBY:
            return "this bot is a standby"
        return f"this bot is no longer the active one (epoch {self.epoch})"
