"""``python -m bot after-restore``: a database brought back from a backup is made safe to
start, on SQLite and PostgreSQL alike. Run it once after restoring, before the bot.

A backup knows nothing of what was spent after it was taken: a code accepted since, a
recovery code used, a link opened, a proof given. Restored as it is, each would work a
second time. So, with the bot stopped:

- every active device's codes count as used up to the current time step plus one (the
  window: a code that was accepted before the restore may be one step ahead), so no code
  from before the restore is accepted again, not even the one an app shows right now;
  users wait for their app's next code (at most a minute);
- enrolment links not used yet are voided, pending set-ups, waiting conversations and
  unused grants run out now (the bot ends the set-ups at start, as when they expire, and
  tells their users; a waiting conversation hears so at the user's next message);
- recovery codes: a code used after the backup is unused in it, and nothing tells which
  one it was. Every unused recovery code is voided, and everyone who manages an account
  with 2FA is told (a user notice) to get a new set with /recovery, and to check
  /devices: a device added since the backup is gone, one removed since is back. The ops
  chat gets one warning alert with the counts.

Every change is audited: one entry per account told, one summary entry. Running it twice
changes nothing more but the time steps, and tells nobody twice (a notice still waiting
is not queued again).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from bot.leader import AlreadyRunning, SqliteGuard
from core import totp
from core.clock import Clock, SystemClock
from core.config import ConfigError, database_url, existing_sqlite_path, is_postgresql_url
from storage import postgresql
from storage.backup import backup_mark, clear_backup_mark
from storage.db import Database, open_database, redact_url, sqlite_path
from storage.leader_lock import try_lock_for_a_tool
from storage.repositories import Transaction
from storage.repositories.restore import RestoreRepository

ACTOR = "operator"
NOTICE = "restored_from_backup"
ALERT = "database_restored"
AUDITED = ("database_restored", "restore_made_safe")  # the summary, and per account
ACCOUNTS_PER_TRANSACTION = 200


@dataclass(frozen=True)
class RestoreReport:
    now: datetime
    spent_through: int  # time step: codes up to it count as used
    latest_entry: datetime | None  # the restored audit log's: about when the backup was taken
    devices: int  # active, each now past the spent step
    links: int
    enrolments: int
    conversations: int
    grants: int
    recovery_codes: int
    accounts_told: int

    @property
    def codes_before(self) -> datetime:
        """Codes an app shows before this moment are refused."""
        return datetime.fromtimestamp((self.spent_through + 1) * totp.PERIOD, UTC)


@dataclass(frozen=True)
class _Ended:
    latest_entry: datetime | None
    devices: int
    links: int
    enrolments: int
    conversations: int
    grants: int


async def make_restore_safe(
    db: Database,
    clock: Clock,
    *,
    accounts_per_transaction: int = ACCOUNTS_PER_TRANSACTION,
    progress: Callable[[int], None] | None = None,
) -> RestoreReport:
    """Spend what a restored database still holds as unspent (the module docstring).
    ``progress`` hears how many accounts were done after each transaction."""
    now = clock.now()
    spent_through = totp.time_step(now) + totp.WINDOW
    ended = await db.run(lambda tx: _end_everything_pending(tx, spent_through, now))
    voided = told = 0
    after = ""
    while True:
        batch, codes, notices = await db.run(
            partial(_tell_accounts, after=after, limit=accounts_per_transaction, now=now)
        )
        voided, told = voided + codes, told + notices
        if progress is not None:
            progress(len(batch))
        if len(batch) < accounts_per_transaction:
            break
        after = batch[-1]
    report = RestoreReport(
        now,
        spent_through,
        ended.latest_entry,
        ended.devices,
        ended.links,
        ended.enrolments,
        ended.conversations,
        ended.grants,
        voided,
        told,
    )
    await db.run(lambda tx: _record(tx, report))
    return report


def _restore(tx: Transaction) -> RestoreRepository:
    return RestoreRepository(tx.connection)


def _end_everything_pending(tx: Transaction, spent_through: int, now: datetime) -> _Ended:
    restore = _restore(tx)
    restore.spend_steps_through(spent_through)
    return _Ended(
        latest_entry=restore.latest_audit_at(besides=AUDITED),
        devices=restore.active_devices(),
        links=restore.void_links(now),
        enrolments=restore.end_enrolments(now),
        conversations=restore.end_conversations(now),
        grants=restore.end_grants(now),
    )


def _tell_accounts(
    tx: Transaction, after: str, limit: int, now: datetime
) -> tuple[list[str], int, int]:
    """Void the recovery codes of up to ``limit`` accounts with 2FA and tell their people;
    (the accounts, codes voided, notices queued)."""
    restore = _restore(tx)
    accounts = restore.accounts_with_2fa(after, limit)
    voided = told = 0
    for account_id in accounts:
        codes = restore.void_recovery_codes(account_id, now)
        notice = not restore.notice_waiting(account_id, NOTICE)
        if notice:
            tx.notices.add(account_id, NOTICE, now)
        if codes or notice:
            tx.audit.record(
                now,
                ACTOR,
                AUDITED[1],
                account_id=account_id,
                recovery_codes_voided=codes,
                notice=notice,
            )
        voided, told = voided + codes, told + int(notice)
    return accounts, voided, told


def _record(tx: Transaction, report: RestoreReport) -> None:
    latest = None if report.latest_entry is None else report.latest_entry.isoformat()
    tx.audit.record(
        report.now,
        ACTOR,
        AUDITED[0],
        latest_entry=latest,
        spent_through_step=report.spent_through,
        devices=report.devices,
        links_voided=report.links,
        enrolments_ended=report.enrolments,
        conversations_ended=report.conversations,
        grants_ended=report.grants,
        recovery_codes_voided=report.recovery_codes,
        accounts_told=report.accounts_told,
    )
    tx.alerts.raise_event(
        report.now,
        ALERT,
        "warning",
        devices=report.devices,
        recovery_codes=report.recovery_codes,
        accounts=report.accounts_told,
    )


# ------------------------------------------------------------------ the bot's start


def refuse_unrestored_backup(database: Path) -> None:
    """The bot does not start on an SQLite backup nobody has made safe yet."""
    taken_at = backup_mark(database)
    if taken_at is not None:
        raise ConfigError(
            f"{database} is a backup taken at {_when(taken_at)} and not made safe yet: run "
            "python -m bot after-restore first (else codes and recovery codes used since "
            "the backup would work again)"
        )


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
    latest = "none" if report.latest_entry is None else _when(report.latest_entry)
    r = report
    return [
        f"made {where} safe to start (its latest audit entry, about when the backup was "
        f"taken: {latest}):",
        f"  codes shown before {_when(r.codes_before)} count as used, on "
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


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
