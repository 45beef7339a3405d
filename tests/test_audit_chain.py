"""The tamper-evident audit log: the job chains every row (both backends); ``audit verify``
holds on an untouched chain and names a changed byte, a deleted row and an inserted one;
the export round-trips and verifies on its own; rows keep their key after a rotation;
the schema refuses every change but the chaining; the head reaches the ops chat.

Verification throughput is not serialised by any of this: the API path only appends an
audit row, as before (no read of the head, no lock); the chain job alone reads the head
and links rows, in its own transactions (``test_writers_only_append_...``).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest

from bot.__main__ import main
from core.audit_chain import AuditChain, Batch
from core.audit_export import from_record, verify_records
from core.audit_links import Break, ChainKeys, link
from core.clock import FakeClock
from core.config import Settings
from core.crypto import SecretBox, decode_key, generate_key, key_id
from core.services import Services
from handlers.common import SERVICES_KEY
from storage.db import Backend, Database, open_database, sqlite_path
from storage.records import AuditEntry, ChainedEntry
from storage.repositories import Transaction
from tests.conftest import BACKENDS
from tests.harness import running_bot

T = TypeVar("T")
both = pytest.mark.parametrize("backend", BACKENDS, indirect=True)
INTEGRITY_ERRORS = (sqlite3.IntegrityError, psycopg.IntegrityError)
OPS = -100700


def record(tx: Transaction, clock: FakeClock, n: int) -> None:
    """Audit row ``n`` (id n + 1), of acct-0 or acct-1 in turn."""
    tx.audit.record(clock.now(), "tg:7", "code_checked", account_id=f"acct-{n % 2}", n=n, x="ü")


async def add(db: Database, clock: FakeClock, numbers: range) -> None:
    for n in numbers:
        await db.run(partial(record, clock=clock, n=n))


def on_db(url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` on the database at ``url`` (for the tests that call ``main``)."""

    async def run() -> T:
        db = await open_database(url)
        try:
            return await work(db)
        finally:
            await db.close()

    return asyncio.run(run())


def chained_log(url: str, box: SecretBox, clock: FakeClock, rows: int = 5) -> list[ChainedEntry]:
    """A database with ``rows`` audit rows, every one chained by the job's pass."""

    async def work(db: Database) -> list[ChainedEntry]:
        await add(db, clock, range(rows))
        await AuditChain(db, clock, box).chain_pending()
        return await db.run(lambda tx: tx.audit.chained(0, 100))

    return on_db(url, work)


@contextmanager
def tampering(url: str) -> Iterator[Callable[..., object]]:
    """Write to audit_log past its append-only triggers, as someone with the database
    would: SQLite's dropped and made again, PostgreSQL's disabled (as the table's owner)."""
    if url.startswith("sqlite:"):
        conn = sqlite3.connect(sqlite_path(url), isolation_level=None)
        triggers = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'"
        ).fetchall()
        for name, _ in triggers:
            conn.execute(f"DROP TRIGGER {name}")
        try:
            yield lambda sql, *params: conn.execute(sql, params)
        finally:
            for _, sql in triggers:
                conn.execute(sql)
            conn.close()
        return
    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
        try:
            yield lambda sql, *params: pg.execute(sql.replace("?", "%s"), params)
        finally:
            pg.execute("ALTER TABLE audit_log ENABLE TRIGGER USER")


def verify_says(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = main(["audit", "verify", *args])
    return status, capsys.readouterr().out


# ---------------------------------------------------------------------- the job


@both
async def test_the_job_chains_new_rows_in_order_and_the_chain_holds(
    db: Database, box: SecretBox, clock: FakeClock
) -> None:
    chain = AuditChain(db, clock, box)
    await add(db, clock, range(3))
    assert (await chain.walk()).unchained == 3
    first = await chain.chain_pending()
    await add(db, clock, range(3, 5))
    second = await chain.chain_pending()
    assert (first.chained, second.chained, first.late + second.late) == (3, 2, 0)

    links = await db.run(lambda tx: tx.audit.chained(0, 100))
    assert [(link.seq, link.entry.id) for link in links] == [(n, n) for n in range(1, 6)]
    assert {link.key_id for link in links} == {box.current_id}
    walk = await chain.walk(batch=2)  # in batches, across their edges
    assert (walk.chained, walk.unchained, walk.broken) == (5, 0, None)
    assert walk.head == links[-1]


@both
async def test_the_schema_refuses_every_change_but_the_chaining(
    db: Database, box: SecretBox, clock: FakeClock, backend: Backend
) -> None:
    await db.run(lambda tx: record(tx, clock, 1))
    await db.run(lambda tx: record(tx, clock, 2))
    await AuditChain(db, clock, box).chain_pending()
    await db.run(lambda tx: record(tx, clock, 3))  # row 3: not chained yet
    columns_sql = (
        "SELECT name FROM pragma_table_info('audit_log')"
        if backend == "sqlite"
        else "SELECT column_name FROM information_schema.columns WHERE table_name = 'audit_log'"
    )
    rows = await db.run(lambda tx: tx.connection.execute(columns_sql).fetchall())
    columns = {row[0] for row in rows}
    chain_columns = {"chain_seq", "chain_key_id", "chain_mac"}
    # A new column must join the trigger's list (migration 0014) and this test's.
    changes = {
        "id": "id = 99",
        "at": "at = at + 1",
        "actor": "actor = 'x'",
        "telegram_user_id": "telegram_user_id = 8",
        "account_id": "account_id = NULL",
        "action": "action = 'x'",
        "detail": "detail = '{}'",
    }
    assert columns == set(changes) | chain_columns
    link = "chain_seq = 3, chain_key_id = 'k', chain_mac = ?"
    refused = [
        *(f"UPDATE audit_log SET {link}, {change} WHERE id = 3" for change in changes.values()),  # noqa: S608
        "UPDATE audit_log SET chain_seq = 3, chain_key_id = 'k' WHERE id = 3",  # no mac
        "UPDATE audit_log SET chain_mac = ? WHERE id = 1",  # a chained row's link
        f"UPDATE audit_log SET {link} WHERE id = 2",  # noqa: S608
        "DELETE FROM audit_log WHERE id = 3",
    ]
    for statement in refused:

        def tamper(tx: Transaction, sql: str = statement) -> None:
            tx.connection.execute(sql, (bytes(32),) if "?" in sql else ())

        with pytest.raises(INTEGRITY_ERRORS, match="append-only"):
            await db.run(tamper)
    assert await db.run(lambda tx: tx.audit.set_link(3, 3, "k", bytes(32))) is True
    assert await db.run(lambda tx: tx.audit.set_link(3, 4, "k", bytes(32))) is False


async def test_a_row_chained_late_raises_a_warning(
    db: Database, box: SecretBox, clock: FakeClock
) -> None:
    chain = AuditChain(db, clock, box)
    await db.run(lambda tx: record(tx, clock, 1))
    await db.run(lambda tx: record(tx, clock, 2))
    clock.advance(timedelta(minutes=3))
    await db.run(lambda tx: record(tx, clock, 3))  # on time
    assert await chain.chain_pending() == Batch(chained=3, late=2)
    (alert,) = await db.run(lambda tx: tx.alerts.due(clock.now()))
    assert (alert.kind, alert.severity) == ("audit_row_late", "warning")
    assert alert.detail == {"rows": 2, "first_row": 1, "minutes": 3}


# ---------------------------------------------------------------------- verify


@both
@pytest.mark.parametrize("what", ["unchanged", "one byte", "deleted", "inserted"])
def test_audit_verify_names_the_first_broken_row(
    what: str,
    command_env: pytest.MonkeyPatch,
    database_url: str,
    box: SecretBox,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    links = chained_log(database_url, box, clock)
    with tampering(database_url) as write:
        if what == "one byte":  # {"n": 2, ...} -> {"n": 3, ...} in row 3
            write("UPDATE audit_log SET detail = replace(detail, '2', '3') WHERE id = 3")
        elif what == "deleted":
            write("DELETE FROM audit_log WHERE id = 3")
        elif what == "inserted":  # at place 3, the later places moved up by one
            write("UPDATE audit_log SET chain_seq = -chain_seq WHERE chain_seq >= 3")
            write("UPDATE audit_log SET chain_seq = 1 - chain_seq WHERE chain_seq < 0")
            write(
                "INSERT INTO audit_log (id, at, actor, action, detail, chain_seq, chain_key_id,"
                " chain_mac) VALUES (99, ?, 'tg:7', 'device_removed', '{}', 3, ?, ?)",
                int(links[1].entry.at.timestamp()),
                box.current_id,
                os.urandom(32),
            )
    status, out = verify_says(capsys)
    expected = {
        "unchanged": "ok: 5 rows chained, 0 not chained yet",
        "one byte": "broken at seq 3, row id 3: changed: the row does not match its link",
        "deleted": "broken at seq 3: missing: no row holds this place: deleted (the chain "
        "goes on with row id 4)",
        "inserted": "broken at seq 3, row id 99: inserted: the chain holds without this row",
    }[what]
    assert out.startswith(expected), out
    assert status == (0 if what == "unchanged" else 1)
    if what != "unchanged":
        assert "2 rows before it hold" in out


def test_a_row_added_at_the_end_with_a_forged_link_is_named(
    command_env: pytest.MonkeyPatch,
    database_url: str,
    box: SecretBox,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    chained_log(database_url, box, clock)
    with tampering(database_url) as write:  # an INSERT needs no bypass; all the same
        write(
            "INSERT INTO audit_log (id, at, actor, action, detail, chain_seq, chain_key_id,"
            " chain_mac) VALUES (42, 1, 'tg:7', 'lock_cleared', '{}', 6, ?, ?)",
            box.current_id,
            os.urandom(32),
        )
    status, out = verify_says(capsys)
    assert (status, out.splitlines()[0].split(": ")[0]) == (1, "broken at seq 6, row id 42")


async def test_a_row_with_part_of_a_link_is_named_and_chained_around(
    db: Database, box: SecretBox, clock: FakeClock
) -> None:
    chain = AuditChain(db, clock, box)
    await add(db, clock, range(2))
    await chain.chain_pending()
    await db.run(  # an INSERT, which the schema allows: a link but no place
        lambda tx: tx.connection.execute(
            "INSERT INTO audit_log (at, actor, action, chain_mac) VALUES (1, 'x', 'y', ?)",
            (bytes(32),),
        )
    )
    await add(db, clock, range(3, 4))
    assert (await chain.chain_pending()).chained == 1  # the job goes on around it
    assert (await chain.walk()).broken == Break(0, 3, "stray")


def test_a_rewritten_chain_shows_against_the_posted_head(
    command_env: pytest.MonkeyPatch,
    database_url: str,
    box: SecretBox,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Someone with the key rewrites every link: the walk holds, the posted head does not."""
    links = chained_log(database_url, box, clock)
    posted = f"{links[-1].seq}:{links[-1].mac.hex()}"
    status, out = verify_says(capsys, "--head", posted)
    assert status == 0 and out.splitlines()[1] == (
        f"head: seq 5, key {box.current_id}, mac {links[-1].mac.hex()}"
    )
    with tampering(database_url) as write:
        write("UPDATE audit_log SET detail = '{}' WHERE id = 2")
        write("UPDATE audit_log SET chain_seq = NULL, chain_key_id = NULL, chain_mac = NULL")
    on_db(database_url, lambda db: AuditChain(db, clock, box).chain_pending())
    assert verify_says(capsys)[0] == 0
    status, out = verify_says(capsys, "--head", posted)
    assert status == 1 and out.startswith("broken at seq 5, row id 5: not_as_posted")


def test_rows_keep_their_key_after_a_rotation(
    command_env: pytest.MonkeyPatch,
    database_url: str,
    secrets_key: bytes,
    box: SecretBox,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    chained_log(database_url, box, clock, rows=2)
    new_key = decode_key(generate_key())
    rotated = SecretBox(new_key, previous=[secrets_key])
    chained_log(database_url, rotated, clock, rows=2)
    command_env.setenv("SECRETS_KEY", base64.urlsafe_b64encode(new_key).decode())
    command_env.setenv("SECRETS_KEYS_PREVIOUS", base64.urlsafe_b64encode(secrets_key).decode())
    status, out = verify_says(capsys)
    assert status == 0 and "ok: 4 rows chained" in out and key_id(new_key) in out

    command_env.delenv("SECRETS_KEYS_PREVIOUS")  # the old key dropped too early
    status, out = verify_says(capsys)
    assert status == 1
    assert out.startswith(
        f"broken at seq 1, row id 1: unknown_key: chained under key {key_id(secrets_key)}, "
        "which is not configured"
    )


def encode(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def rotated_log(
    command_env: pytest.MonkeyPatch,
    database_url: str,
    old_key: bytes,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
    *,
    after_restart: int = 2,
) -> tuple[bytes, str]:
    """Four rows chained under the old key, ``after_restart`` under the new one (the bot
    restarted with it first), then ``python -m bot rotate-key``: the new key, and what
    rotate-key printed. The environment is left with the new key alone."""
    chained_log(database_url, SecretBox(old_key), clock, rows=4)
    new_key = decode_key(generate_key())
    if after_restart:
        chained_log(database_url, SecretBox(new_key, [old_key]), clock, rows=after_restart)
    command_env.setenv("SECRETS_KEY", encode(new_key))
    command_env.setenv("SECRETS_KEYS_PREVIOUS", encode(old_key))
    assert main(["rotate-key"]) == 0
    out = capsys.readouterr().out
    command_env.delenv("SECRETS_KEYS_PREVIOUS")
    return new_key, out


@both
def test_after_rotate_key_audit_verify_holds_with_the_new_key_alone(
    command_env: pytest.MonkeyPatch,
    database_url: str,
    secrets_key: bytes,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    new_key, out = rotated_log(command_env, database_url, secrets_key, clock, capsys)
    old = key_id(secrets_key)
    new = key_id(new_key)
    assert f"audit log: 6 rows verified; re-anchored under SECRETS_KEY (key {new}) at seq 7" in out
    chained_log(database_url, SecretBox(new_key), clock, rows=2)  # and the log goes on

    status, out = verify_says(capsys)  # SECRETS_KEY alone: the old key is gone
    assert status == 0, out
    assert out.startswith("ok: 9 rows chained, 0 not chained yet")
    assert f"4 rows chained under keys that are not configured ({old}) hold through the " in out
    assert "anchor at seq 7" in out
    assert main(["rotate-key"]) == 0  # nothing more to anchor
    assert "audit log: needs no previous key" in capsys.readouterr().out
    head = on_db(database_url, lambda db: db.run(lambda tx: tx.audit.chain_head()))
    assert head is not None and head.seq == 9


def forge(database_url: str, key: bytes, seq: int, entry_id: int, previous: bytes) -> None:
    """An attacker with ``key`` and the database: a row chained at ``seq`` after the link
    ``previous``, its link right under ``key``."""
    entry = AuditEntry(
        entry_id,
        datetime(2026, 3, 1, 9, 0, 10, tzinfo=UTC),
        "tg:7",
        None,
        "acct-0",
        "lock_cleared",
        "{}",
    )
    mac = link(ChainKeys(SecretBox(key)).current, previous, entry, seq)
    with tampering(database_url) as write:
        write(
            "INSERT INTO audit_log (id, at, actor, account_id, action, detail, chain_seq,"
            " chain_key_id, chain_mac) VALUES (?, ?, 'tg:7', 'acct-0', 'lock_cleared', '{}',"
            " ?, ?, ?)",
            entry_id,
            int(entry.at.timestamp()),
            seq,
            key_id(key),
            mac,
        )


@both
@pytest.mark.parametrize("old_key", ["removed", "still configured"])
def test_a_row_chained_with_the_old_key_after_the_rotation_is_refused(
    old_key: str,
    command_env: pytest.MonkeyPatch,
    database_url: str,
    secrets_key: bytes,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rotated_log(command_env, database_url, secrets_key, clock, capsys)
    head = on_db(database_url, lambda db: db.run(lambda tx: tx.audit.chain_head()))
    assert head is not None and head.seq == 7
    forge(database_url, secrets_key, 8, 99, head.mac)
    if old_key == "still configured":
        command_env.setenv("SECRETS_KEYS_PREVIOUS", encode(secrets_key))
    status, out = verify_says(capsys)
    assert status == 1
    assert out.startswith(
        f"broken at seq 8, row id 99: retired_key: chained under key {key_id(secrets_key)}, "
        "which the anchor at seq 7 retired"
    ), out


@both
@pytest.mark.parametrize("how", ["content", "relinked with the old key"])
def test_a_row_before_the_anchor_changed_later_is_refused(
    how: str,
    command_env: pytest.MonkeyPatch,
    database_url: str,
    secrets_key: bytes,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Rows under the old key are checked against the anchor with the new key alone: a row
    changed (and its links made again with the old key) shows."""
    rotated_log(command_env, database_url, secrets_key, clock, capsys, after_restart=0)
    links = on_db(database_url, lambda db: db.run(lambda tx: tx.audit.chained(0, 100)))
    assert [item.entry.action for item in links][-1] == "audit_chain_anchored"
    with tampering(database_url) as write:
        write("UPDATE audit_log SET detail = replace(detail, '1', '7') WHERE id = 2")
        if how == "relinked with the old key":
            old = ChainKeys(SecretBox(secrets_key)).current
            previous = links[0].mac
            for item in links[1:4]:
                entry = item.entry
                if entry.id == 2:
                    entry = dataclasses.replace(entry, detail=entry.detail.replace("1", "7"))
                previous = link(old, previous, entry, item.seq)
                write("UPDATE audit_log SET chain_mac = ? WHERE id = ?", previous, entry.id)
    status, out = verify_says(capsys)
    assert status == 1 and out.startswith("broken at seq 5, row id 5: "), out
    if how == "content":
        assert "not_as_anchored" in out


@both
async def test_two_rotations_verify_with_the_last_key_alone(
    db: Database, secrets_key: bytes, clock: FakeClock
) -> None:
    """k1 -> k2 -> k3: the second anchor covers the first (under k2, gone by then too)."""
    k1, k2, k3 = secrets_key, decode_key(generate_key()), decode_key(generate_key())
    await add(db, clock, range(3))
    await AuditChain(db, clock, SecretBox(k1)).chain_pending()
    assert (await AuditChain(db, clock, SecretBox(k2, [k1])).anchor()).seq == 4
    await add(db, clock, range(3, 5))
    await AuditChain(db, clock, SecretBox(k2)).chain_pending()  # k1 removed
    again = await AuditChain(db, clock, SecretBox(k3, [k2])).anchor()
    assert (again.seq, again.verified, again.broken) == (7, 6, None)
    nothing = await AuditChain(db, clock, SecretBox(k3, [k2])).anchor()
    assert (nothing.seq, nothing.broken) == (None, None)  # nothing more to anchor
    walk = await AuditChain(db, clock, SecretBox(k3)).walk()
    assert (walk.chained, walk.broken, walk.needs) == (7, None, frozenset())
    assert (walk.vouched, walk.vouched_keys) == (6, {key_id(k1), key_id(k2)})
    # A row forged with k1 after the second anchor is refused.
    head = await db.run(lambda tx: tx.audit.chain_head())
    assert head is not None
    entry = AuditEntry(50, clock.now(), "tg:7", None, None, "lock_cleared", "{}")
    forged = link(ChainKeys(SecretBox(k1)).current, head.mac, entry, 8)
    await db.run(
        lambda tx: tx.connection.execute(
            "INSERT INTO audit_log (id, at, actor, action, detail, chain_seq, chain_key_id,"
            " chain_mac) VALUES (50, ?, 'tg:7', 'lock_cleared', '{}', 8, ?, ?)",
            (int(clock.now().timestamp()), key_id(k1), forged),
        )
    )
    broken = (await AuditChain(db, clock, SecretBox(k3, [k1])).walk()).broken
    assert broken == Break(8, 50, "retired_key", key_id(k1), 7)  # (k2 gone: the 2nd says so)


async def test_a_process_with_a_retired_key_does_not_chain(
    db: Database, secrets_key: bytes, clock: FakeClock
) -> None:
    """A process still on the old SECRETS_KEY after the rotation: what it would chain
    could never verify; it leaves the rows to a process with the new key."""
    new_key = decode_key(generate_key())
    await add(db, clock, range(2))
    await AuditChain(db, clock, SecretBox(secrets_key)).chain_pending()
    rotated = SecretBox(new_key, [secrets_key])
    assert (await AuditChain(db, clock, rotated).anchor()).seq == 3
    await add(db, clock, range(2, 4))
    stale = AuditChain(db, clock, SecretBox(secrets_key))
    assert (await stale.chain_pending()).chained == 0
    assert (await stale.unchained()) == 2
    current = AuditChain(db, clock, SecretBox(new_key))
    assert (await current.chain_pending()).chained == 2
    walk = await current.walk()
    assert (walk.chained, walk.broken) == (5, None)


def test_the_commands_say_an_operators_mistake_in_one_line(
    command_env: pytest.MonkeyPatch, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for args, says in [
        (["audit", "export", "--since", "1.3.2026"], "--since must be a day as YYYY-MM-DD"),
        (["audit", "export"], "the following arguments are required: --since"),
        (["audit", "verify", "--head", "5"], "--head must be SEQ:MAC"),
    ]:
        with pytest.raises(SystemExit) as refused:
            main(args)
        assert refused.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and says in err and err.count("\n") == 1, err
    assert main(["audit", "verify"]) == 2  # no database yet: none is made
    err = capsys.readouterr().err
    assert err.startswith("error: DATABASE_URL: there is no SQLite database at")
    assert not Path(sqlite_path(database_url)).exists()


# ---------------------------------------------------------------------- export


@both
def test_the_export_round_trips_and_verifies_on_its_own(
    command_env: pytest.MonkeyPatch,
    database_url: str,
    tmp_path: Path,
    box: SecretBox,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    links = chained_log(database_url, box, clock, rows=7)
    on_db(database_url, lambda db: db.run(lambda tx: record(tx, clock, 8)))  # not chained
    output = tmp_path / "audit.jsonl"
    assert main(["audit", "export", "--since", "2026-03-01", "--output", str(output)]) == 0
    err = capsys.readouterr().err
    assert "exported 7 chained rows (seq 1 to 7) written since 2026-03-01" in err
    assert "1 rows not chained yet were left out" in err
    assert output.stat().st_mode & 0o777 == 0o600
    lines = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [from_record(line)[0] for line in lines] == links  # every column, seq, key, mac
    assert lines[0]["at"] == "2026-03-01T09:00:10Z" and lines[0]["mac"] == links[0].mac.hex()
    keys = ChainKeys(box)
    assert verify_records(lines, keys, whole=True) is None

    forged = [dict(line) for line in lines]
    forged[3]["detail"] = forged[3]["detail"].replace("3", "4")
    broken = verify_records(forged, keys)
    assert broken is not None and (broken.seq, broken.reason) == (4, "changed")
    gap = verify_records(lines[:2] + lines[3:], keys, whole=True)
    assert gap is not None and (gap.seq, gap.reason) == (3, "missing")

    # One account's rows: a filtered export, each row still verifies against its link.
    assert main(["audit", "export", "--since", "2026-03-01", "--account", "acct-1"]) == 0
    out = capsys.readouterr().out
    mine = [json.loads(line) for line in out.splitlines()]
    assert [line["seq"] for line in mine] == [2, 4, 6]
    assert verify_records(mine, keys) is None
    assert main(["audit", "export", "--since", "2026-03-02"]) == 0
    assert capsys.readouterr().out == ""  # nothing written since that day


def test_an_export_replaces_an_existing_file_with_a_new_private_one(
    command_env: pytest.MonkeyPatch,
    database_url: str,
    tmp_path: Path,
    box: SecretBox,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An existing file does not lend its mode to the export, and a symlink is replaced,
    not followed: the export is a new 0600 file, renamed into place."""
    chained_log(database_url, box, clock, rows=3)
    folder = tmp_path / "exports"
    folder.mkdir()
    existing = folder / "audit.jsonl"
    existing.write_text("yesterday's export\n", encoding="utf-8")
    existing.chmod(0o644)
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("not the export's to change\n", encoding="utf-8")
    elsewhere.chmod(0o644)
    link = folder / "linked.jsonl"
    link.symlink_to(elsewhere)

    for output in (existing, link):
        assert main(["audit", "export", "--since", "2026-03-01", "--output", str(output)]) == 0
        assert "exported 3 chained rows" in capsys.readouterr().err
        assert not output.is_symlink()
        assert output.stat().st_mode & 0o777 == 0o600
        assert len(output.read_text(encoding="utf-8").splitlines()) == 3
    assert elsewhere.read_text(encoding="utf-8") == "not the export's to change\n"
    assert elsewhere.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in folder.iterdir()) == ["audit.jsonl", "linked.jsonl"]


# ---------------------------------------------------------------------- concurrency


@both
async def test_writers_only_append_while_the_chain_job_runs(
    db: Database, box: SecretBox, clock: FakeClock
) -> None:
    """Writers (as the API path) append concurrently with two chainers (the job, and a
    second that should never run but could): every row is chained once, in one chain."""
    chains = [AuditChain(db, clock, box), AuditChain(db, clock, box)]

    async def write(n: int) -> None:
        await db.run(lambda tx: record(tx, clock, n))

    async def chain_often(chain: AuditChain) -> None:
        for _ in range(5):
            await chain.chain_pending()
            await asyncio.sleep(0)

    await asyncio.gather(*(write(n) for n in range(60)), *(chain_often(c) for c in chains))
    await chains[0].chain_pending()
    walk = await chains[0].walk()
    assert (walk.chained, walk.unchained, walk.broken) == (60, 0, None)


# ---------------------------------------------------------------------- the ops chat


async def test_the_head_is_posted_to_the_ops_chat(settings: Settings, clock: FakeClock) -> None:
    ops = dataclasses.replace(settings, ops_chat_id=OPS)
    async with running_bot(ops, clock) as bot:
        bot.state.group(OPS, "Ops")
        svc: Services = bot.app.bot_data[SERVICES_KEY]
        await add(svc.db, clock, range(3))
        await bot.run_job("audit-chain")
        await bot.run_job("audit-head")
        await bot.run_job("alerts")
        head = await svc.db.run(lambda tx: tx.audit.chain_head())
        posted = bot.state.messages(OPS)[-1].shown_text
    assert head is not None and head.seq == 3
    for part in (
        "INFO",
        "Audit log: the head of the chain",
        "seq: 3",
        f"key_id: {head.key_id}",
        f"mac: {head.mac.hex()}",
        "python -m bot audit verify --head SEQ:MAC",
    ):
        assert part in posted, posted
