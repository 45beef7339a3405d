"""The storage layer: migrations, pragmas, whole transactions on one thread, group commit."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.clock import FakeClock
from storage.db import (
    Database,
    DatabaseClosedError,
    DatabaseUrlError,
    migration_scripts,
    split_statements,
    sqlite_path,
)
from storage.repositories import Transaction


def account_ids(tx: Transaction) -> list[str]:
    return [row[0] for row in tx.connection.execute("SELECT id FROM accounts ORDER BY id")]


async def test_fresh_database_is_migrated_with_wal_and_foreign_keys(db_path: Path) -> None:
    db = await Database.open(f"sqlite:///{db_path}")
    try:
        assert await db.migrate() == []  # already applied
        pragmas = await db.run(
            lambda tx: (
                tx.connection.execute("PRAGMA journal_mode").fetchone()[0],
                tx.connection.execute("PRAGMA foreign_keys").fetchone()[0],
                tx.connection.execute("PRAGMA busy_timeout").fetchone()[0],
                tx.connection.execute("PRAGMA synchronous").fetchone()[0],
            )
        )
        assert pragmas == ("wal", 1, 5000, 2)  # synchronous FULL: an accepted code stays used
    finally:
        await db.close()
    conn = sqlite3.connect(db_path)
    try:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
        assert versions == [version for version, _, _ in migration_scripts()]
    finally:
        conn.close()


async def test_reopening_keeps_data(db_path: Path, clock: FakeClock) -> None:
    db = await Database.open(f"sqlite:///{db_path}")
    await db.run(lambda tx: tx.accounts.ensure("acct", clock.now()))
    await db.close()
    db = await Database.open(f"sqlite:///{db_path}")
    await db.run(lambda tx: tx.accounts.ensure("acct", clock.now()))  # idempotent
    assert await db.run(account_ids) == ["acct"]
    await db.close()


async def test_failed_transaction_changes_nothing(db: Database, clock: FakeClock) -> None:
    def work(tx: Transaction) -> None:
        tx.accounts.ensure("acct", clock.now())
        tx.accounts.save_link(1, "acct", "ann", "Ann", clock.now())
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await db.run(work)
    assert await db.run(lambda tx: tx.accounts.link_for(1)) is None
    assert await db.run(account_ids) == []


async def test_foreign_keys_are_enforced(db: Database, clock: FakeClock) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await db.run(lambda tx: tx.accounts.save_link(1, "no-account", None, "Ann", clock.now()))


async def test_concurrent_work_is_isolated_and_a_failure_rolls_back_alone(
    db: Database, clock: FakeClock
) -> None:
    """Work queued together is committed together, but each piece stands alone."""

    def failing(tx: Transaction) -> None:
        tx.accounts.ensure("doomed", clock.now())
        raise RuntimeError("roll me back")

    def ok(name: str):
        return lambda tx: tx.accounts.ensure(name, clock.now())

    results = await asyncio.gather(
        db.run(ok("a")), db.run(failing), db.run(ok("b")), return_exceptions=True
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], RuntimeError)
    assert await db.run(account_ids) == ["a", "b"]


async def test_many_concurrent_writers_all_land_in_few_commits(
    db: Database, clock: FakeClock
) -> None:
    def write(i: int):
        def work(tx: Transaction) -> int:
            tx.accounts.ensure(f"acct-{i}", clock.now())
            tx.audit.record(clock.now(), "test", "created", account_id=f"acct-{i}")
            return i

        return work

    before = db.commits
    results = await asyncio.gather(*(db.run(write(i)) for i in range(200)))
    assert results == list(range(200))
    assert len(await db.run(lambda tx: tx.audit.entries())) == 200
    assert db.commits - before < 200  # grouped


async def test_audit_log_is_append_only(db: Database, clock: FakeClock) -> None:
    await db.run(lambda tx: tx.audit.record(clock.now(), "tg:1", "enrolment_started"))
    for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            await db.run(lambda tx, sql=statement: tx.connection.execute(sql))
    entries = await db.run(lambda tx: tx.audit.entries())
    assert [e.action for e in entries] == ["enrolment_started"]


async def test_ping_answers_while_open_and_not_after_close(db_path: Path) -> None:
    db = await Database.open(f"sqlite:///{db_path}")
    assert await db.ping() is True
    await db.close()
    assert await db.ping() is False
    with pytest.raises(DatabaseClosedError):
        await db.run(lambda tx: None)


async def test_close_finishes_queued_work(db_path: Path, clock: FakeClock) -> None:
    db = await Database.open(f"sqlite:///{db_path}")
    pending = [
        asyncio.ensure_future(db.run(lambda tx, i=i: tx.accounts.ensure(f"a{i}", clock.now())))
        for i in range(20)
    ]
    await asyncio.sleep(0)
    await db.close()
    await asyncio.gather(*pending)
    db = await Database.open(f"sqlite:///{db_path}")
    assert len(await db.run(account_ids)) == 20
    await db.close()


async def test_unopenable_path_fails_the_open(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(OSError):
        await Database.open(f"sqlite:///{blocker}/db.sqlite3")


def test_database_url_forms() -> None:
    assert sqlite_path("sqlite:///data/x.sqlite3") == Path("data/x.sqlite3")
    assert sqlite_path("sqlite:////var/lib/x.sqlite3") == Path("/var/lib/x.sqlite3")
    for bad in ("postgres://h/db", "sqlite:///", "data.sqlite3"):
        with pytest.raises(DatabaseUrlError):
            sqlite_path(bad)


def test_trigger_bodies_stay_one_statement() -> None:
    script = (
        "-- comment\nCREATE TABLE t (a INTEGER);\n"
        "CREATE TRIGGER t_no BEFORE DELETE ON t\nBEGIN\n  SELECT RAISE(ABORT, 'no');\nEND;\n"
    )
    statements = split_statements(script)
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def left_open(path: Path, mode: int) -> None:
    """Permissions an operator's earlier setup may have left (the bot never sets them)."""
    os.chmod(path, mode)


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def permissive_umask(request: pytest.FixtureRequest) -> Iterator[None]:
    previous = os.umask(request.param)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("permissive_umask")
async def test_new_database_files_are_readable_by_the_owner_only(
    db_path: Path, clock: FakeClock
) -> None:
    db = await Database.open(f"sqlite:///{db_path}")
    try:
        await db.run(lambda tx: tx.accounts.ensure("acct", clock.now()))
        files = [
            db_path,
            db_path.with_name(db_path.name + "-wal"),
            db_path.with_name(db_path.name + "-shm"),
        ]
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert mode(db_path.parent) == 0o700
    finally:
        await db.close()


async def test_existing_files_open_to_others_are_warned_about_and_left_alone(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = await Database.open(f"sqlite:///{db_path}")
    await db.close()
    left_open(db_path, 0o644)
    left_open(db_path.parent, 0o755)
    with caplog.at_level(logging.WARNING, logger="storage.db"):
        db = await Database.open(f"sqlite:///{db_path}")
        await db.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(db_path) in w and "644" in w for w in warnings), warnings
    assert any(str(db_path.parent) in w and "755" in w for w in warnings), warnings
    assert (mode(db_path), mode(db_path.parent)) == (0o644, 0o755)


async def test_a_new_database_in_an_open_folder_is_private_and_the_folder_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "shared"
    os.mkdir(folder)
    left_open(folder, 0o755)
    with caplog.at_level(logging.WARNING, logger="storage.db"):
        db = await Database.open(f"sqlite:///{folder / 'twofa.sqlite3'}")
        await db.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and str(folder) in warnings[0] and "755" in warnings[0]
    assert (mode(folder / "twofa.sqlite3"), mode(folder)) == (0o600, 0o755)


async def test_a_private_database_opens_without_warning(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = await Database.open(f"sqlite:///{db_path}")
    await db.close()
    with caplog.at_level(logging.WARNING, logger="storage.db"):
        db = await Database.open(f"sqlite:///{db_path}")
        await db.close()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
