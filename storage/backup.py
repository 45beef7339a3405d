"""A consistent copy of the SQLite database while the bot runs on it (SQLite's online
backup API), and the mark that says a file is a backup nobody has made safe yet.

How the copy works, and why. Measured on the 2-core machine: a 275 MB database (1.5
million audit rows), 16 tasks verifying codes through the bot's own database class at
3,000 to 5,000 verifications/s, the backup from another thread:

- From a connection of its own; the bot's connection, thread and lock file are left
  alone. The database is in WAL mode, where a reader never blocks the writer.
- Inside one read transaction, held from the first page to the last: the copy is the
  snapshot of one moment, and the backup API never starts over. Without it, the API
  reads each step from the database as it is then, and a commit by the bot between two
  steps sends it back to the first page: under that load a copy of 47 MB had not
  finished after 60 s (the WAL had grown to 1 GB meanwhile). With it, the copy goes in
  steps of ``PAGES_PER_STEP``, a progress report after each, and never restarts.
- While the snapshot is held, the bot's checkpoints cannot go past it and the WAL grows
  by what the bot writes in those seconds; it is checkpointed as usual afterwards.
- The copy is flushed to disk after each step (``fdatasync``). Flushed once at the end
  (as one ``pages=-1`` step would), 275 MB of dirty pages made the bot's next COMMIT
  wait behind them: every verification in flight stalled for 0.6 to 0.8 s. Flushed step
  by step: the copy takes 2.8 to 3.0 s, the longest verification meanwhile 24 to 56 ms
  (12 to 23 ms before), and the bot verifies 1,150 to 2,150 codes/s in those seconds
  instead of 2,950 to 5,050 (the flushes share the disk with its commits).
- Then ``PRAGMA integrity_check`` on the copy, not on the live database: 13 to 16 s for
  275 MB, which the bot only feels as CPU (1,900 to 3,550 verifications/s, the longest
  36 to 58 ms). Then the copy's migration version is compared with the one the snapshot
  read, and the rows of every table are counted. An 18.6 MB database: 0.7 to 0.8 s in all.

The copy is written to a temporary file (0600: it holds sealed secrets and keyed hashes)
beside the target, and only a copy that passed the check takes the target's name.

The copy is marked (``PRAGMA user_version``: the time it was taken): a backup brought
back must not start as it is, because codes, recovery codes and links used after it
was taken would work again. ``python -m bot after-restore`` makes it safe and clears the
mark; the bot refuses to start on a marked file.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from storage.sqlite import BUSY_TIMEOUT_MS, PRIVATE_FILE, data_tables, row_count

PAGES_PER_STEP = 1024  # 4 MB with SQLite's default page size
CHECK_TICK = 1_000_000  # SQLite VM instructions between two signs of life of the check


class BackupError(RuntimeError):
    """The backup cannot be made, or the copy is not sound; nothing was left behind."""


class BackupRefused(BackupError):
    """The backup was not started: the database or the target is not what it should be
    (no database there, the target exists or is the database itself, ...)."""


class TargetExists(BackupRefused):
    """The target file exists and replacing it was not asked for."""


@dataclass(frozen=True)
class BackupProgress:
    pages_done: int
    pages: int


@dataclass(frozen=True)
class BackupReport:
    path: Path
    size: int  # bytes
    migration: int
    rows: dict[str, int]  # per table, counted in the copy
    taken_at: datetime
    seconds: float

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def backup_sqlite(
    source: Path,
    target: Path,
    *,
    replace: bool = False,
    progress: Callable[[BackupProgress], None] | None = None,
    checking: Callable[[], None] | None = None,
    pages_per_step: int | None = None,
) -> BackupReport:
    """Copy the SQLite database ``source`` to ``target`` (see the module docstring).

    ``progress`` hears after each step of the copy (``pages_per_step`` pages, default
    ``PAGES_PER_STEP``), ``checking`` now and then during the integrity check. Raises
    ``BackupRefused`` before it starts (``TargetExists`` when ``target`` exists and
    ``replace`` is false), ``BackupError`` when the copy fails; each with a message for
    the operator."""
    started = time.monotonic()
    _check_places(source, target, replace)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".partial")
    partial = Path(name)
    try:
        os.fchmod(fd, PRIVATE_FILE)
        steps = pages_per_step or PAGES_PER_STEP
        taken_at, migration = _copy(source, partial, fd, progress, steps)
        rows = _mark_and_check(partial, taken_at, migration, checking)
        os.fsync(fd)
        _put_in_place(partial, target, replace)
    except BaseException:
        for leftover in (partial, partial.with_name(partial.name + "-journal")):
            leftover.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)
    return BackupReport(
        path=target,
        size=target.stat().st_size,
        migration=migration,
        rows=rows,
        taken_at=taken_at,
        seconds=time.monotonic() - started,
    )


def _check_places(source: Path, target: Path, replace: bool) -> None:
    if not source.is_file():
        raise BackupRefused(f"there is no SQLite database at {source} to back up")
    if target.is_dir():
        raise BackupRefused(f"{target} is a folder: name the file, e.g. {target}/twofa.sqlite3")
    if not target.parent.is_dir():
        raise BackupRefused(f"there is no folder {target.parent} for {target}: create it first")
    live = source.resolve()
    companions = {live, *(live.with_name(live.name + end) for end in ("-wal", "-shm", ".lock"))}
    if target.resolve() in companions:
        raise BackupRefused(
            f"{target} is the database itself (or one of its files): choose another"
        )
    if target.exists() and not replace:
        raise TargetExists(f"{target} exists: choose another name, or --force to replace it")


def _copy(
    source: Path,
    partial: Path,
    fd: int,
    progress: Callable[[BackupProgress], None] | None,
    pages_per_step: int,
) -> tuple[datetime, int]:
    """Copy one snapshot of ``source`` into ``partial``; (when, its migration version)."""
    src = sqlite3.connect(source, isolation_level=None)
    try:
        src.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        src.execute("PRAGMA query_only = 1")
        dst = sqlite3.connect(partial, isolation_level=None)
        try:
            # Flushed by us after each step instead (see the module docstring).
            dst.execute("PRAGMA synchronous = OFF")
            src.execute("BEGIN")  # the snapshot: from here to COMMIT, one moment
            migration = _migration(src, source)
            taken_at = datetime.now(UTC)

            def step(status: int, remaining: int, pages: int) -> None:
                os.fdatasync(fd)
                if progress is not None:
                    progress(BackupProgress(pages - remaining, pages))

            src.backup(dst, pages=pages_per_step, progress=step)
            src.execute("COMMIT")
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy {source}: {exc}") from exc
    finally:
        src.close()
    os.fdatasync(fd)
    return taken_at, migration


def _migration(conn: sqlite3.Connection, path: Path) -> int:
    try:
        row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    except sqlite3.OperationalError:
        row = None
    if row is None or row[0] is None:
        raise BackupError(f"{path} is not a 2FA Desk database (it has no migrations)")
    return int(row[0])


def _mark_and_check(
    partial: Path, taken_at: datetime, migration: int, checking: Callable[[], None] | None
) -> dict[str, int]:
    """Make the copy one self-contained file, mark it, check it; its row counts."""
    conn = sqlite3.connect(partial, isolation_level=None)
    try:
        # One file (no -wal beside it); the bot puts WAL back when it opens the database.
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute(f"PRAGMA user_version = {int(taken_at.timestamp())}")
        if checking is not None:
            conn.set_progress_handler(lambda: checking() or 0, CHECK_TICK)
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        conn.set_progress_handler(None, 0)
        if problems != ["ok"]:
            shown = "; ".join(problems[:3]) + (" ..." if len(problems) > 3 else "")
            raise BackupError(f"the copy failed its integrity check ({shown}); nothing was kept")
        copied = _migration(conn, partial)
        if copied != migration:
            raise BackupError(
                f"the copy is at migration {copied}, the database was at {migration}; "
                "nothing was kept"
            )
        return _row_counts(conn)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot check the copy: {exc}") from exc
    finally:
        conn.close()


def _row_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {table: row_count(conn, table) for table in data_tables(conn)}


def _put_in_place(partial: Path, target: Path, replace: bool) -> None:
    """The checked copy takes the target's name, atomically, and the name is on disk."""
    if replace:
        os.replace(partial, target)
    else:
        try:
            os.link(partial, target)  # fails if someone created the target meanwhile
        except FileExistsError:
            raise TargetExists(
                f"{target} exists: choose another name, or --force to replace it"
            ) from None
        partial.unlink()
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


# ---------------------------------------------------------------- the mark of a backup


def backup_mark(path: Path) -> datetime | None:
    """When the backup ``path`` was taken, if it is one nobody has made safe yet."""
    if not path.is_file():
        return None
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        value = int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()
    return datetime.fromtimestamp(value, UTC) if value > 0 else None


def clear_backup_mark(path: Path) -> None:
    """The restored database is safe to start (``python -m bot after-restore`` ran)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA user_version = 0")
    finally:
        conn.close()
