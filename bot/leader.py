"""Which ``python -m bot`` may poll Telegram and run the jobs: one process at a time.

The jobs send the outboxes (alerts, notices, the support chat, chat clean-up): with two
senders, a message could go out twice. So exactly one bot process is *active*:

- On SQLite, one process only. ``SqliteGuard`` holds an exclusive ``flock`` on a lock
  file beside the database for the life of the process; a second ``python -m bot`` on
  the same file is refused at once.
- On PostgreSQL, any number may start; the one that holds a session advisory lock
  (storage/leader_lock.py, on a connection of its own) is active, the others wait as
  *standbys*, trying every ``retry`` seconds (core/leadership.py's ``LeaseTiming``).

The holder keeps a lease (core/leadership.py): it asks the server every
``check_interval`` whether its session still holds the lock, and counts as the leader
until ``lease`` seconds after sending the last check that was answered yes. The deadline
is ours: a check that has not answered when the lease lapses is left behind (never
cancelled: psycopg's cancel waits up to 10 s for a server that may never answer), the
lock's connection is shut down, and the lock counts as lost. A watchdog thread does the
same when the lease lapses because the event loop itself stalled (a blocking call): it
shuts the connection down, so the server frees the lock at once, and when the loop runs
again it finds itself deposed. A process whose lock is lost stops sending at once and
exits (status 3), for systemd to start it again as a standby.

The server ends a lock session that fell silent (partition, power loss, SIGSTOP) after
``session_idle`` seconds (storage/leader_lock.py), so the lock is freed within a bound;
a standby that gets it takes a new epoch (the fencing token) and waits ``grace``, longer
than the lease, before it polls or sends: two never send at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import threading
import time
from pathlib import Path
from typing import IO, Any

import psycopg

from core.leadership import Leadership
from storage.leader_lock import LockSession, SessionLimits

logger = logging.getLogger(__name__)

RELEASE_WAIT_S = 1.0  # a check under way at release: this long to end, once shut down
_STALLED = "the lease lapsed while this process did not run: a stalled event loop, or stopped"


class AlreadyRunning(Exception):
    """Another process holds the SQLite lock file."""


class SqliteGuard:
    """An exclusive lock on ``<database>.lock``, held until the process ends.

    ``flock`` locks belong to the open file: the kernel drops them when the process
    dies, however it dies, so a stale lock file never blocks a restart.
    """

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._file: IO[bytes] | None = None

    def acquire(self) -> None:
        folder = self.path.parent
        if not folder.is_dir():
            folder.mkdir(mode=0o700, parents=True)
            folder.chmod(0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        file = os.fdopen(fd, "r+b")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.close()
            raise AlreadyRunning(str(self.path)) from None
        self._file = file

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the lock
            self._file = None


class LeaderLock:
    """The PostgreSQL advisory lock that makes one bot process the active one.

    ``acquire`` waits for the lock (a standby waits there), takes a new epoch and starts
    keeping the lease: a task on the event loop that checks the lock, and a watchdog
    thread that ends the lock's connection when the lease lapses. ``lost`` is set once
    the lock counts as lost; ``release`` gives it up."""

    def __init__(self, url: str, leadership: Leadership) -> None:
        self._url = url
        self.leadership = leadership
        self.timing = leadership.timing
        self._limits = SessionLimits(idle=self.timing.session_idle, user_timeout=self.timing.lease)
        self._session: LockSession | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._check: asyncio.Future[bool] | None = None
        self._watchdog: threading.Thread | None = None
        self._watchdog_stop = threading.Event()
        self.lost = asyncio.Event()
        self.lost_reason = ""
        leadership.stand_by()

    @property
    def held(self) -> bool:
        """Whether this process counts as holding the lock now (its lease is current)."""
        return self.leadership.is_current()

    async def acquire(self) -> None:
        """Wait until this process holds the lock, then keep it (see the class)."""
        said_standby = False
        unreachable = False
        while True:
            try:
                if await self._try():
                    if unreachable:
                        logger.info("the database answers again")
                    self._start_keeping()
                    return
                unreachable = False
                if not said_standby:
                    logger.info("another bot is active: standing by to take over")
                    said_standby = True
            except (psycopg.Error, OSError) as exc:
                await self._drop()
                if not unreachable:
                    logger.warning("standby: the database does not answer (%s); retrying", exc)
                    unreachable = True
            await asyncio.sleep(self.timing.retry)

    async def _try(self) -> bool:
        if self._session is None or self._session.closed:
            self._session = await LockSession.connect(self._url, self._limits)
        if not await self._session.try_lock():
            return False
        sent = self.leadership.now()
        epoch = await self._session.take_epoch(int(time.time()))
        if epoch is None:  # cannot be: this session just got it
            return False
        self.leadership.begin(epoch, confirmed_at=sent)
        logger.info("took the leader lock (epoch %d)", epoch)
        return True

    def _start_keeping(self) -> None:
        self.lost.clear()
        self._keeper = asyncio.create_task(self._keep(), name="leader-lease")
        self._watchdog_stop.clear()
        self._watchdog = threading.Thread(
            target=self._watch_the_lease, name="leader-watchdog", daemon=True
        )
        self._watchdog.start()

    async def _keep(self) -> None:
        """Check the lock every ``check_interval``; the deadline of each check is the
        lease's end, enforced here, whatever the check is doing by then."""
        session = self._session
        assert session is not None
        while True:
            sent = self.leadership.now()
            left = self.leadership.lease_left()
            if left <= 0:
                self._lose(_STALLED)  # the lease lapsed while this loop slept past it
                return
            check = self._check = asyncio.ensure_future(session.holds())
            done, _ = await asyncio.wait({check}, timeout=left)
            if not done:
                check.add_done_callback(_ignore_outcome)
                overslept = self.leadership.now() - (sent + left) > self.timing.check_interval
                self._lose(
                    _STALLED
                    if overslept
                    else f"the database did not answer within the lease ({self.timing.lease:.1f} s)"
                )
                return
            self._check = None
            try:
                held = check.result()
            except (psycopg.Error, OSError) as exc:
                self._lose(f"its database session is gone: {exc}")
                return
            if not held:
                self._lose("its database session no longer holds it")
                return
            if not self.leadership.renew(sent):
                self._lose(_STALLED)
                return
            next_check = sent + self.timing.check_interval
            await asyncio.sleep(max(0.0, next_check - self.leadership.now()))

    def _lose(self, reason: str) -> None:
        self.leadership.depose()
        if self._session is not None:
            self._session.abandon()  # the server frees the lock as soon as it sees this
        self.lost_reason = reason
        logger.error("lost the leader lock (%s): stopping, so that two bots never send", reason)
        self.lost.set()

    def _watch_the_lease(self) -> None:
        """The watchdog thread: the lease is renewed on the event loop only, so a lease
        that lapsed while the loop did not run means a stalled loop (or a silent
        database): end the lock's connection, so the server frees the lock now."""
        session = self._session
        assert session is not None
        while not self._watchdog_stop.wait(self.timing.watchdog_tick):
            if not self.leadership.is_current():
                if session.abandon():
                    logger.error(
                        "the leader lease lapsed and the event loop did not notice: closed "
                        "the lock's connection, so that the server frees the lock"
                    )
                return

    async def release(self) -> None:
        """Give the lock up (closing the session releases it)."""
        self.leadership.depose()
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
        self._stop_watchdog()
        check, self._check = self._check, None
        if check is not None and not check.done() and self._session is not None:
            # A check under way: end the connection under it, let it fail, never cancel it.
            self._session.abandon()
            await asyncio.wait({check}, timeout=RELEASE_WAIT_S)
            check.add_done_callback(_ignore_outcome)
        await self._drop()

    def _stop_watchdog(self) -> None:
        self._watchdog_stop.set()
        if self._watchdog is not None and self._watchdog is not threading.current_thread():
            self._watchdog.join()
        self._watchdog = None

    async def _drop(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _ignore_outcome(future: asyncio.Future[Any]) -> None:
    """A check left behind: its result (or error) no longer matters; read it, so that
    asyncio does not log it as never retrieved."""
    if not future.cancelled():
        future.exception()
