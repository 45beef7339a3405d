"""The storage layer: migrations, pragmas, isolated transactions, the append-only audit log."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.clock import FakeClock
from storage.db import Database, DatabaseUrlError, split_statements, sqlite_path


async def test_fresh_database_is_migrated_with_wal_and_foreign_keys(db_path: Path) -> None:
    db = await Database.open(f"sqlite:///{db_path}")
    try:
        assert db_path.is_file()  # noqa: ASYNC240
        assert await db.migrate() == []  # already applied
    finally:
        await db.close()
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
        assert versions == [1]
    finally:
        conn.close()


async def test_reopening_keeps_data(db_path: Path, clock: FakeClock) -> None:
    db = await Database.open(f"sqlite:///{db_path}")
    async with db.transaction() as tx:
        await tx.accounts.ensure("acct", clock.now())
    await db.close()
    db = await Database.open(f"sqlite:///{db_path}")
    async with db.transaction() as tx:
        await tx.accounts.ensure("acct", clock.now())  # idempotent
        assert await tx.accounts.link_for(1) is None
    await db.close()


async def test_failed_transaction_changes_nothing(db: Database, clock: FakeClock) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.accounts.ensure("acct", clock.now())
            await tx.accounts.save_link(1, "acct", "ann", "Ann", clock.now())
            raise RuntimeError("boom")
    async with db.transaction() as tx:
        assert await tx.accounts.link_for(1) is None


async def test_foreign_keys_are_enforced(db: Database, clock: FakeClock) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        async with db.transaction() as tx:
            await tx.accounts.save_link(1, "no-such-account", None, "Ann", clock.now())


async def test_concurrent_transactions_do_not_interleave(db: Database, clock: FakeClock) -> None:
    """One coroutine's failure must not commit or lose another's work on the shared connection."""
    started = asyncio.Event()

    async def slow_failing() -> None:
        async with db.transaction() as tx:
            await tx.accounts.ensure("doomed", clock.now())
            started.set()
            await asyncio.sleep(0.05)  # the other coroutine runs now
            raise RuntimeError("roll me back")

    async def quick_success() -> None:
        await started.wait()
        async with db.transaction() as tx:
            await tx.accounts.ensure("kept", clock.now())

    results = await asyncio.gather(slow_failing(), quick_success(), return_exceptions=True)
    assert isinstance(results[0], RuntimeError)
    assert results[1] is None
    async with db.transaction() as tx:
        rows = await tx.accounts._all("SELECT id FROM accounts ORDER BY id")
    assert [row[0] for row in rows] == ["kept"]


async def test_many_concurrent_writers_all_land(db: Database, clock: FakeClock) -> None:
    async def write(i: int) -> None:
        async with db.transaction() as tx:
            await tx.accounts.ensure(f"acct-{i}", clock.now())
            await asyncio.sleep(0)
            await tx.audit.record(clock.now(), "test", "created", account_id=f"acct-{i}")

    await asyncio.gather(*(write(i) for i in range(50)))
    async with db.transaction() as tx:
        assert len(await tx.audit.entries()) == 50


async def test_audit_log_is_append_only(db: Database, clock: FakeClock) -> None:
    async with db.transaction() as tx:
        await tx.audit.record(clock.now(), "tg:1", "enrolment_started", account_id="a")
    for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            async with db.transaction() as tx:
                await tx.audit._run(statement)
    async with db.transaction() as tx:
        assert [e.action for e in await tx.audit.entries()] == ["enrolment_started"]


async def test_ping_answers_while_open_and_not_after_close(db_path: Path) -> None:
    db = await Database.open(f"sqlite:///{db_path}")
    assert await db.ping() is True
    await db.close()
    assert await db.ping() is False


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
