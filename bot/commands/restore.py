"""``python -m bot after-restore``: a database brought back from a backup is made safe to
start, on SQLite and PostgreSQL alike. Run it once after restoring, before the bot.

What it changes, and why, is the core's (``core/restore.py``). Here: which database
(DATABASE_URL), a refusal while any bot runs on it (the SQLite guard; on PostgreSQL the
active bot's advisory lock, held while it works), and what it did, printed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from bot.commands.parsing import Subcommands
from bot.leader import AlreadyRunning, SqliteGuard
from core.clock import Clock, SystemClock
from core.config import ConfigError, database_url, existing_sqlite_path, is_postgresql_url
from core.restore import RestoreReport, format_utc, make_restore_safe
from storage import postgresql
from storage.backup import clear_backup_mark
from storage.db import open_database, redact_url, sqlite_path
from storage.leader_lock import try_lock_for_a_tool

# ------------------------------------------------------------------- the command


def after_restore_command(env: Mapping[str, str], clock: Clock | None = None) -> int:
    """``python -m bot after-restore`` on DATABASE_URL, with every bot stopped."""
    url = database_url(env)
    clock = clock or SystemClock()
    if is_postgresql_url(url):
        with _no_active_bot(url):
            report = asyncio.run(_run(url, clock))
    else:
        path = existing_sqlite_path(url)
        guard = SqliteGuard(path)
        try:
            guard.acquire()
        except AlreadyRunning:
            raise ConfigError(
                f"a python -m bot runs on {url} (it holds {guard.path}): stop it, restore "
                "the backup, then run after-restore"
            ) from None
        try:
            report = asyncio.run(_run(url, clock))
            clear_backup_mark(path)
        finally:
            guard.release()
    where = redact_url(url) if is_postgresql_url(url) else str(sqlite_path(url))
    for line in describe(report, where):
        print(line)
    return 0


async def _run(url: str, clock: Clock) -> RestoreReport:
    db = await open_database(url)
    try:
        return await make_restore_safe(db, clock)
    finally:
        await db.close()


@contextmanager
def _no_active_bot(url: str) -> Iterator[None]:
    """Hold the active bot's advisory lock while we work: refused when a bot holds it,
    and no standby becomes active meanwhile."""
    conn = postgresql.connect(url, application_name="2fa-desk (after-restore)")
    try:
        if not try_lock_for_a_tool(conn):
            raise ConfigError(
                f"a python -m bot is active on {redact_url(url)}: stop every bot (and "
                "python -m bot api), restore the backup, then run after-restore"
            )
        yield
    finally:
        conn.close()  # ending the session releases the lock


def describe(report: RestoreReport, where: str) -> list[str]:
    """What after-restore did, for the operator."""
    latest = "none" if report.latest_entry is None else format_utc(report.latest_entry)
    r = report
    return [
        f"made {where} safe to start (its latest audit entry, about when the backup was "
        f"taken: {latest}):",
        f"  codes shown before {format_utc(r.codes_before)} count as used, on "
        f"{_n(r.devices, 'device')}: users wait for their app's next code",
        f"  {_n(r.links, 'enrolment link')} voided; {_n(r.enrolments, 'set-up')}, "
        f"{_n(r.conversations, 'waiting conversation')} and {_n(r.grants, 'grant')} ended",
        f"  {_n(r.recovery_codes, 'unused recovery code')} voided; the people of "
        f"{_n(r.accounts_told, 'account')} will be told to get a new set with /recovery "
        "and to check /devices; the ops chat gets a warning",
        "start the bot now. Devices removed since the backup are back, those added since "
        "are gone: README, Operating it: backups, says what to check.",
    ]


def _n(count: int, thing: str) -> str:
    return f"{count:,} {thing}" + ("" if count == 1 else "s")


# ------------------------------------------------------------------ the arguments


def add_parser(commands: Subcommands) -> None:
    """``after-restore``."""
    commands.add_parser(
        "after-restore",
        help="run once after restoring a backup, before starting the bot",
        description="Make a database restored from a backup safe to start: codes from "
        "before now count as used, unused enrolment links, set-ups, conversations and "
        "grants end, unused recovery codes are voided and the users told to get new ones. "
        "Stop every bot first.",
    )
