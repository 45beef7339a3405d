"""Migration 0015 sets "2FA required" for the accounts that had it before the flag
existed: a database at migration 0014, with the history the bot wrote then, is migrated
and each account's flag (and what a login hears) follows from that history."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bench._postgres import PostgresServer
from core.clock import FakeClock
from core.crypto import SecretBox
from core.verification import Result, VerificationService
from storage.db import Backend, Database, migration_scripts, open_database
from storage.sqlite import split_statements

BEFORE_THE_FLAG = 14


class Old:
    """A database at migration 0014, written to with plain SQL (``?`` placeholders)."""

    def __init__(self, backend: Backend, url: str, db_path: Path) -> None:
        self.backend = backend
        self._conn: Any
        if backend == "sqlite":
            db_path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(db_path, isolation_level=None)
        else:
            self._conn = psycopg.connect(url, autocommit=True)
        self.execute(
            "CREATE TABLE schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
        )
        for version, name, script in migration_scripts(backend):
            if version > BEFORE_THE_FLAG:
                break
            if backend == "sqlite":
                for statement in split_statements(script):
                    self._conn.execute(statement)
            else:
                self._conn.execute(script.encode())
            self.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)",
                (version, name),
            )

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        if self.backend == "postgresql":
            statement = statement.replace("?", "%s")
        self._conn.execute(statement, params)

    def close(self) -> None:
        self._conn.close()


@pytest.fixture
def old_database(
    backend: Backend, db_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[str, Old]]:
    if backend == "sqlite":
        url = f"sqlite:///{db_path}"
        old = Old(backend, url, db_path)
        yield url, old
        old.close()
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create_database()  # empty: the template is at the newest migration
    old = Old(backend, url, db_path)
    try:
        yield url, old
    finally:
        old.close()
        server.drop_database(url)


def history(old: Old, clock: FakeClock) -> None:
    """Five accounts as the bot at migration 0014 left them (times in Unix seconds)."""
    t = int(clock.now().timestamp())
    day = 86_400

    def account(account_id: str) -> None:
        old.execute("INSERT INTO accounts (id, created_at) VALUES (?, ?)", (account_id, t))

    def device(device_id: str, account_id: str, created: int, revoked: int | None) -> None:
        old.execute(
            "INSERT INTO devices (id, account_id, name, secret_sealed, created_at, revoked_at)"
            " VALUES (?, ?, 'Phone', ?, ?, ?)",
            (device_id, account_id, b"\x01" * 40, created, revoked),
        )

    def audit(account_id: str, at: int, action: str) -> None:
        old.execute(
            "INSERT INTO audit_log (at, actor, account_id, action, detail)"
            " VALUES (?, 'tg:1', ?, ?, '{}')",
            (at, account_id, action),
        )

    # ann: enrolled, support approved a 4 h deactivation a month ago, the window ended.
    account("ann")
    device("d-ann", "ann", t - 31 * day, t - 30 * day)
    audit("ann", t - 31 * day, "device_activated")
    audit("ann", t - 30 * day, "device_revoked")
    audit("ann", t - 30 * day, "deactivation_approved")
    audit("ann", t - 30 * day + 4 * 3600, "deactivation_ended")
    old.execute(
        "INSERT INTO account_security (account_id, deactivated_until, updated_at)"
        " VALUES ('ann', ?, ?)",
        (t - 30 * day + 4 * 3600, t - 30 * day),
    )
    old.execute(
        "INSERT INTO deactivation_requests (account_id, telegram_user_id, chat_id, reason,"
        " status, created_at, expires_at, decided_at, decided_by, deactivated_until,"
        " window_ended_at) VALUES ('ann', 1001, 1001, 'lost', 'approved', ?, ?, ?, 9001, ?, ?)",
        (t - 30 * day, t - 28 * day, t - 30 * day, t - 30 * day + 4 * 3600, t - 29 * day),
    )
    # bo: a device in use, and no security row (accounts from before it was written).
    account("bo")
    device("d-bo", "bo", t - 10 * day, None)
    # cy: turned 2FA off with proof (the last device removed after a code and a second yes).
    account("cy")
    device("d-cy", "cy", t - 20 * day, t - 5 * day)
    audit("cy", t - 5 * day, "device_removed")
    audit("cy", t - 5 * day, "two_factor_turned_off")
    old.execute(
        "INSERT INTO account_security (account_id, updated_at) VALUES ('cy', ?)", (t - 5 * day,)
    )
    # di: turned it off, enrolled again, then lost that device to an approved deactivation
    # whose window has ended.
    account("di")
    device("d-di-1", "di", t - 20 * day, t - 15 * day)
    audit("di", t - 15 * day, "two_factor_turned_off")
    device("d-di-2", "di", t - 10 * day, t - 2 * day)
    old.execute(
        "INSERT INTO account_security (account_id, deactivated_until, updated_at)"
        " VALUES ('di', ?, ?)",
        (t - 2 * day + 3600, t - 2 * day),
    )
    # ed: started the bot, never set 2FA up.
    account("ed")


async def is_required(db: Database, account: str) -> bool:
    return await db.run(lambda tx: tx.security.get(account).two_factor_required)


async def test_the_migration_sets_the_flag_from_each_accounts_history(
    old_database: tuple[str, Old], clock: FakeClock, box: SecretBox
) -> None:
    url, old = old_database
    history(old, clock)
    old.close()
    db = await open_database(url)  # applies 0015
    try:
        required = {
            account: await is_required(db, account) for account in ("ann", "bo", "cy", "di", "ed")
        }
        assert required == {"ann": True, "bo": True, "cy": False, "di": True, "ed": False}
        verifier = VerificationService(db, box, clock)
        for account, result in (
            ("ann", Result.ENROLLMENT_REQUIRED),
            ("di", Result.ENROLLMENT_REQUIRED),
            ("cy", Result.NOT_ENROLLED),
            ("ed", Result.NOT_ENROLLED),
        ):
            assert (await verifier.verify(account, "123456", actor="api")).result is result
        ann = await db.run(lambda tx: tx.security.get("ann"))
        # The rest of the row is as it was.
        assert ann.deactivated_until == clock.now() - timedelta(days=30) + timedelta(hours=4)
    finally:
        await db.close()
