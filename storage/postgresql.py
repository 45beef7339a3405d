"""The PostgreSQL backend: a pool of connections, a database thread for each, whole
transactions at SERIALIZABLE isolation.

The work functions were written for SQLite, where transactions run one after the other,
and every rule that checks and then acts (a code used once, five failures lock once,
the first decision of two agents wins, a link binds once, one open request per account,
a grant used once, one conversation slot) relies on that. SERIALIZABLE gives the same
guarantee across any number of processes: the outcome of concurrent transactions is
that of some one-after-the-other order. No rule needs a lock of its own.

The price: PostgreSQL aborts a transaction that it cannot fit into such an order
(serialization_failure, 40001; two that wait for each other: deadlock_detected, 40P01).
Nothing of it landed, so the whole work function runs again on a fresh snapshot, up to
``MAX_ATTEMPTS`` times, after a short jittered backoff (contenders spread out instead of
colliding again). That is why a work function must have no effect outside the database.
Two inserts of the same key (``account_for`` creating an account) are written as
``ON CONFLICT DO NOTHING``; at SERIALIZABLE a conflict with a row the snapshot cannot see
is a serialization failure too, and runs again.

Work queued while the threads are busy is committed together, as on SQLite (group
commit, ``storage/workqueue.py``): one BEGIN and one COMMIT (one WAL flush) for the lot.
If the group fails (a piece raised, or PostgreSQL aborted it), it is rolled back and
each piece runs again alone, with the retries above: a failure only affects its own
piece. Not so when the connection is lost during COMMIT: whether the group landed is
unknown, and running it again could act twice (a code accepted twice), so every caller
of the group gets ``CommitOutcomeUnknownError`` and nothing runs again (likewise for a
piece run alone). Within a transaction the statements go out in libpq's pipeline mode, each
answer read when asked for (``PostgresConnection``, ``storage/pg_pipeline.py``): fewer
round trips, the same outcome.

Migrations run on a connection of their own, under a session advisory lock, so two
processes starting together apply them once.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg import IsolationLevel, errors
from psycopg_pool import ConnectionPool

from storage.db import (
    CommitOutcomeUnknownError,
    Database,
    DatabaseClosedError,
    DatabaseUnavailableError,
    pending_migrations,
    redact_url,
)
from storage.pg_pipeline import COMMIT_LOST, PooledConnection, PostgresConnection
from storage.repositories import Transaction
from storage.workqueue import STOP, Outcome, Work, WorkQueue, deliver, next_batch

logger = logging.getLogger(__name__)

DEFAULT_POOL_SIZE = 8
# Pieces of work committed together at most. Small groups keep several threads busy at
# once (one runs its statements while PostgreSQL works on another's): verifications at
# concurrency 16 on the 2-core machine (bench/verify.py, four runs each), groups of 4:
# 1,640 to 1,920/s; of 8: 1,560 to 1,740/s; of 2: 1,190 to 1,700/s; 4 connections
# instead of 8 (groups of 4): 1,560 to 2,010/s. (Before the pipelining: groups of 4,
# 1,330 to 1,470/s; of 16, one busy thread at a time, 1,020/s; no groups, 920/s.)
MAX_GROUP = 4
MAX_ATTEMPTS = 30  # per work function; a hot row with 32 contenders still gets through
BACKOFF_FIRST_S = 0.001
BACKOFF_LONGEST_S = 0.05
CONNECT_TIMEOUT_S = 10
WAIT_FOR_CONNECTION_S = 30.0  # a work function waits this long for a pooled connection
PING_TIMEOUT_S = 3.0
# Session advisory locks of 2FA Desk: (0x2FA, n); the leader lock is (0x2FA, 1)
# (storage/leader_lock.py).
MIGRATION_LOCK = (0x2FA, 2)

# Aborted so that the transactions stay serialisable: nothing landed, run it again.
_RETRYABLE = (errors.SerializationFailure, errors.DeadlockDetected)

T = TypeVar("T")

# libpq parameters of every connection: a dead peer is noticed in seconds, not hours.
_CONNECTION_OPTIONS: dict[str, Any] = {
    "application_name": "2fa-desk",
    "connect_timeout": CONNECT_TIMEOUT_S,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
}


def _serializable(conn: PooledConnection) -> None:
    conn.isolation_level = IsolationLevel.SERIALIZABLE


def _backoff(attempt: int) -> float:
    """Full jitter: anywhere up to an exponentially growing cap."""
    return random.uniform(0, min(BACKOFF_LONGEST_S, BACKOFF_FIRST_S * 2**attempt))  # noqa: S311


def connect(url: str, **options: Any) -> psycopg.Connection[Any]:
    """One connection (autocommit), or ``DatabaseUnavailableError`` saying why not."""
    try:
        return psycopg.connect(url, autocommit=True, **{**_CONNECTION_OPTIONS, **options})
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnavailableError(f"cannot connect to {redact_url(url)}: {reason}") from None


def migrate(conn: psycopg.Connection[Any]) -> list[str]:
    """Apply the migrations not applied yet, each in its own transaction, under an
    advisory lock: a second process starting at the same moment waits, then finds them
    applied. ``conn`` is in autocommit mode."""
    conn.execute("SELECT pg_advisory_lock(%s, %s)", MIGRATION_LOCK)
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
        )
        applied = []
        done = conn.execute("SELECT version FROM schema_migrations")
        for version, name, script in pending_migrations("postgresql", done):
            with conn.transaction():
                conn.execute(script.encode())  # several statements: no parameters
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at)"
                    " VALUES (%s, %s, CAST(extract(epoch FROM now()) AS BIGINT))",
                    (version, name),
                )
            applied.append(name)
        return applied
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s, %s)", MIGRATION_LOCK)


class PostgresDatabase(Database):
    backend = "postgresql"

    def __init__(self, url: str, pool_size: int) -> None:
        self._url = url
        self._pool = ConnectionPool(
            url,
            connection_class=PooledConnection,
            min_size=min(4, pool_size),
            max_size=pool_size,
            kwargs=dict(_CONNECTION_OPTIONS),
            configure=_serializable,
            open=False,
            name="2fa-desk",
            timeout=WAIT_FOR_CONNECTION_S,
        )
        self._queue: WorkQueue = queue.SimpleQueue()
        # One thread per connection: a group never waits for a thread.
        self._threads = [
            threading.Thread(target=self._serve, name=f"postgresql-{i}", daemon=True)
            for i in range(pool_size)
        ]
        self._closed = False
        self._counts = threading.Lock()
        self.commits = 0
        self.retries = 0  # work functions run again (aborted by PostgreSQL, or their group)

    @classmethod
    async def open(cls, url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> PostgresDatabase:
        """Connect, migrate (under the advisory lock), then open the pool."""

        def prepare() -> None:
            with connect(url, application_name="2fa-desk (migrations)") as conn:
                try:
                    applied = migrate(conn)
                except psycopg.Error as exc:  # e.g. no right to create tables: say so
                    reason = str(exc).strip().splitlines()[0]
                    raise DatabaseUnavailableError(
                        f"cannot prepare the schema in {redact_url(url)}: {reason}"
                    ) from None
            if applied:
                logger.info("database migrated: %s", ", ".join(applied))

        await asyncio.to_thread(prepare)
        db = cls(url, pool_size)
        try:
            await asyncio.to_thread(db._pool.open, wait=True, timeout=CONNECT_TIMEOUT_S)
        except psycopg.OperationalError as exc:
            await asyncio.to_thread(db._pool.close)
            raise DatabaseUnavailableError(f"cannot connect to {redact_url(url)}: {exc}") from None
        for thread in db._threads:
            thread.start()
        return db

    async def run(self, work: Callable[[Transaction], T]) -> T:
        """Run ``work`` in a SERIALIZABLE transaction (perhaps with other queued work);
        again, from the start, when PostgreSQL aborts it to stay serialisable."""
        if self._closed:
            raise DatabaseClosedError("the database is closed")
        loop = asyncio.get_running_loop()
        item = Work(work, loop.create_future(), loop)
        self._queue.put(item)
        result: T = await item.future
        return result

    async def migrate(self) -> list[str]:
        def apply() -> list[str]:
            with connect(self._url, application_name="2fa-desk (migrations)") as conn:
                return migrate(conn)

        return await asyncio.to_thread(apply)

    async def ping(self) -> bool:
        """Past the queue, on a connection of the pool (not waiting long for one)."""
        if self._closed:
            return False

        def ping() -> bool:
            return self._alone(lambda tx: tx.ping(), PING_TIMEOUT_S)

        try:
            return await asyncio.to_thread(ping)
        except psycopg.Error:
            return False

    async def close(self) -> None:
        """Finish the queued work, then stop the threads and close the connections."""
        if self._closed:
            return
        self._closed = True
        for _ in self._threads:
            self._queue.put(STOP)
        for thread in self._threads:
            if thread.is_alive():
                await asyncio.to_thread(thread.join)
        await asyncio.to_thread(self._pool.close)

    # ------------------------------------------------------------------ database threads

    def _serve(self) -> None:
        while True:
            batch, stop = next_batch(self._queue, MAX_GROUP)
            if batch:
                deliver(batch, self._commit_group(batch))
            if stop:
                return

    def _commit_group(self, batch: list[Work]) -> list[Outcome]:
        """The batch in one transaction; if that fails, each piece alone (with retries)."""
        if len(batch) > 1:
            outcomes = self._together(batch)
            if outcomes is not None:
                return outcomes
            self._count(retries=len(batch))
        outcomes = []
        for item in batch:
            try:
                outcomes.append((True, self._alone(item.fn, WAIT_FOR_CONNECTION_S)))
            except Exception as exc:
                outcomes.append((False, exc))
        return outcomes

    def _together(self, batch: list[Work]) -> list[Outcome] | None:
        """One transaction for the lot: their results, or None when anything failed
        before COMMIT (nothing landed: each runs again alone). A connection lost during
        COMMIT is an unknown outcome, for every piece: each caller gets
        ``CommitOutcomeUnknownError`` and nothing runs again."""
        try:
            with self._pool.connection() as raw:
                conn = PostgresConnection(raw)
                try:
                    tx = Transaction(conn)
                    results = [item.fn(tx) for item in batch]
                    conn.commit()
                except BaseException:
                    conn.abandon()
                    if not raw.broken:
                        raw.rollback()
                    raise
        except CommitOutcomeUnknownError as exc:
            logger.warning("%s (a group of %d)", exc, len(batch))
            return [(False, CommitOutcomeUnknownError(COMMIT_LOST)) for _ in batch]
        except Exception:
            return None
        self._count(commits=1)
        return [(True, result) for result in results]

    def _alone(self, work: Callable[[Transaction], T], wait: float) -> T:
        attempt = 1
        while True:
            with self._pool.connection(timeout=wait) as raw:
                conn = PostgresConnection(raw)
                try:
                    try:
                        result = work(Transaction(conn))
                        conn.commit()
                    except BaseException:
                        conn.abandon()
                        raise
                except _RETRYABLE:
                    raw.rollback()
                    if attempt >= MAX_ATTEMPTS:
                        logger.warning("transaction aborted %d times in a row; giving up", attempt)
                        raise
                except psycopg.OperationalError:
                    # The connection died before COMMIT (the server restarted, a failover):
                    # nothing landed. The pool replaces it; check the others too. A death
                    # during COMMIT leaves the outcome unknown: that is
                    # CommitOutcomeUnknownError (below), which is not run again.
                    if not raw.broken or attempt >= MAX_ATTEMPTS:
                        raise
                    self._pool.check()
                except BaseException:
                    if not raw.broken:
                        raw.rollback()
                    raise
                else:
                    self._count(commits=1)
                    return result
            self._count(retries=1)
            time.sleep(_backoff(attempt))
            attempt += 1

    def _count(self, commits: int = 0, retries: int = 0) -> None:
        with self._counts:
            self.commits += commits
            self.retries += retries
