"""``python -m bot backup FILE``: a consistent copy of the SQLite database, while the bot
runs, checked; on PostgreSQL, the one line that says ``pg_dump`` is the way.

The copy itself is storage's (``storage.backup``, which says how and what it costs the
running bot). Here: which database (DATABASE_URL, from the environment or ``.env``; no
other setting is needed, so a backup job needs no secrets), a progress bar when it takes
long, and the result in one line.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Never
from urllib.parse import urlsplit, urlunsplit

from tqdm import tqdm

from bot.commands.parsing import Subcommands
from core.config import ConfigError, database_url, is_postgresql_url
from storage.backup import (
    BackupError,
    BackupProgress,
    BackupRefused,
    BackupReport,
    backup_sqlite,
)
from storage.db import redact_url, sqlite_path

BAR_DELAY_S = 1.0  # a backup that takes less shows no bar


def backup_command(env: Mapping[str, str], target: Path, *, force: bool = False) -> int:
    """Back up DATABASE_URL (SQLite) to ``target``: 0, or 1 with the reason in one line."""
    url = database_url(env)
    if is_postgresql_url(url):
        raise ConfigError(
            f"DATABASE_URL is {redact_url(url)}: back PostgreSQL up with pg_dump: "
            f"pg_dump --format=custom --file={target} '{_without_password(url)}' (the "
            "password in ~/.pgpass or PGPASSWORD; README, Operating it: backups)"
        )
    source = sqlite_path(url)
    try:
        report = _backup_with_progress(source, target, force)
    except BackupRefused as exc:
        raise ConfigError(str(exc)) from None
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(summary(source, report))
    return 0


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=user + parts.netloc.rpartition("@")[2]))


def _backup_with_progress(source: Path, target: Path, force: bool) -> BackupReport:
    bars = _Bars()
    try:
        return backup_sqlite(
            source, target, replace=force, progress=bars.copied, checking=bars.checking
        )
    finally:
        bars.close()


class _Bars:
    """Pages copied, then the time the integrity check takes; shown after a second."""

    def __init__(self) -> None:
        self._copying = tqdm(
            total=0,
            unit=" pages",
            desc="copying",
            file=sys.stderr,
            dynamic_ncols=True,
            delay=BAR_DELAY_S,
        )
        self._checking: tqdm[Never] | None = None

    def copied(self, step: BackupProgress) -> None:
        if self._copying.total != step.pages:
            self._copying.total = step.pages
        self._copying.update(step.pages_done - self._copying.n)

    def checking(self) -> None:
        if self._checking is None:
            self._copying.close()
            self._checking = tqdm(
                desc="checking the copy",
                bar_format="{desc}: {elapsed}",
                file=sys.stderr,
                delay=BAR_DELAY_S,
            )
        self._checking.update(0)  # the time it has taken so far

    def close(self) -> None:
        self._copying.close()
        if self._checking is not None:
            self._checking.close()


def summary(source: Path, report: BackupReport) -> str:
    """One line: where, how big, the check, the rows."""
    rows = ", ".join(f"{table} {count:,}" for table, count in report.rows.items() if count)
    return (
        f"backed up {source} to {report.path} ({_when(report.taken_at)}): "
        f"{_size(report.size)} in {report.seconds:.1f} s, migration {report.migration}, "
        f"integrity ok, {report.total_rows:,} rows" + (f" ({rows})" if rows else "")
    )


def _size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            break
        value /= 1000
    return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


# ------------------------------------------------------------------ the arguments


def add_parser(commands: Subcommands) -> None:
    """``backup FILE [--force]``."""
    backup = commands.add_parser(
        "backup",
        help="a consistent copy of the SQLite database (DATABASE_URL), while the bot runs",
        description="Copy the SQLite database named by DATABASE_URL to FILE (mode 0600) with "
        "SQLite's online backup API while the bot keeps running, then check the copy "
        "(integrity, migration) and print its size and row counts. On PostgreSQL: pg_dump.",
    )
    backup.add_argument("file", type=Path, metavar="FILE", help="where the copy goes")
    backup.add_argument("--force", action="store_true", help="replace FILE if it exists")
