"""Which ``python -m bot`` may poll Telegram and run the jobs: one process at a time.

The jobs send the outboxes (alerts, notices, the support chat, chat clean-up): with two
senders, a message could go out twice. So exactly one bot process is *active*:

- On SQLite, one process only. ``SqliteGuard`` holds an exclusive ``flock`` on a lock
  file beside the database for the life of the process; a second ``python -m bot`` on
  the same file is refused at once.
- On PostgreSQL, any number may start; the one that holds a session advisory lock
  (``pg_try_advisory_lock``, on a connection of its own) is active, the others wait as
  *standbys*, trying every ``RETRY_S``. PostgreSQL releases the lock when the holder's
  session ends: at once when the process dies (SIGKILL too: the kernel closes its
  socket), so a standby takes over within seconds.

The active process checks every ``CHECK_INTERVAL_S`` that its session still holds the
lock (an answer within ``CHECK_TIMEOUT_S``); if not (the server restarted, the session
was terminated, the network is gone), it stops, and systemd starts it again as a
standby. A standby that gets the lock waits ``TAKEOVER_GRACE_S`` (longer than the old
holder needs to notice the loss) before it polls: two never poll at once.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import psycopg

logger = logging.getLogger(__name__)

# Two int4 keys: an application-wide namespace ("2FA") and the lock within it.
LOCK_KEYS = (0x2FA, 1)
RETRY_S = 1.0
CHECK_INTERVAL_S = 1.0
CHECK_TIMEOUT_S = 1.5
TAKEOVER_GRACE_S = CHECK_INTERVAL_S + CHECK_TIMEOUT_S + 0.5
CONNECT_TIMEOUT_S = 5

# What a session needs to notice a dead peer quickly (libpq parameters): TCP keepalives
# and a cap on unacknowledged data, so a vanished server is noticed in seconds, not hours.
_CONNECTION_OPTIONS: dict[str, Any] = {
    "autocommit": True,
    "application_name": "2fa-desk bot (leader lock)",
    "connect_timeout": CONNECT_TIMEOUT_S,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 2,
    "tcp_user_timeout": 5000,
}
_HOLDS = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND classid = %s AND objid = %s AND objsubid = 2)"
)


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
    """The PostgreSQL advisory lock that makes one bot process the active one."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self.held = False

    async def acquire(self) -> None:
        """Wait until this process holds the lock (a standby waits here)."""
        said_standby = False
        unreachable = False
        while True:
            try:
                if await self._try():
                    if unreachable:
                        logger.info("the database answers again")
                    self.held = True
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
            await asyncio.sleep(RETRY_S)

    async def _try(self) -> bool:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(self._url, **_CONNECTION_OPTIONS)
        cursor = await self._conn.execute("SELECT pg_try_advisory_lock(%s, %s)", LOCK_KEYS)
        row = await cursor.fetchone()
        return bool(row and row[0])

    async def still_held(self) -> bool:
        """True when the lock's session answers within CHECK_TIMEOUT_S and holds it."""
        if self._conn is None or self._conn.closed:
            return False
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                cursor = await self._conn.execute(_HOLDS, LOCK_KEYS)
                row = await cursor.fetchone()
        except (psycopg.Error, OSError, TimeoutError) as exc:
            logger.error("the leader lock's database session is gone: %s", exc or "no answer")
            return False
        return bool(row and row[0])

    async def watch(self, on_lost: Callable[[], None]) -> None:
        """Check the lock every CHECK_INTERVAL_S; call ``on_lost`` once when it is gone."""
        while True:
            await asyncio.sleep(CHECK_INTERVAL_S)
            if not await self.still_held():
                self.held = False
                logger.error("lost the leader lock: stopping, so that two bots never poll")
                on_lost()
                return

    async def release(self) -> None:
        """Give the lock up (closing the session releases it)."""
        self.held = False
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except (psycopg.Error, OSError) as exc:
                logger.debug("closing the leader lock's connection: %s", exc)
