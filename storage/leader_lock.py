"""The leader lock's database session: a PostgreSQL session advisory lock, on a
connection of its own, and the fencing token taken under it.

The election and its timing are bot/leader.py's; the rule of who may send is
core/leadership.py's. Here is only what the session says to the server, and how it is
told to give up on a silent peer, at both ends:

- The server ends the session, and so frees the lock, when the session has sent no
  query for ``idle`` seconds (``idle_session_timeout``, PostgreSQL 14 and later): the
  holder confirms its lock every second, so only a holder that has fallen silent (a
  partition, a host that lost power, a stopped process, a stalled event loop) is idle
  that long. Server-side TCP keepalives and ``tcp_user_timeout`` end it too when the
  peer's host is gone (no acknowledgements), and on servers older than 14.
- The client's libpq gets the same keepalives and ``tcp_user_timeout``: a dead server
  fails the session's next statement instead of leaving it waiting for hours.
- ``abandon()`` shuts the session's socket down from any thread, without waiting for
  anything (psycopg's cancel of a statement waits up to 10 s for a server that may
  never answer): a watchdog uses it when the event loop stalls, so that the server
  sees the connection end and frees the lock at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from dataclasses import dataclass
from typing import Any

import psycopg

logger = logging.getLogger(__name__)

# Two int4 keys: an application-wide namespace ("2FA") and the lock within it.
LOCK_KEYS = (0x2FA, 1)
CONNECT_TIMEOUT_S = 5
FIRST_WITH_IDLE_SESSION_TIMEOUT = 140000  # server_version of PostgreSQL 14

_HOLDS = (
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND classid = %s AND objid = %s AND objsubid = 2)"
)
_TAKE_EPOCH = (
    "INSERT INTO leader_epoch (id, epoch, taken_at) VALUES (1, 1, %s)"
    " ON CONFLICT (id) DO UPDATE SET epoch = leader_epoch.epoch + 1,"
    " taken_at = EXCLUDED.taken_at RETURNING epoch"
)


def try_lock_for_a_tool(conn: psycopg.Connection[Any]) -> bool:
    """Take the leader lock on a plain connection, for a tool that must keep every bot
    standing by while it works (after-restore); the session ending releases it."""
    row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", LOCK_KEYS).fetchone()
    return bool(row and row[0])


@dataclass(frozen=True)
class SessionLimits:
    """How soon each end of the lock's session gives up on a silent peer (seconds)."""

    idle: float  # the server ends a session that sent no query for this long
    keepalive_idle: int = 2
    keepalive_interval: int = 1
    keepalive_count: int = 2
    user_timeout: float = 3.0  # data unacknowledged this long ends the connection

    def client_options(self) -> dict[str, Any]:
        return {
            "autocommit": True,
            "application_name": "2fa-desk bot (leader lock)",
            "connect_timeout": CONNECT_TIMEOUT_S,
            "keepalives": 1,
            "keepalives_idle": self.keepalive_idle,
            "keepalives_interval": self.keepalive_interval,
            "keepalives_count": self.keepalive_count,
            "tcp_user_timeout": int(self.user_timeout * 1000),
        }

    def server_settings(self, server_version: int) -> dict[str, str]:
        settings = {
            "tcp_keepalives_idle": str(self.keepalive_idle),
            "tcp_keepalives_interval": str(self.keepalive_interval),
            "tcp_keepalives_count": str(self.keepalive_count),
            "tcp_user_timeout": str(int(self.user_timeout * 1000)),
        }
        if server_version >= FIRST_WITH_IDLE_SESSION_TIMEOUT:
            settings["idle_session_timeout"] = str(int(self.idle * 1000))
        return settings


class LockSession:
    """One connection that tries for, holds and checks the leader lock."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn
        # A socket of our own on the same connection, for abandon() from another thread:
        # shutting it down ends the connection whatever libpq is doing with its own fd.
        self._kill: socket.socket | None = socket.socket(fileno=os.dup(conn.pgconn.socket))
        self._kill_lock = threading.Lock()
        self.abandoned = False

    @classmethod
    async def connect(cls, url: str, limits: SessionLimits) -> LockSession:
        conn = await psycopg.AsyncConnection.connect(url, **limits.client_options())
        try:
            version = conn.info.server_version
            settings = limits.server_settings(version)
            if "idle_session_timeout" not in settings:
                logger.warning(
                    "PostgreSQL %s has no idle_session_timeout (14 has): a leader lock whose "
                    "holder falls silent is freed by TCP keepalives only",
                    version,
                )
            for name, value in settings.items():
                await conn.execute("SELECT set_config(%s, %s, false)", (name, value))
            return cls(conn)
        except BaseException:
            await conn.close()
            raise

    async def try_lock(self) -> bool:
        cursor = await self._conn.execute("SELECT pg_try_advisory_lock(%s, %s)", LOCK_KEYS)
        row = await cursor.fetchone()
        return bool(row and row[0])

    async def holds(self) -> bool:
        """Whether this session holds the lock (the server's answer, not ours)."""
        cursor = await self._conn.execute(_HOLDS, LOCK_KEYS)
        row = await cursor.fetchone()
        return bool(row and row[0])

    async def take_epoch(self, now: int) -> int | None:
        """A new epoch, in one transaction that first checks this session holds the lock:
        None (and nothing written) when it does not."""
        async with self._conn.transaction():
            cursor = await self._conn.execute(_HOLDS, LOCK_KEYS)
            row = await cursor.fetchone()
            if not (row and row[0]):
                return None
            cursor = await self._conn.execute(_TAKE_EPOCH, (now,))
            row = await cursor.fetchone()
        assert row is not None
        return int(row[0])

    def abandon(self) -> bool:
        """End the connection now, from any thread, waiting for nothing: the server sees
        it end (if the path still carries anything) and frees the lock; a statement under
        way fails. True the first time."""
        with self._kill_lock:
            if self._kill is None or self.abandoned:
                return False
            self.abandoned = True
            with contextlib.suppress(OSError):
                self._kill.shutdown(socket.SHUT_RDWR)
            return True

    @property
    def closed(self) -> bool:
        return self._conn.closed

    async def close(self) -> None:
        """Close the connection (this releases the lock); never raises."""
        with self._kill_lock:
            kill, self._kill = self._kill, None
        if kill is not None:
            kill.close()
        try:
            await self._conn.close()
        except (psycopg.Error, OSError) as exc:
            logger.debug("closing the leader lock's connection: %s", exc)
