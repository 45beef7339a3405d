"""The storage layer on both backends: migrations, whole transactions, isolation, types;
SQLite's pragmas, group commit and file permissions; PostgreSQL's schema twin,
migration lock, retries and SQL translation."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from bench._postgres import SUPERUSER, PostgresServer
from core.clock import FakeClock
from storage import postgresql
from storage.db import (
    Backend,
    CommitOutcomeUnknownError,
    Database,
    DatabaseClosedError,
    DatabaseUnavailableError,
    DatabaseUrlError,
    backend_of,
    migration_scripts,
    open_database,
    redact_url,
    sqlite_path,
)
from storage.dialect import to_postgresql
from storage.postgresql import PostgresDatabase
from storage.repositories import Transaction
from storage.sqlite import split_statements

# What each backend raises for a broken constraint (or the audit log's append-only rule).
INTEGRITY_ERRORS = (sqlite3.IntegrityError, psycopg.IntegrityError)


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


async def test_reopening_keeps_data(database_url: str, clock: FakeClock) -> None:
    db = await open_database(database_url)
    await db.run(lambda tx: tx.accounts.ensure("acct", clock.now()))
    await db.close()
    db = await Database.open(database_url)  # the same factory, as older callers spell it
    assert await db.migrate() == []
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
    with pytest.raises(INTEGRITY_ERRORS):
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
    commits = db.commits - before
    assert results == list(range(200))
    assert len(await db.run(lambda tx: tx.audit.entries())) == 200
    assert commits < 200  # grouped


async def test_audit_log_is_append_only(db: Database, clock: FakeClock, backend: Backend) -> None:
    await db.run(lambda tx: tx.audit.record(clock.now(), "tg:1", "enrolment_started"))
    statements = ["UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"]
    if backend == "postgresql":
        statements.append("TRUNCATE audit_log")
    for statement in statements:

        def tamper(tx: Transaction, sql: str = statement) -> None:
            tx.connection.execute(sql)

        with pytest.raises(INTEGRITY_ERRORS, match="append-only"):
            await db.run(tamper)
    entries = await db.run(lambda tx: tx.audit.entries())
    assert [e.action for e in entries] == ["enrolment_started"]


async def test_ping_answers_while_open_and_not_after_close(database_url: str) -> None:
    db = await open_database(database_url)
    assert await db.ping() is True
    await db.close()
    assert await db.ping() is False
    with pytest.raises(DatabaseClosedError):
        await db.run(lambda tx: None)


async def test_close_finishes_queued_work(database_url: str, clock: FakeClock) -> None:
    db = await open_database(database_url)

    def add(i: int) -> Callable[[Transaction], None]:
        return lambda tx: tx.accounts.ensure(f"a{i}", clock.now())

    pending = [asyncio.ensure_future(db.run(add(i))) for i in range(20)]
    await asyncio.sleep(0)
    await db.close()
    await asyncio.gather(*pending)
    db = await open_database(database_url)
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
    assert backend_of("sqlite:///data/x.sqlite3") == "sqlite"
    assert backend_of("postgresql://u:p@db:5432/twofa") == "postgresql"
    assert backend_of("postgres://db/twofa") == "postgresql"
    with pytest.raises(DatabaseUrlError) as refused:
        backend_of("mysql://root:hunter2@db/twofa")
    assert "hunter2" not in str(refused.value)


def test_a_url_is_shown_without_its_password() -> None:
    assert redact_url("postgresql://bot:s3cret@db.example:5433/twofa?sslmode=require") == (
        "postgresql://bot:***@db.example:5433/twofa?sslmode=require"
    )
    assert redact_url("postgresql://bot@db/twofa") == "postgresql://bot@db/twofa"
    assert redact_url("postgresql://bot:pw@[::1]/twofa") == "postgresql://bot:***@[::1]/twofa"
    assert redact_url("sqlite:///data/x.sqlite3") == "sqlite:///data/x.sqlite3"
    assert "pw" not in redact_url("postgresql://bot:pw@db:notaport/twofa")


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
    with caplog.at_level(logging.WARNING, logger="storage.sqlite"):
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
    with caplog.at_level(logging.WARNING, logger="storage.sqlite"):
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
    with caplog.at_level(logging.WARNING, logger="storage.sqlite"):
        db = await Database.open(f"sqlite:///{db_path}")
        await db.close()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


# ------------------------------------------------------------------ both backends alike


def test_both_migration_folders_hold_the_same_migrations() -> None:
    """One schema in two dialects: every SQLite migration has its PostgreSQL twin."""
    sqlite_names = [(v, name) for v, name, _ in migration_scripts("sqlite")]
    postgresql_names = [(v, name) for v, name, _ in migration_scripts("postgresql")]
    assert sqlite_names == postgresql_names
    assert [v for v, _ in sqlite_names] == list(range(1, len(sqlite_names) + 1))


# How each backend spells a column type of the shared schema.
_TYPE_FAMILIES = {"INTEGER": "integer", "BIGINT": "integer", "TEXT": "text", "BLOB": "bytes"}
_TYPE_FAMILIES |= {"integer": "integer", "bigint": "integer", "text": "text", "bytea": "bytes"}


def sqlite_schema(path: Path) -> tuple[dict[str, list[tuple[str, str, bool]]], set[str]]:
    conn = sqlite3.connect(path)
    try:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        columns = {
            table: [
                (name, _TYPE_FAMILIES[kind], bool(notnull or pk))
                for _, name, kind, notnull, _, pk in conn.execute(f"PRAGMA table_info({table})")
            ]
            for table in tables
        }
        indexes = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        }
    finally:
        conn.close()
    return columns, indexes


def postgresql_schema(url: str) -> tuple[dict[str, list[tuple[str, str, bool]]], set[str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable = 'NO'"
            " FROM information_schema.columns WHERE table_schema = 'public'"
            " ORDER BY table_name, ordinal_position"
        ).fetchall()
        indexes = {
            row[0]
            for row in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
                " AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key'"
            )
        }
    columns: dict[str, list[tuple[str, str, bool]]] = {}
    for table, name, kind, notnull in rows:
        columns.setdefault(table, []).append((name, _TYPE_FAMILIES[kind], notnull))
    return columns, indexes


async def test_both_backends_end_with_the_same_tables_and_columns(
    postgres_server: PostgresServer, db_path: Path
) -> None:
    await (await open_database(f"sqlite:///{db_path}")).close()
    with postgres_server.database() as url:
        postgresql_columns, postgresql_indexes = postgresql_schema(url)
    sqlite_columns, sqlite_indexes = sqlite_schema(db_path)
    assert postgresql_columns == sqlite_columns  # names, order, type family, NOT NULL
    assert postgresql_indexes == sqlite_indexes
    assert "audit_log" in sqlite_columns and "schema_migrations" in sqlite_columns


TELEGRAM_USER = 7_000_000_000  # Telegram ids exceed 32 bits
SUPERGROUP = -1_001_234_567_890
SEALED = bytes(range(256))


async def test_values_come_back_as_the_same_python_types(db: Database, clock: FakeClock) -> None:
    now = clock.now()

    def write(tx: Transaction) -> int:
        tx.accounts.ensure("acct", now)
        tx.accounts.save_link(TELEGRAM_USER, "acct", None, "Ann", now)
        tx.devices.add("dev-1", "acct", "Phone", SEALED, TELEGRAM_USER, 2**40, now)
        request = tx.requests.create(
            "acct", TELEGRAM_USER, SUPERGROUP, "ann", "Ann", "lost my phone", now, now
        )
        tx.requests.set_support_message(request.id, SUPERGROUP, 2**33)
        tx.cleanup.schedule(SUPERGROUP, [2**33], now)
        return request.id

    request_id = await db.run(write)
    link, device, request, cleanup = await db.run(
        lambda tx: (
            tx.accounts.link_for(TELEGRAM_USER),
            tx.devices.get("dev-1"),
            tx.requests.get(request_id),
            tx.cleanup.due(now),
        )
    )
    assert link is not None and link.user_id == TELEGRAM_USER and link.linked_at == now
    assert device is not None and type(device.secret_sealed) is bytes
    assert device.secret_sealed == SEALED and device.last_used_step == 2**40
    assert request is not None and type(request.id) is int
    assert (request.chat_id, request.support_chat_id, request.support_message_id) == (
        SUPERGROUP,
        SUPERGROUP,
        2**33,
    )
    assert [(c.chat_id, c.message_id, type(c.id)) for c in cleanup] == [(SUPERGROUP, 2**33, int)]


async def test_json_fields_are_read_alike(db: Database, clock: FakeClock) -> None:
    now = clock.now()

    def write(tx: Transaction) -> None:
        for result in ("rejected", "accepted", "locked", "rejected"):
            tx.audit.record(
                now, "api", "code_checked", account_id="acct", telegram_user_id=5, result=result
            )

    await db.run(write)
    assert await db.run(lambda tx: tx.audit.failed_checks_since("acct", now)) == 3
    assert await db.run(lambda tx: tx.audit.failures_by_user_since(5, now)) == 2


def test_sql_is_translated_for_postgresql_once() -> None:
    assert to_postgresql("SELECT a FROM t WHERE b = ? AND c IN (?, ?)") == (
        "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)"
    )
    # a question mark inside a literal is no placeholder; a percent sign is nothing special
    assert to_postgresql("SELECT '?', '100%' WHERE x = ?") == "SELECT '?', '100%' WHERE x = $1"
    assert to_postgresql("SELECT 1 WHERE json_extract(detail, '$.result') = ?") == (
        "SELECT 1 WHERE (detail::json ->> 'result') = $1"
    )
    statement = "SELECT id FROM accounts WHERE id = ?"
    assert to_postgresql(statement) is to_postgresql(statement)  # cached


# ------------------------------------------------------------------ PostgreSQL's own


async def test_two_processes_starting_together_migrate_once(
    postgres_server: PostgresServer,
) -> None:
    """Each migrates on a connection of its own under the advisory lock: one applies
    every migration, the other waits and finds them applied."""
    url = postgres_server.create_database()  # empty: not from the migrated template
    try:
        first, second = await asyncio.gather(open_database(url), open_database(url))
        await first.close()
        await second.close()
        with psycopg.connect(url) as conn:
            versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
        assert sorted(versions) == [v for v, _, _ in migration_scripts("postgresql")]
    finally:
        postgres_server.drop_database(url)


@pytest.fixture
async def pg_db(postgres_server: PostgresServer) -> AsyncIterator[PostgresDatabase]:
    with postgres_server.database() as url:
        db = await PostgresDatabase.open(url, pool_size=4)
        yield db
        await db.close()


async def test_an_aborted_transaction_runs_again_from_the_start(
    pg_db: PostgresDatabase, clock: FakeClock
) -> None:
    calls = []

    def work(tx: Transaction) -> int:
        calls.append(1)  # counting runs is what this test is about; real work never does
        tx.accounts.ensure(f"acct-{len(calls)}", clock.now())
        if len(calls) < 3:
            raise psycopg.errors.SerializationFailure("could not serialize access")
        return len(calls)

    assert await pg_db.run(work) == 3
    assert await pg_db.run(account_ids) == ["acct-3"]  # the aborted runs left nothing
    assert pg_db.retries == 2


async def test_retries_are_bounded(
    pg_db: PostgresDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgresql, "MAX_ATTEMPTS", 4)
    calls = []

    def always_aborted(tx: Transaction) -> None:
        calls.append(1)
        raise psycopg.errors.DeadlockDetected("deadlock detected")

    with pytest.raises(psycopg.errors.DeadlockDetected):
        await pg_db.run(always_aborted)
    assert len(calls) == 4


async def test_connections_that_died_are_replaced_without_failing_work(
    pg_db: PostgresDatabase, postgres_server: PostgresServer, clock: FakeClock
) -> None:
    """A server restart or failover kills every pooled connection; the next work
    functions run on fresh ones (a death before COMMIT: nothing had landed)."""
    await asyncio.gather(*(pg_db.run(lambda tx: tx.ping()) for _ in range(8)))
    name = await pg_db.run(lambda tx: tx.connection.execute("SELECT current_database()").fetchone())
    postgres_server.admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = %s AND pid <> pg_backend_pid()",
        (name[0],),
    )

    def add(i: int) -> Callable[[Transaction], None]:
        return lambda tx: tx.accounts.ensure(f"a{i}", clock.now())

    results = await asyncio.gather(*(pg_db.run(add(i)) for i in range(8)))
    assert results == [None] * 8
    assert len(await pg_db.run(account_ids)) == 8


@pytest.fixture
async def pg_one_thread(postgres_server: PostgresServer) -> AsyncIterator[PostgresDatabase]:
    """One connection, one database thread: work queued while it is busy is one group."""
    with postgres_server.database() as url:
        db = await PostgresDatabase.open(url, pool_size=1)
        yield db
        await db.close()


def lose_the_connection_at_commit(
    monkeypatch: pytest.MonkeyPatch, postgres_server: PostgresServer
) -> list[int]:
    """The next COMMIT goes to a server session that has just been terminated (as in a
    failover at that moment); the pids terminated."""
    real_commit = postgresql.PostgresConnection.commit
    terminated: list[int] = []

    def commit(self: postgresql.PostgresConnection) -> None:
        if not terminated and self.raw.pgconn.pipeline_status:
            pid = self.raw.info.backend_pid
            with psycopg.connect(postgres_server.url("postgres"), autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))  # and waits
            terminated.append(pid)
        real_commit(self)

    monkeypatch.setattr(postgresql.PostgresConnection, "commit", commit)
    return terminated


async def hold_the_thread(db: PostgresDatabase) -> tuple[asyncio.Future[None], threading.Event]:
    """Keep the one database thread busy until the event is set (so that what is queued
    meanwhile goes as one group)."""
    started, release = threading.Event(), threading.Event()

    def busy(tx: Transaction) -> None:
        started.set()
        release.wait(10)

    holding = asyncio.ensure_future(db.run(busy))
    await asyncio.to_thread(started.wait, 10)
    return holding, release


async def test_a_group_whose_commit_was_cut_off_is_not_run_again(
    pg_one_thread: PostgresDatabase,
    postgres_server: PostgresServer,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whether a COMMIT whose connection died landed is unknown: running the work again
    could act twice (a code accepted twice). Each caller hears so; nothing runs again."""
    db = pg_one_thread
    holding, release = await hold_the_thread(db)
    terminated = lose_the_connection_at_commit(monkeypatch, postgres_server)
    runs: list[str] = []

    def add(name: str) -> Callable[[Transaction], None]:
        def work(tx: Transaction) -> None:
            runs.append(name)  # counting runs is what this test is about
            tx.accounts.ensure(name, clock.now())

        return work

    group = [asyncio.ensure_future(db.run(add(name))) for name in ("a1", "a2", "a3")]
    await asyncio.sleep(0.05)  # all three queued behind the busy thread
    release.set()
    await holding
    outcomes = await asyncio.gather(*group, return_exceptions=True)

    assert len(terminated) == 1 and sorted(runs) == ["a1", "a2", "a3"]  # each ran once
    for outcome in outcomes:
        assert isinstance(outcome, CommitOutcomeUnknownError), outcome
        assert "lost during COMMIT" in str(outcome) and "not run again" in str(outcome)
    assert await db.run(lambda tx: tx.ping())  # the pool replaced the connection


async def test_a_lone_work_whose_commit_was_cut_off_is_not_run_again(
    pg_one_thread: PostgresDatabase,
    postgres_server: PostgresServer,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminated = lose_the_connection_at_commit(monkeypatch, postgres_server)
    runs: list[int] = []

    def work(tx: Transaction) -> None:
        runs.append(1)
        tx.accounts.ensure("alone", clock.now())

    with pytest.raises(CommitOutcomeUnknownError):
        await pg_one_thread.run(work)
    assert len(terminated) == 1 and runs == [1]


async def test_a_group_whose_connection_died_before_commit_runs_again_alone(
    pg_one_thread: PostgresDatabase, postgres_server: PostgresServer, clock: FakeClock
) -> None:
    """Before COMMIT nothing can have landed: the group is rolled back and each piece
    runs again alone, on a fresh connection."""
    db = pg_one_thread
    holding, release = await hold_the_thread(db)
    runs: list[str] = []

    def dies_midway(tx: Transaction) -> None:
        runs.append("dies")
        tx.accounts.ensure("b1", clock.now())
        if runs.count("dies") == 1:
            pid = tx.connection.execute("SELECT pg_backend_pid()").fetchone()[0]
            postgres_server.admin("SELECT pg_terminate_backend(%s, 5000)", (pid,))
        tx.accounts.ensure("b1-again", clock.now())  # its answer never comes the first time

    def fine(tx: Transaction) -> None:
        runs.append("fine")
        tx.accounts.ensure("b2", clock.now())

    group = [asyncio.ensure_future(db.run(fine)), asyncio.ensure_future(db.run(dies_midway))]
    await asyncio.sleep(0.05)
    release.set()
    await holding
    assert await asyncio.gather(*group) == [None, None]
    assert runs == ["fine", "dies", "fine", "dies"]  # the group, then each alone
    assert await db.run(account_ids) == ["b1", "b1-again", "b2"]


async def test_a_refused_login_is_one_clear_error_without_the_password(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.url("postgres").replace(postgres_server.password, "wrong-password")
    with pytest.raises(DatabaseUnavailableError) as refused:
        await open_database(url)
    message = str(refused.value)
    assert "wrong-password" not in message and postgres_server.password not in message
    assert f"127.0.0.1:{postgres_server.port}" in message and "password" in message
    assert isinstance(refused.value, OSError)  # what ``python -m bot`` reports in one line


async def test_a_user_without_rights_on_the_schema_is_told_so(
    postgres_server: PostgresServer,
) -> None:
    url = postgres_server.create_database()
    try:
        postgres_server.admin("CREATE ROLE visitor LOGIN PASSWORD 'visitor-pw'")
        with psycopg.connect(url, autocommit=True) as conn:  # PostgreSQL 15's default
            conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        visitor = url.replace(f"{SUPERUSER}:{postgres_server.password}", "visitor:visitor-pw")
        with pytest.raises(DatabaseUnavailableError, match="cannot prepare the schema") as refused:
            await open_database(visitor)
        assert "permission denied" in str(refused.value) and "visitor-pw" not in str(refused.value)
    finally:
        postgres_server.drop_database(url)
        postgres_server.admin("DROP ROLE IF EXISTS visitor")
