"""Moving up: an SQLite deployment copied into PostgreSQL keeps working there."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from bench._postgres import PostgresServer
from bot.__main__ import main
from core import totp
from core.clock import FakeClock
from core.crypto import SecretBox
from core.deactivation import DeactivationService
from core.enrolment import EnrolmentService
from core.verification import Result, VerificationService
from storage import copy as copying
from storage.copy import CopyError, CopyProgress, copy_sqlite_to_postgresql
from storage.db import Database, open_database
from tests.core_helpers import ANN, enrol

ACCOUNT = "tg:1001"


@pytest.fixture
def target(postgres_server: PostgresServer) -> Iterator[str]:
    """An empty, unmigrated PostgreSQL database (the copy migrates it)."""
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


def deactivation(db: Database, clock: FakeClock) -> DeactivationService:
    return DeactivationService(
        db,
        clock,
        support_enabled=True,
        configured_agents=frozenset({9001}),
        default_duration=timedelta(hours=24),
        longest_duration=timedelta(hours=72),
        request_ttl=timedelta(hours=48),
    )


async def enrolled_sqlite(db_path: Path, box: SecretBox, clock: FakeClock) -> tuple[str, int]:
    """Ann enrolled on SQLite through the core, with a failed check and a request:
    (her secret, the request's id)."""
    db = await open_database(f"sqlite:///{db_path}")
    try:
        ann = await enrol(EnrolmentService(db, box, clock, issuer="2FA Desk"), clock)
        await VerificationService(db, box, clock).verify(ACCOUNT, "000000", actor="api")
        filed = await deactivation(db, clock).file(ANN, 1001, "lost my phone")
        assert filed.request is not None
        return ann.secret, filed.request.id
    finally:
        await db.close()


def step(clock: FakeClock) -> int:
    return totp.time_step(clock.now())


async def test_a_copied_deployment_verifies_the_same_codes(
    db_path: Path, target: str, box: SecretBox, clock: FakeClock
) -> None:
    secret, request_id = await enrolled_sqlite(db_path, box, clock)
    seen: list[CopyProgress] = []

    report = copy_sqlite_to_postgresql(
        f"sqlite:///{db_path}", target, progress=seen.append, batch_rows=2
    )

    source = sqlite3.connect(db_path)
    for table, rows in report.rows.items():
        counted = f'SELECT count(*) FROM "{table}"'  # noqa: S608 - the schema's table names
        assert source.execute(counted).fetchone()[0] == rows
    source.close()
    assert report.rows["devices"] == 1 and report.rows["recovery_codes"] == 10
    assert report.rows["audit_log"] > 5
    assert seen[-1].rows_done == seen[-1].rows == report.total
    assert [p.rows_done for p in seen] == sorted(p.rows_done for p in seen)

    db = await open_database(target)
    try:
        verifier = VerificationService(db, box, clock)
        # The secret sealed on SQLite opens on PostgreSQL: the device's codes verify.
        accepted = await verifier.verify(
            ACCOUNT, totp.code_at_step(secret, step(clock)), actor="api"
        )
        assert accepted.result is Result.ACCEPTED and accepted.device is not None
        assert accepted.device.name == "Phone"
        assert (await verifier.verify(ACCOUNT, "000000", actor="api")).result is Result.REJECTED
        # Ids are kept, and new rows continue after them.
        copied = await db.run(lambda tx: tx.requests.get(request_id))
        assert copied is not None and copied.reason == "lost my phone"
        desk = deactivation(db, clock)
        await desk.withdraw(ANN, request_id)
        again = await desk.file(ANN, 1001, "still lost")
        assert again.request is not None and again.request.id > request_id
        entries = await db.run(lambda tx: tx.audit.entries(ACCOUNT))
        assert [e.id for e in entries] == sorted(e.id for e in entries)
        assert len({e.id for e in entries}) == len(entries)
    finally:
        await db.close()


async def test_a_target_that_holds_data_is_refused_and_left_alone(
    db_path: Path, target: str, box: SecretBox, clock: FakeClock
) -> None:
    await enrolled_sqlite(db_path, box, clock)
    db = await open_database(target)
    await db.run(lambda tx: tx.accounts.ensure("someone-else", clock.now()))
    await db.close()

    with pytest.raises(CopyError, match="already holds data") as refused:
        copy_sqlite_to_postgresql(f"sqlite:///{db_path}", target)

    assert "accounts: 1" in str(refused.value)
    with psycopg.connect(target) as conn:
        assert conn.execute("SELECT id FROM accounts").fetchall() == [("someone-else",)]


async def test_counts_that_do_not_add_up_leave_nothing_behind(
    db_path: Path, target: str, box: SecretBox, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await enrolled_sqlite(db_path, box, clock)
    real_count = copying.row_count
    monkeypatch.setattr(
        copying, "row_count", lambda source, table: real_count(source, table) + (table == "devices")
    )

    with pytest.raises(CopyError, match="devices: 2 in SQLite, 1 copied"):
        copy_sqlite_to_postgresql(f"sqlite:///{db_path}", target)

    with psycopg.connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM accounts").fetchone() == (0,)


def test_only_sqlite_to_postgresql(tmp_path: Path) -> None:
    with pytest.raises(CopyError, match="sqlite:/// URL to a postgresql:// URL"):
        copy_sqlite_to_postgresql("postgresql://a:secret@h/db", f"sqlite:///{tmp_path}/x")
    with pytest.raises(CopyError, match="no SQLite database"):
        copy_sqlite_to_postgresql(f"sqlite:///{tmp_path}/missing.sqlite3", "postgresql://h/db")


async def test_a_backup_not_made_safe_is_refused_in_one_line(
    db_path: Path,
    target: str,
    box: SecretBox,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Copied as it is, a backup's spent codes and recovery codes would work again on
    PostgreSQL, where nothing marks it: the copy refuses it, as the bot does."""
    await enrolled_sqlite(db_path, box, clock)
    backup = tmp_path / "backup.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{db_path}")
    assert await asyncio.to_thread(main, ["backup", str(backup)]) == 0
    capsys.readouterr()

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{backup}")
    assert await asyncio.to_thread(main, ["copy-database", "--to", target]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {backup} is a backup taken at ") and len(err.splitlines()) == 1
    assert "run python -m bot after-restore first" in err
    with psycopg.connect(target) as conn:  # nothing was written, not even the schema
        tables = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        assert conn.execute(tables).fetchone() == (0,)

    assert await asyncio.to_thread(main, ["after-restore"]) == 0
    assert await asyncio.to_thread(main, ["copy-database", "--to", target]) == 0
    assert "every count equal" in capsys.readouterr().out
