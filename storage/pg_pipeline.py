"""One PostgreSQL transaction on a pooled connection, its statements in libpq's pipeline
mode (``PostgresConnection``), and what a statement gives back (``Rows``). The backend
(``storage/postgresql.py``) hands each work function a ``Transaction`` over one of these.
"""

from __future__ import annotations

import select
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg import errors, pq
from psycopg.adapt import PyFormat, Transformer

from storage.db import CommitOutcomeUnknownError
from storage.dialect import to_postgresql

# Statements prepared on one connection at most (the repositories' SQL is constant
# text, about 120 statements; beyond this, a new one is parsed and planned each time).
MAX_PREPARED = 256

# A prepared statement that is gone (26000) or whose result no longer fits (0A000).
_STALE_STATEMENT = (errors.InvalidSqlStatementName, errors.FeatureNotSupported)

_BEGIN = b"BEGIN ISOLATION LEVEL SERIALIZABLE"
_BAD = pq.ConnStatus.BAD
_TUPLES_OK = pq.ExecStatus.TUPLES_OK
_COMMAND_OK = pq.ExecStatus.COMMAND_OK
_PIPELINE_SYNC = pq.ExecStatus.PIPELINE_SYNC
_PIPELINE_ABORTED = pq.ExecStatus.PIPELINE_ABORTED
_AUTO = PyFormat.AUTO  # psycopg picks each parameter's format

COMMIT_LOST = (
    "the connection to PostgreSQL was lost during COMMIT: the transaction may or may not "
    "have landed, so it is not run again"
)


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
