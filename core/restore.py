"""After a restore: a database brought back from a backup is made safe to start, on
SQLite and PostgreSQL alike (``python -m bot after-restore``, bot/commands/restore.py,
runs it once after restoring, before the bot; the bot refuses to start on an SQLite
backup nobody has made safe).

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

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from core import totp
from core.clock import Clock
from core.config import ConfigError
from storage.backup import backup_mark
from storage.db import Database
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
            f"{database} is a backup taken at {format_utc(taken_at)} and not made safe yet: run "
            "python -m bot after-restore first (else codes and recovery codes used since "
            "the backup would work again)"
        )


def format_utc(moment: datetime) -> str:
    """A moment for the operator, in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
