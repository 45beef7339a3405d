"""``python -m bot copy-database --to URL``: the SQLite deployment moves up to PostgreSQL.

The copy itself is storage's (``storage.copy``: one snapshot of the SQLite file, one
PostgreSQL transaction, the row counts of every table compared before it commits).
Here: which database to copy (DATABASE_URL, from the environment or ``.env``), a
refusal while the bot runs on it or while it is a backup nobody has made safe (as the
bot refuses to start on one: PostgreSQL has no mark, so the copy would start as if it
were live, and codes and recovery codes spent since the backup would work again), a
progress bar, and the count check printed.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from tqdm import tqdm

from bot.commands.parsing import Subcommands
from bot.leader import AlreadyRunning, SqliteGuard
from core.config import ConfigError, database_url, existing_sqlite_path, is_postgresql_url
from core.restore import refuse_unrestored_backup
from storage.copy import CopyError, CopyProgress, CopyReport, copy_sqlite_to_postgresql
from storage.db import redact_url


def copy_database(env: Mapping[str, str], target: str) -> int:
    """Copy DATABASE_URL (SQLite) into the empty PostgreSQL database ``target``."""
    source = database_url(env)
    if is_postgresql_url(source):
        raise ConfigError(
            f"DATABASE_URL is {redact_url(source)}: copy-database copies from the SQLite "
            "database a deployment has now; run it with DATABASE_URL=sqlite:///..."
        )
    if not is_postgresql_url(target):
        raise ConfigError(
            f"--to must be a PostgreSQL URL (postgresql://user:password@host:5432/database), "
            f"got {redact_url(target)!r}"
        )
    path = existing_sqlite_path(source, " to copy")
    refuse_unrestored_backup(path)
    guard = SqliteGuard(path)
    try:
        guard.acquire()
    except AlreadyRunning:
        raise ConfigError(
            f"a python -m bot runs on {source} (it holds {guard.path}): stop it first, so "
            "that nothing it writes after the copy is left behind"
        ) from None
    try:
        print(f"copying {source} to {redact_url(target)}", flush=True)
        report = _copy_with_progress(source, target)
    except CopyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        guard.release()
    _print_check(report, target)
    return 0


def _copy_with_progress(source: str, target: str) -> CopyReport:
    with tqdm(total=0, unit=" rows", file=sys.stderr, dynamic_ncols=True) as bar:

        def progress(step: CopyProgress) -> None:
            if bar.total != step.rows:
                bar.total = step.rows
            bar.set_description_str(step.table, refresh=False)
            bar.update(step.rows_done - bar.n)

        return copy_sqlite_to_postgresql(source, target, progress=progress)


def _print_check(report: CopyReport, target: str) -> None:
    """Storage counted every table on both sides before it committed: equal, or no copy."""
    width = max((len(table) for table in report.rows), default=5)
    print("count check, rows in SQLite = rows in PostgreSQL:")
    for table, rows in report.rows.items():
        print(f"  {table:<{width}}  {rows:>9,} = {rows:,}")
    print(
        f"copied {report.total:,} rows in {len(report.rows)} tables, every count equal. "
        f"Now set DATABASE_URL={redact_url(target)} (SECRETS_KEY stays the same) and start "
        "the bot."
    )


# ------------------------------------------------------------------ the arguments


def add_parser(commands: Subcommands) -> None:
    """``copy-database --to URL``."""
    copy = commands.add_parser(
        "copy-database",
        help="copy the SQLite database (DATABASE_URL) into an empty PostgreSQL database",
        description="Copy everything in the SQLite database named by DATABASE_URL (sealed "
        "secrets, audit log and all) into an empty PostgreSQL database, then compare the "
        "row counts. Stop the bot first.",
    )
    copy.add_argument("--to", required=True, metavar="URL", help="postgresql://...")
