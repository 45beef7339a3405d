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
answer read when asked for (``PostgresConnection``): fewer round trips, the same
outcome.

Migrations run on a connection of their own, under a session advisory lock, so two
processes starting together apply them once.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import random
import select
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import IsolationLevel, errors, pq
from psycopg.adapt import PyFormat, Transformer
from psycopg_pool import ConnectionPool

from storage.db import (
    CommitOutcomeUnknownError,
    Database,
    DatabaseClosedError,
    DatabaseUnavailableError,
    pending_migrations,
    redact_url,
)
from storage.dialect import to_postgresql
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

# Statements prepared on one connection at most (the repositories' SQL is constant
# text, about 120 statements; beyond this, a new one is parsed and planned each time).
MAX_PREPARED = 256

# Aborted so that the transactions stay serialisable: nothing landed, run it again.
_RETRYABLE = (errors.SerializationFailure, errors.DeadlockDetected)
# A prepared statement that is gone (26000) or whose result no longer fits (0A000).
_STALE_STATEMENT = (errors.InvalidSqlStatementName, errors.FeatureNotSupported)

_BEGIN = b"BEGIN ISOLATION LEVEL SERIALIZABLE"
_BAD = pq.ConnStatus.BAD
_TUPLES_OK = pq.ExecStatus.TUPLES_OK
_COMMAND_OK = pq.ExecStatus.COMMAND_OK
_PIPELINE_SYNC = pq.ExecStatus.PIPELINE_SYNC
_PIPELINE_ABORTED = pq.ExecStatus.PIPELINE_ABORTED
_AUTO = PyFormat.AUTO  # psycopg picks each parameter's format

T = TypeVar("T")

COMMIT_LOST = (
    "the connection to PostgreSQL was lost during COMMIT: the transaction may or may not "
    "have landed, so it is not run again"
)

# libpq parameters of every connection: a dead peer is noticed in seconds, not hours.
_CONNECTION_OPTIONS: dict[str, Any] = {
    "application_name": "2fa-desk",
    "connect_timeout": CONNECT_TIMEOUT_S,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 3,
    "keepalives_count": 3,
}


class Rows:
    """What a statement gives back: its rows (if any) and its row count, read on first
    use (the statement may still be on its way to the server: see PostgresConnection)."""

    __slots__ = ("_conn", "_count", "_next", "_rows")

    def __init__(self, conn: PostgresConnection) -> None:
        self._conn: PostgresConnection | None = conn
        self._rows: list[Any] = []
        self._count = -1
        self._next = 0

    def _settle(self, rows: list[Any], count: int) -> None:
        self._rows = rows
        self._count = count
        self._conn = None

    def _wait(self) -> None:
        if self._conn is not None:
            self._conn.wait_for(self)

    @property
    def rowcount(self) -> int:
        self._wait()
        return self._count

    def fetchone(self) -> Any:
        self._wait()
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[Any]:
        self._wait()
        rest = self._rows[self._next :]
        self._next = len(self._rows)
        return rest

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


StatementKey = tuple[str, tuple[int, ...] | None]  # the SQL as written, the parameter types


class PooledConnection(psycopg.Connection[Any]):
    """A connection of the pool, with the statements prepared on it so far (by
    ``PostgresConnection``: each statement text and parameter types, and its name)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.statements: dict[StatementKey, bytes] = {}
        self.prepared = 0  # statements prepared on it: the next one's name is its number


class PostgresConnection:
    """One transaction on a pooled connection, taking the repositories' SQL as it is
    written (qmark placeholders, the SQLite spellings ``storage/dialect.py`` translates).

    Two things make a statement cheap here. It goes straight to libpq, with psycopg's
    adapters (its ``Transformer``, in C) for the parameters and the rows, past psycopg's
    cursor, whose bookkeeping in Python cost more than the rest of the statement (about
    75 against 25 µs of CPU on the 2-core machine). And the transaction runs in libpq's
    pipeline mode: a statement is sent at once, and its answer read only when someone
    asks for it (its rows or its row count), together with the answers of every
    statement sent before it, in one round trip. So BEGIN (SERIALIZABLE) travels with the
    first statement, a write nobody reads the count of (``devices.mark_used``,
    ``security.save``) with the statement after it, and COMMIT alone: a verification
    takes two round trips instead of three, and a group's BEGIN and COMMIT one instead
    of two.

    Nothing changes for the work functions: the statements run in the order they were
    sent, each sees what the ones before it did, and an error fails the transaction as
    it always did (PostgreSQL aborts a transaction at its first error), only perhaps at a
    later statement or at COMMIT: by then nothing of it can land. The pipeline ends with
    the transaction: ``commit``, or ``abandon`` before a ROLLBACK.

    Each statement is prepared on its connection the first time it runs there (by text
    and parameter types: an int is int2, int4 or int8 by its size), then runs by name:
    PostgreSQL parses and plans it once per connection, as psycopg's own automatic
    preparation did."""

    __slots__ = (
        "_encoding",
        "_pending",
        "_pgconn",
        "_poll",
        "_syncs",
        "_transformer",
        "_unsent",
        "raw",
    )

    def __init__(self, raw: PooledConnection) -> None:
        self.raw = raw
        self._pgconn = raw.pgconn
        self._transformer = Transformer(raw)
        self._encoding = raw.info.encoding
        # What each statement sent and not answered yet is waiting for, in order: its
        # Rows, the key of a statement being prepared, or None (BEGIN, COMMIT).
        self._pending: deque[Rows | StatementKey | None] = deque()
        self._unsent = False  # statements in libpq's buffer, or not flushed by the server
        self._syncs = 0  # pipeline syncs sent and not answered yet
        self._poll: select.poll | None = None

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Rows:
        pgconn = self._pgconn
        if not pgconn.pipeline_status:  # the transaction's first statement
            pgconn.enter_pipeline_mode()
            pgconn.send_query_params(_BEGIN, None)
            self._pending.append(None)
        transformer = self._transformer
        values = transformer.dump_sequence(parameters, [_AUTO] * len(parameters))
        types = transformer.types
        key = (sql, types)
        name = self.raw.statements.get(key)
        if name is None:
            name = self._prepare(key)
        if name is not None:
            pgconn.send_query_prepared(name, values, transformer.formats)
        else:  # prepared enough on this connection: parsed and planned each time
            pgconn.send_query_params(
                to_postgresql(sql).encode(), values, types, transformer.formats
            )
        rows = Rows(self)
        self._pending.append(rows)
        self._unsent = True
        return rows

    def _prepare(self, key: StatementKey) -> bytes | None:
        raw = self.raw
        if len(raw.statements) >= MAX_PREPARED:
            return None
        name = b"twofa_%d" % raw.prepared
        raw.prepared += 1
        self._pgconn.send_prepare(name, to_postgresql(key[0]).encode(), key[1])
        raw.statements[key] = name  # taken back if PostgreSQL refuses it
        self._pending.append(key)
        return name

    def wait_for(self, rows: Rows) -> None:
        """Read the answers up to that statement's (sending what is not sent yet)."""
        try:
            if self._unsent:
                self._pgconn.send_flush_request()
                self._flush()
            while rows._conn is not None:
                self._read_next()
        except BaseException:
            self.abandon()
            raise

    def commit(self) -> None:
        """COMMIT, after the answers of every statement sent (an error among them fails
        the commit, and nothing lands).

        Once COMMIT is on its way, a lost connection leaves the outcome unknown: the
        server may have committed and died before we read its answer, or never seen it.
        That is ``CommitOutcomeUnknownError``, never a plain OperationalError, so nobody
        runs the work again (it could act twice). A connection known lost before COMMIT
        is sent is an OperationalError: nothing landed."""
        pgconn = self._pgconn
        if not pgconn.pipeline_status:
            return  # no statement ran: nothing to commit
        if pgconn.status == _BAD:
            self.abandon()
            raise self._lost()
        try:
            pgconn.send_query_params(b"COMMIT", None)
            self._pending.append(None)
            pgconn.pipeline_sync()
            self._syncs += 1
            self._flush()
            while self._pending:
                self._read_next()
            self._read_sync()
            pgconn.exit_pipeline_mode()
        except BaseException as exc:
            self.abandon()
            if isinstance(exc, psycopg.Error) and pgconn.status == _BAD:
                raise CommitOutcomeUnknownError(COMMIT_LOST) from exc
            raise

    def abandon(self) -> None:
        """Out of pipeline mode, whatever happened, for a ROLLBACK (or for the pool to
        replace a broken connection): the answers still due are read and dropped."""
        pgconn = self._pgconn
        for waiting in self._pending:
            if isinstance(waiting, tuple):  # perhaps never prepared: prepared afresh next time
                self.raw.statements.pop(waiting, None)
        self._pending.clear()
        if not pgconn.pipeline_status:
            return
        try:
            if pgconn.status != _BAD:
                pgconn.pipeline_sync()
                self._syncs += 1
                self._flush()
                while self._syncs:
                    self._read_sync()
                pgconn.exit_pipeline_mode()
        except psycopg.Error:
            pass  # the connection is broken: the pool replaces it

    # ------------------------------------------------------------------ libpq

    def _read_next(self) -> None:
        """The answer to the oldest statement sent."""
        if not self._pending:  # (a Rows kept past the end of its transaction)
            raise psycopg.InterfaceError("the statement's transaction has ended")
        waiting = self._pending.popleft()
        result = self._result()
        if result is None or self._result() is not None:  # an answer, then a None
            raise self._lost()
        status = result.status
        if status == _TUPLES_OK:
            if isinstance(waiting, Rows):
                count = result.ntuples
                self._transformer.set_pgresult(result)
                rows = self._transformer.load_rows(0, count, tuple) if count else []
                waiting._settle(rows, count)
        elif status == _COMMAND_OK:
            if isinstance(waiting, Rows):
                affected = result.command_tuples
                waiting._settle([], -1 if affected is None else affected)
        else:
            if isinstance(waiting, tuple):  # the statement could not be prepared
                self.raw.statements.pop(waiting, None)
            raise self._error(result)

    def _read_sync(self) -> None:
        """Up to the next pipeline sync's answer (past any answer before it)."""
        while True:
            result = self._result()
            if result is None:
                if self._pgconn.status == _BAD:
                    raise self._lost()
            elif result.status == _PIPELINE_SYNC:
                self._syncs -= 1
                return

    def _result(self) -> pq.abc.PGresult | None:
        pgconn = self._pgconn
        while pgconn.is_busy():
            self._wait(select.POLLIN)
            pgconn.consume_input()
        return pgconn.get_result()

    def _lost(self) -> psycopg.Error:
        if self._pgconn.status == _BAD:
            return psycopg.OperationalError("the connection to PostgreSQL was lost")
        return psycopg.InterfaceError("PostgreSQL's answers are out of step with the statements")

    def _flush(self) -> None:
        pgconn = self._pgconn
        while pgconn.flush():  # 1: not all of it went out yet
            if self._wait(select.POLLIN | select.POLLOUT) & select.POLLIN:
                pgconn.consume_input()  # the server may be waiting for us to read
        self._unsent = False

    def _wait(self, events: int) -> int:
        """Until the socket is ready (without the GIL: other threads run meanwhile)."""
        if self._poll is None:
            self._poll = select.poll()
        self._poll.register(self._pgconn.socket, events)
        return self._poll.poll()[0][1]

    def _error(self, result: pq.abc.PGresult) -> psycopg.Error:
        """What psycopg would raise for a result that is an error."""
        if result.status == _PIPELINE_ABORTED:  # an earlier error's aftermath
            return psycopg.errors.InFailedSqlTransaction("the pipeline was aborted")
        error = errors.error_from_result(result, encoding=self._encoding)
        if self._pgconn.status == _BAD and not isinstance(error, psycopg.OperationalError):
            return psycopg.OperationalError(str(error) or "the connection was lost")
        if isinstance(error, _STALE_STATEMENT):
            # A prepared form is gone or no longer fits (a DISCARD, a changed table):
            # each statement is prepared afresh, under new names (this transaction fails).
            self.raw.statements.clear()
        return error


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
