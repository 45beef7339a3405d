"""Account ids stored before the API normalised them (NFC) get their one spelling at
start: every table that holds one, sealed secrets re-sealed for it; two stored ids that
are one in NFC stop the start with one line; so does an id not in NFC that remains."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

import pytest

from bot.__main__ import main
from core import totp
from core.account_ids import refuse_unnormalised_account_ids
from core.accounts import TelegramIdentity
from core.clock import FakeClock
from core.config import ConfigError, Settings
from core.crypto import SecretBox
from core.enrolment import EnrolmentService
from core.enrolment_results import EnrolmentStarted
from core.identifiers import normalise_account_id
from core.links import EnrolmentLinks, LinkOutcome
from core.services import Services
from core.verification import Result, VerificationService
from storage.db import Database
from storage.repositories import Transaction
from storage.repositories.account_ids import ACCOUNT_ID_COLUMNS, NOT_ACCOUNT_IDS

DECOMPOSED = "jose\u0301@example.com"  # as an older API stored it
COMPOSED = "jos\u00e9@example.com"  # NFC: what the API sends now
ANN = TelegramIdentity(1001, "ann", "Ann")
BEN = TelegramIdentity(1002, "ben", "Ben")


@dataclass
class Enrolled:
    secret: str
    recovery_codes: tuple[str, ...]


def step(clock: FakeClock) -> int:
    return totp.time_step(clock.now())


async def bind_and_start(
    db: Database, box: SecretBox, clock: FakeClock, account: str, who: TelegramIdentity
) -> EnrolmentStarted:
    """``who`` manages ``account`` exactly as given (the core takes ids as they come, as an
    older API stored them) and has started to set up a device."""
    verifier = VerificationService(db, box, clock)
    minted = await EnrolmentLinks(db, clock, verifier).mint(account)
    opened = await EnrolmentLinks(db, clock, verifier).open(minted.token, who, who.user_id)
    assert opened.outcome is LinkOutcome.BOUND
    started = await EnrolmentService(db, box, clock, issuer="2FA Desk").start(who, who.user_id)
    assert isinstance(started, EnrolmentStarted) and started.enrolment.account_id == account
    return started


async def enrol_through_a_link(
    db: Database, box: SecretBox, clock: FakeClock, account: str, who: TelegramIdentity
) -> Enrolled:
    """``account`` exactly as given, bound and enrolled."""
    started = await bind_and_start(db, box, clock, account, who)
    enrolment = EnrolmentService(db, box, clock, issuer="2FA Desk")
    await enrolment.submit(who.user_id, totp.code_at_step(started.secret, step(clock)))
    await enrolment.submit(who.user_id, "Phone")
    done = await enrolment.complete(who.user_id, started.enrolment.id)
    return Enrolled(started.secret, done.recovery_codes)


async def test_an_id_stored_decomposed_is_found_in_either_spelling_after_a_start(
    db: Database, settings: Settings, box: SecretBox, clock: FakeClock
) -> None:
    ben = await bind_and_start(db, box, clock, DECOMPOSED, BEN)  # pending: sealed too
    ann = await enrol_through_a_link(db, box, clock, DECOMPOSED, ANN)
    await VerificationService(db, box, clock).verify(DECOMPOSED, "000000", actor="api")
    await db.close()
    clock.advance(seconds=60)

    services = await Services.open(settings, clock)
    try:
        verifier = services.verification
        for spelling in (COMPOSED, DECOMPOSED):
            account = normalise_account_id(spelling)  # what the API does with either
            code = totp.code_at_step(ann.secret, step(clock))
            verdict = await verifier.verify(account, code, actor="api")
            assert verdict.result is Result.ACCEPTED, spelling
            clock.advance(seconds=30)
        recovered = await verifier.verify(COMPOSED, ann.recovery_codes[0], actor="api")
        assert recovered.result is Result.ACCEPTED
        status = await services.enrolment.status(ANN)
        assert status.account_id == COMPOSED and len(status.devices) == 1
        resumed = await services.enrolment.start(BEN, BEN.user_id)
        assert isinstance(resumed, EnrolmentStarted) and resumed.secret == ben.secret
        assert resumed.enrolment.account_id == COMPOSED
        stored = await services.db.run(stored_account_ids)
        assert stored == {COMPOSED}
        audit = await services.db.run(lambda tx: tx.audit.entries(COMPOSED))
        respelled = [e for e in audit if e.action == "account_id_normalised"]
        assert len(respelled) == 1 and json.loads(respelled[0].detail)["previous"] == DECOMPOSED
    finally:
        await services.close()

    again = await Services.open(settings, clock)  # the next start finds nothing to do
    await again.close()


def ensure(tx: Transaction, account: str, now: datetime) -> None:
    tx.accounts.ensure(account, now)


def stored_account_ids(tx: object) -> set[str]:
    """Every account id in every table that holds one (the audit log's rows keep theirs:
    they are chained as written)."""
    conn = tx.connection  # type: ignore[attr-defined]
    ids = {row[0] for row in conn.execute("SELECT id FROM accounts")}
    for table, column in ACCOUNT_ID_COLUMNS:
        sql = f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL"  # noqa: S608
        ids |= {row[0] for row in conn.execute(sql)}
    return ids


async def test_two_ids_that_are_one_in_nfc_stop_the_start_naming_both(
    db: Database, settings: Settings, box: SecretBox, clock: FakeClock
) -> None:
    await enrol_through_a_link(db, box, clock, DECOMPOSED, ANN)
    await enrol_through_a_link(db, box, clock, COMPOSED, BEN)
    await db.close()

    with pytest.raises(ConfigError) as refused:
        await Services.open(settings, clock)
    line = str(refused.value)
    assert len(line.splitlines()) == 1
    assert r"'jose\u0301@example.com'" in line and r"'jos\xe9@example.com'" in line
    assert "one account in Unicode NFC" in line


async def test_two_ids_neither_in_nfc_that_are_one_in_nfc_stop_the_start_too(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    first, second = "\u1e0b\u0323 desk", "d\u0307\u0323 desk"  # both NFC "\u1e0d\u0307 desk"
    for account in (first, second, "jose\u0301 alone"):
        await db.run(partial(ensure, account=account, now=clock.now()))
    await db.close()

    with pytest.raises(ConfigError, match="one account in Unicode NFC") as refused:
        await Services.open(settings, clock)
    assert ascii(first) in str(refused.value) and ascii(second) in str(refused.value)
    assert "alone" not in str(refused.value)


async def test_python_m_bot_refuses_a_clash_in_one_line(
    command_env: pytest.MonkeyPatch,
    db: Database,
    box: SecretBox,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await enrol_through_a_link(db, box, clock, DECOMPOSED, ANN)
    await enrol_through_a_link(db, box, clock, COMPOSED, BEN)
    await db.close()
    capsys.readouterr()

    assert await asyncio.to_thread(main, []) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: stored account ids ") and len(err.splitlines()) == 1
    assert "Traceback" not in err


async def test_an_id_not_in_nfc_that_remains_is_refused(db: Database, clock: FakeClock) -> None:
    """As when a process of an older version wrote one after the start normalised."""
    await refuse_unnormalised_account_ids(db)  # an empty database: nothing to refuse
    await db.run(lambda tx: tx.accounts.ensure(DECOMPOSED, clock.now()))
    with pytest.raises(ConfigError, match=r"not in Unicode NFC.*'jose\\u0301@example.com'"):
        await refuse_unnormalised_account_ids(db)


def test_every_column_that_holds_an_account_id_is_normalised(tmp_path: Path) -> None:
    """A new table with an account id must be added to ACCOUNT_ID_COLUMNS; the audit log
    is left as written (its rows are chained over their columns)."""
    conn = sqlite3.connect(tmp_path / "schema.sqlite3")
    try:
        from storage.sqlite import _migrate, data_tables

        _migrate(conn)
        holding = {
            (table, row[1])
            for table in data_tables(conn)
            for row in conn.execute(f'PRAGMA table_info("{table}")')
            if row[1] == "account_id"
        }
    finally:
        conn.close()
    assert holding - {("audit_log", "account_id"), *NOT_ACCOUNT_IDS} == set(ACCOUNT_ID_COLUMNS)
