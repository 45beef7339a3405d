"""The SQLite backend: one connection, owned by one thread, fed with whole transactions.

``await db.run(work)`` hands a work function to the database thread and waits for the
commit. So:

- a transaction costs one hop between the event loop and the database thread,
  however many statements it runs (a hop per statement would dominate the cost);
- two coroutines can never interleave statements inside one transaction: the thread
  runs one piece of work at a time;
- work that queues up while a commit is in progress is committed together (group
  commit); should one piece fail, the group is rolled back and each piece runs again
  alone, so a failure only affects its own piece. A result is handed back only after
  its commit.

One process only: the rules hold because one thread runs every transaction.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Literal, TypeVar

from storage.db import Database, DatabaseClosedError, pending_migrations, sqlite_path
from storage.repositories import Transaction
from storage.workqueue import STOP, Outcome, Work, WorkQueue, deliver, next_batch

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
MAX_GROUP = 64  # pieces of work committed together at most
PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600

Synchronous = Literal["FULL", "NORMAL"]

T = TypeVar("T")


def split_statements(script: str) -> list[str]:
    """Split a script into statements; trigger bodies keep their inner semicolons."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        if not current and (not line.strip() or line.lstrip().startswith("--")):
            continue
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"incomplete SQL statement at the end of a migration: {current!r}")
    return statements


def _prepare_files(path: Path) -> None:
    """Create the folder (0700) and the database file (0600) when missing; only warn
    about existing ones that other users can get at (they are the operator's choice).

    The file is created here, empty, because SQLite creates the -wal and -shm files
    later, whenever it needs them, with the database file's permissions whatever the
    umask: a private database file keeps them private. (Setting the umask around the
    connect would not do: it is process-wide, and SQLite may create them much later.)
    """
    folder = path.parent
    if folder.is_dir():
        _warn_if_open_to_others(folder, "folder")
    else:
        folder.mkdir(mode=PRIVATE_FOLDER, parents=True)
        folder.chmod(PRIVATE_FOLDER)  # exactly 0700, whatever the umask took off
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        for file in (path, *_companions(path)):
            if file.exists():
                _warn_if_open_to_others(file, "file")
        return
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)


def _companions(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _warn_if_open_to_others(path: Path, kind: str) -> None:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        private = PRIVATE_FOLDER if kind == "folder" else PRIVATE_FILE
        logger.warning(
            "database %s %s is open to other users (mode %03o); chmod %03o %s keeps it private",
            kind,
            path,
            mode,
            private,
            path,
        )


def _connect(path: Path, synchronous: Synchronous) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves. The connection is used by
    # the database thread only (it is created there too).
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    # FULL: a COMMIT returns once the WAL is on disk (one fsync). With NORMAL the WAL
    # reaches the disk only at checkpoints: that survives a crash of the process, but an
    # OS crash or a power cut takes back the last commits, so a code accepted just
    # before (or a used recovery code) would be accepted again after the restart; RFC
    # 6238 5.2 says once. FULL for everything, not only verifications: an activation, a
    # decision or an audit entry the bot has reported must stay too, and verifications
    # are nearly all the writes anyway, so sparing the rest would save nothing.
    # Cost, bench/verify.py on the 2-core machine (README, Benchmarks): 1 to 1.5 ms of
    # fsync per COMMIT, which group commit shares: alone, a verification takes 1.2 to
    # 2 ms instead of 0.4; at concurrency 16 (16 per commit) throughput is about 30%
    # lower in-process (2,200 to 3,100/s instead of 2,500 to 3,600/s) and 40% over
    # HTTP. NORMAL is there for that measurement only.
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    # A larger page cache (64 MB) keeps the hot rows of a busy verifier in memory.
    conn.execute("PRAGMA cache_size = -65536")
    # Checkpoints run on a thread of their own (``_Checkpointer``), not inside a COMMIT
    # that someone is waiting for.
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    return conn


class _Checkpointer:
    """Copies the WAL back into the database file in the background.

    With SQLite's automatic checkpoints, every thousandth page written makes one COMMIT
    do that copy (and two fsyncs) while callers wait: about 40% of the cost of a busy
    verifier's commits. A PASSIVE checkpoint never blocks the writer; SQLite does the
    work with the GIL released.
    """

    INTERVAL_S = 1.0

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            while not self._stop.wait(self.INTERVAL_S):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:
                    logger.warning("WAL checkpoint failed: %s", exc)
        finally:
            conn.close()


def _migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply the migrations not applied yet, each in its own transaction."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
    )
    applied = []
    done = conn.execute("SELECT version FROM schema_migrations")
    for version, name, script in pending_migrations("sqlite", done):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in split_statements(script):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at)"
                " VALUES (?, ?, CAST(strftime('%s', 'now') AS INTEGER))",
                (version, name),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


def migrate_file(path: Path) -> list[str]:
    """Apply the pending migrations to an existing database file, as ``open`` would."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        return _migrate(conn)
    finally:
        conn.close()


def data_tables(conn: sqlite3.Connection) -> list[str]:
    """The schema's tables in the file, by name (not SQLite's own, not schema_migrations)."""
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'"
        " AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations' ORDER BY name"
    )
    return [row[0] for row in rows]


def row_count(conn: sqlite3.Connection, table: str) -> int:
    return int(conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])


def _sqlite_connection(tx: Transaction) -> sqlite3.Connection:
    assert isinstance(tx.connection, sqlite3.Connection)
    return tx.connection


class SqliteDatabase(Database):
    backend = "sqlite"

    def __init__(self, path: Path, synchronous: Synchronous = "FULL") -> None:
        self._path = path
        self._synchronous = synchronous
        self._queue: WorkQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.commits = 0  # how many COMMITs ran (group commit folds several works into one)

    @classmethod
    async def open(cls, url: str, *, synchronous: Synchronous = "FULL") -> SqliteDatabase:
        """Open (creating the folder and file if missing, private) and migrate.

        ``synchronous="NORMAL"`` gives up durability against a power cut; it exists for
        bench/verify.py to measure what FULL costs.
        """
        path = sqlite_path(url)
        db = cls(path, synchronous)
        ready: Future[None] = Future()
        db._thread = threading.Thread(target=db._serve, args=(ready,), name="database", daemon=True)
        db._thread.start()
        await asyncio.wrap_future(ready)
        return db

    async def run(self, work: Callable[[Transaction], T]) -> T:
        """Run ``work`` as one transaction in the database thread; its result after COMMIT.

        ``work`` must be a plain function that only talks to the database: it runs on the
        database thread and holds up everyone else's work while it runs. It may run twice
        (see ``_commit_group``), so it must have no effect outside the database.
        """
        if self._closed:
            raise DatabaseClosedError("the database is closed")
        loop = asyncio.get_running_loop()
        item = Work(work, loop.create_future(), loop)
        self._queue.put(item)
        return await item.future

    async def migrate(self) -> list[str]:
        """Apply pending migrations (``open`` already did; a no-op then)."""
        return await self.run(lambda tx: _migrate(_sqlite_connection(tx)))

    async def ping(self) -> bool:
        """True when the database answers a query."""
        try:
            return await self.run(lambda tx: tx.ping())
        except (sqlite3.Error, DatabaseClosedError):
            return False

    async def close(self) -> None:
        """Finish the queued work, then close the connection and stop the thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(STOP)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    # ---------------------------------------------------------------- the database thread

    def _serve(self, ready: Future[None]) -> None:
        try:
            _prepare_files(self._path)
            conn = _connect(self._path, self._synchronous)
            _migrate(conn)
        except BaseException as exc:  # reported to open(), which raises it
            self._closed = True
            ready.set_exception(exc)
            return
        checkpointer = _Checkpointer(self._path)
        checkpointer.start()
        ready.set_result(None)
        try:
            while True:
                batch, stop = next_batch(self._queue, MAX_GROUP)
                if batch:
                    deliver(batch, self._commit_group(conn, batch))
                if stop:
                    return
        finally:
            checkpointer.stop()
            try:
                # Leave a compact file behind: everything in the database, the WAL empty.
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                logger.warning("final WAL checkpoint failed: %s", exc)
            conn.close()

    def _commit_group(self, conn: sqlite3.Connection, batch: list[Work]) -> list[Outcome]:
        """Run the batch in one transaction. If one piece fails, the whole transaction is
        rolled back and each piece runs again in a transaction of its own, so a failure
        only affects its own piece (failures are rare; savepoints around every piece
        would cost two statements each time)."""
        if len(batch) > 1:
            outcomes = self._transaction(conn, batch)
            if all(ok for ok, _ in outcomes):
                return outcomes
        return [self._transaction(conn, [item])[0] for item in batch]

    def _transaction(self, conn: sqlite3.Connection, items: list[Work]) -> list[Outcome]:
        """The items in one transaction; at the first failure it is rolled back, and that
        failure is the outcome of the items after it too."""
        tx = Transaction(conn)
        outcomes: list[Outcome] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for item in items:
                try:
                    outcomes.append((True, item.fn(tx)))
                except Exception as exc:
                    outcomes.append((False, exc))
                    conn.execute("ROLLBACK")
                    return outcomes + [(False, exc)] * (len(items) - len(outcomes))
            conn.execute("COMMIT")
            self.commits += 1
        except sqlite3.Error as exc:
            # BEGIN or COMMIT failed (disk full, I/O error): nothing landed.
            logger.error("database transaction failed: %s", exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return [(False, exc)] * len(items)
        return outcomes
