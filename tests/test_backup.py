"""Backups: ``python -m bot backup FILE`` copies the live SQLite database while codes are
checked, and ``python -m bot after-restore`` makes a restored one safe (both backends)."""

from __future__ import annotations

import asyncio
import base64
import logging
import shutil
import sqlite3
from pathlib import Path

import pytest

from bench._postgres import PostgresServer
from bot.__main__ import main
from bot.commands.restore import after_restore_command
from bot.leader import LeaderLock, SqliteGuard
from core import grants, totp
from core.accounts import TelegramIdentity
from core.audit_chain import AuditChain
from core.clock import FakeClock
from core.config import ConfigError
from core.conversation import Conversations, Flow, Step
from core.crypto import SecretBox
from core.enrolment import EnrolmentService
from core.enrolment_results import EnrolmentStarted
from core.leadership import Leadership
from core.links import EnrolmentLinks, LinkOutcome
from core.restore import refuse_unrestored_backup
from core.verification import Result, VerificationService
from storage import backup as storage_backup
from storage.backup import backup_mark
from storage.db import Database, open_database
from tests.conftest import TEST_TOKEN
from tests.core_helpers import enrol

PEOPLE = [TelegramIdentity(1001 + n, f"user{n}", f"User {n}") for n in range(3)]
ANN, BEN = PEOPLE[0], PEOPLE[1]
CAROL = TelegramIdentity(2001, "carol", "Carol")  # mid-enrolment, no device yet
GUESSER = TelegramIdentity(3001, "guesser", "Guesser")  # the load: wrong codes, then locked


def step(clock: FakeClock) -> int:
    return totp.time_step(clock.now())


async def run(*argv: str) -> None:
    process = await asyncio.create_subprocess_exec(*argv)
    assert await process.wait() == 0, argv


async def audit_verify(capsys: pytest.CaptureFixture[str]) -> str:
    """``python -m bot audit verify`` in this process: what it says (it must hold). ``main``
    configures logging: the root logger is put back as it was."""
    capsys.readouterr()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        status = await asyncio.to_thread(main, ["audit", "verify"])
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    said = capsys.readouterr().out
    assert status == 0, said
    return said


async def count(db: Database, table: str) -> int:
    query = f"SELECT count(*) FROM {table}"  # noqa: S608 - the schema's table names
    return int(await db.run(lambda tx: tx.connection.execute(query).fetchone()[0]))


# ---------------------------------------------------------------------------- backup


async def test_a_backup_taken_under_load_opens_verifies_the_next_code_and_its_chain(
    db: Database,
    db_path: Path,
    box: SecretBox,
    secrets_key: bytes,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    people = [
        await enrol(EnrolmentService(db, box, clock, issuer="2FA Desk"), clock, who)
        for who in PEOPLE
    ]
    guessed = (
        await enrol(EnrolmentService(db, box, clock, issuer="2FA Desk"), clock, GUESSER)
    ).account
    clock.advance(seconds=90)
    # Small steps, so that the bot's commits land between the steps of the copy.
    monkeypatch.setattr(storage_backup, "PAGES_PER_STEP", 2)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db_path}")
    verifier = VerificationService(db, box, clock)
    chain = AuditChain(db, clock, box)
    checked = 0
    stop = asyncio.Event()

    async def login(n: int) -> None:
        """Logins with wrong codes and for accounts without 2FA: each one is a commit."""
        nonlocal checked
        while not stop.is_set():
            account = guessed if n % 2 else f"someone-{checked}@example.com"
            await verifier.verify(account, "000000", actor="api")
            checked += 1

    async def chain_job() -> None:
        """The active bot's job: the audit rows chained in batches, as they come."""
        while not stop.is_set():
            await chain.chain_pending()
            await asyncio.sleep(0.005)

    load = [asyncio.create_task(login(n)) for n in range(8)]
    load.append(asyncio.create_task(chain_job()))
    while checked < 50:  # noqa: ASYNC110 - the load is under way
        await asyncio.sleep(0.01)
    rows_before, checked_before = await count(db, "audit_log"), checked
    target = tmp_path / "backups" / "twofa.sqlite3"
    target.parent.mkdir(mode=0o700)
    status = await asyncio.to_thread(main, ["backup", str(target)])
    checked_during = checked - checked_before
    stop.set()
    await asyncio.gather(*load)
    rows_after = await count(db, "audit_log")

    assert status == 0
    assert checked_during > 0  # the bot kept verifying while the copy was made
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"backed up {db_path} to {target}")
    assert "integrity ok" in line and "devices 4," in line and "\n" not in line
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # nothing left over
    assert backup_mark(target) is not None

    # Restored (copied into place) and opened with the same keyring.
    restored_path = tmp_path / "restored" / "twofa.sqlite3"
    restored_path.parent.mkdir(mode=0o700)
    shutil.copy(target, restored_path)
    restored = await open_database(f"sqlite:///{restored_path}")
    try:
        rows = await count(restored, "audit_log")
        assert rows_before <= rows <= rows_after  # one moment of the load
        devices = await count(restored, "devices")
        assert devices == await count(db, "devices") == len(PEOPLE) + 1
        clock.advance(seconds=30)
        for person in people:
            code = totp.code_at_step(person.secret, step(clock))
            verdict = await VerificationService(restored, box, clock).verify(
                person.account, code, actor="api"
            )
            assert verdict.result is Result.ACCEPTED, person.account
    finally:
        await restored.close()

    # The audit chain in it holds: python -m bot audit verify, with the same keyring.
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("SECRETS_KEYS_PREVIOUS", "API_TOKEN", "TELEGRAM_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TEST_TOKEN)
    monkeypatch.setenv("SECRETS_KEY", base64.urlsafe_b64encode(secrets_key).decode())
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{restored_path}")
    verified = await audit_verify(capsys)
    assert verified.startswith("ok: ") and " 0 rows chained" not in verified

    # Made safe, the restore's own entries continue the chain, and it still holds.
    await asyncio.to_thread(after_restore_command, {"DATABASE_URL": f"sqlite:///{restored_path}"})
    restored = await open_database(f"sqlite:///{restored_path}")
    try:
        restored_chain = AuditChain(restored, clock, box)
        while await restored_chain.unchained():
            await restored_chain.chain_pending()
    finally:
        await restored.close()
    assert (await audit_verify(capsys)).split("\n")[0].endswith(" 0 not chained yet")


async def test_an_existing_file_is_refused_unless_forced(
    db: Database,
    db_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db_path}")
    target = tmp_path / "backup.sqlite3"
    target.write_bytes(b"last night's backup")

    assert main(["backup", str(target)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {target} exists: choose another name, or --force to replace it\n"
    assert target.read_bytes() == b"last night's backup"

    assert main(["backup", str(db_path)]) == 2  # never onto the database itself
    assert "is the database itself" in capsys.readouterr().err

    assert main(["backup", "--force", str(target)]) == 0
    assert target.read_bytes().startswith(b"SQLite format 3\0")
    assert target.stat().st_mode & 0o777 == 0o600


def test_on_postgresql_the_answer_is_pg_dump(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://twofa:hunter2@db.example.org/twofa")
    assert main(["backup", "twofa.dump"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pg_dump --format=custom --file=twofa.dump" in err
    assert "hunter2" not in err


async def test_a_pg_dump_restored_and_made_safe_verifies_the_next_code(
    postgres_server: PostgresServer, box: SecretBox, clock: FakeClock, tmp_path: Path
) -> None:
    """The README's pg_dump and pg_restore commands, then after-restore."""
    dump = tmp_path / "twofa.dump"
    with postgres_server.database() as source:
        db = await open_database(source)
        ann = await enrol(EnrolmentService(db, box, clock, issuer="2FA Desk"), clock, ANN)
        clock.advance(seconds=90)
        code = totp.code_at_step(ann.secret, step(clock))
        verifier = VerificationService(db, box, clock)
        assert (await verifier.verify(ann.account, code, actor="api")).result is Result.ACCEPTED
        await db.close()
        pg_dump = [str(postgres_server.bin / "pg_dump"), "--format=custom", f"--file={dump}"]
        await run(*pg_dump, source)
    target = postgres_server.create_database()  # empty: no migrations either
    try:
        pg_restore = [str(postgres_server.bin / "pg_restore"), "--no-owner", "--exit-on-error"]
        await run(*pg_restore, "--single-transaction", f"--dbname={target}", str(dump))
        await asyncio.to_thread(after_restore_command, {"DATABASE_URL": target}, clock)
        db = await open_database(target)
        try:
            verifier = VerificationService(db, box, clock)
            assert (await verifier.verify(ann.account, code, actor="api")).result is Result.REJECTED
            clock.advance(seconds=60)
            code = totp.code_at_step(ann.secret, step(clock))
            assert (await verifier.verify(ann.account, code, actor="api")).result is Result.ACCEPTED
        finally:
            await db.close()
    finally:
        postgres_server.drop_database(target)


async def test_the_bot_does_not_start_on_a_backup_until_after_restore(
    db: Database, db_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db_path}")
    target = tmp_path / "backup.sqlite3"
    assert await asyncio.to_thread(main, ["backup", str(target)]) == 0
    refuse_unrestored_backup(db_path)  # the live database is not marked

    with pytest.raises(ConfigError, match="run python -m bot after-restore first"):
        refuse_unrestored_backup(target)
    await asyncio.to_thread(after_restore_command, {"DATABASE_URL": f"sqlite:///{target}"})
    refuse_unrestored_backup(target)


# --------------------------------------------------------------------- after-restore


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
async def test_after_restore_spends_what_the_backup_holds_unspent(
    db: Database,
    database_url: str,
    box: SecretBox,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ann = await enrol(EnrolmentService(db, box, clock, issuer="2FA Desk"), clock, ANN)
    await enrol(EnrolmentService(db, box, clock, issuer="2FA Desk"), clock, BEN)
    clock.advance(seconds=90)
    verifier = VerificationService(db, box, clock)
    code = totp.code_at_step(ann.secret, step(clock))
    assert (await verifier.verify(ann.account, code, actor="api")).result is Result.ACCEPTED
    link = await EnrolmentLinks(db, clock, verifier).mint("dora@example.com")
    carol = await EnrolmentService(db, box, clock, issuer="2FA Desk").start(CAROL, CAROL.user_id)
    assert isinstance(carol, EnrolmentStarted)
    await Conversations(db, clock).claim(BEN.user_id, BEN.user_id, Flow.CHECK, Step.CODE)
    now = clock.now()
    await db.run(lambda tx: grants.give(tx, ann.account, ANN.user_id, grants.Grant.RENAME, now))
    await db.close()

    env = {"DATABASE_URL": database_url}
    assert await asyncio.to_thread(after_restore_command, env, clock) == 0
    out = capsys.readouterr().out
    assert "on 2 devices" in out and "20 unused recovery codes voided" in out
    assert "the people of 2 accounts will be told" in out
    assert await asyncio.to_thread(after_restore_command, env, clock) == 0  # again: no harm
    assert "0 unused recovery codes voided; the people of 0 accounts" in capsys.readouterr().out

    db = await open_database(database_url)
    try:
        verifier = VerificationService(db, box, clock)
        # Every code an app shows now, even the next one, counts as used; the one after works.
        for ahead in (0, 1):
            code = totp.code_at_step(ann.secret, step(clock) + ahead)
            assert (await verifier.verify(ann.account, code, actor="api")).result is Result.REJECTED
        clock.advance(seconds=60)
        code = totp.code_at_step(ann.secret, step(clock))
        assert (await verifier.verify(ann.account, code, actor="api")).result is Result.ACCEPTED
        rejected = await verifier.verify(ann.account, ann.recovery_codes[0], actor="api")
        assert rejected.result is Result.REJECTED

        opened = await EnrolmentLinks(db, clock, verifier).open(link.token, CAROL, CAROL.user_id)
        assert opened.outcome is LinkOutcome.VOID
        pending = await db.run(lambda tx: tx.enrolments.for_user(CAROL.user_id))
        assert pending is not None and pending.expires_at <= now  # the bot's expiry job ends it
        slot = await db.run(lambda tx: tx.conversations.get(BEN.user_id))
        assert slot is not None and slot.expires_at <= now  # "timed out", at the next message
        assert not await db.run(
            lambda tx: grants.holds(tx, ann.account, ANN.user_id, grants.Grant.RENAME, now)
        )

        notices = await db.run(lambda tx: tx.notices.due(clock.now()))
        told = sorted(n.account_id for n in notices if n.kind == "restored_from_backup")
        assert told == sorted([ann.account, f"tg:{BEN.user_id}"])  # once, after two runs
        alerts = await db.run(lambda tx: tx.alerts.due(clock.now()))
        restored = [a for a in alerts if a.kind == "database_restored"]
        assert restored[0].severity == "warning"
        assert restored[0].detail == {"devices": 2, "recovery_codes": 20, "accounts": 2}
        entries = await db.run(lambda tx: tx.audit.entries())
        assert [e.action for e in entries].count("database_restored") == 2
        assert {e.account_id for e in entries if e.action == "restore_made_safe"} == set(told)
    finally:
        await db.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
async def test_after_restore_is_refused_while_a_bot_runs(
    db: Database, database_url: str, db_path: Path
) -> None:
    if db.backend == "sqlite":
        bot: SqliteGuard | LeaderLock = SqliteGuard(db_path)
        bot.acquire()
    else:
        bot = LeaderLock(database_url, Leadership(db))
        await bot.acquire()
    try:
        with pytest.raises(ConfigError, match="stop"):
            await asyncio.to_thread(after_restore_command, {"DATABASE_URL": database_url})
    finally:
        if isinstance(bot, LeaderLock):
            await bot.release()
        else:
            bot.release()


def test_a_backup_copy_is_a_snapshot_of_one_moment(tmp_path: Path) -> None:
    """A commit between two steps of the copy does not show in it (nor restart it)."""
    live = tmp_path / "live.sqlite3"
    conn = sqlite3.connect(live, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE schema_migrations (version INTEGER)")
    conn.execute("INSERT INTO schema_migrations VALUES (1)")
    conn.execute("CREATE TABLE t (x BLOB)")
    conn.executemany("INSERT INTO t VALUES (?)", [(bytes(3000),)] * 40)
    steps: list[int] = []

    def commit_meanwhile(progress: storage_backup.BackupProgress) -> None:
        steps.append(progress.pages_done)
        conn.execute("INSERT INTO t VALUES (?)", (bytes(3000),))

    report = storage_backup.backup_sqlite(
        live, tmp_path / "copy.sqlite3", progress=commit_meanwhile, pages_per_step=4
    )
    assert len(steps) > 5 and steps == sorted(steps)  # never back to the first page
    assert report.rows == {"t": 40}
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 40 + len(steps)
    conn.close()
