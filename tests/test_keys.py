"""Key rotation: rotate-key re-seals online while codes are checked, resumes after an
interruption, leaves recovery codes working; the start refuses a value under a key that
is not configured; check-key names a value that does not open.

The core runs on both backends (``backend`` is parametrised here); the commands run
in-process through ``python -m bot``'s ``main``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TypeVar

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.__main__ import main
from core import totp
from core.accounts import TelegramIdentity
from core.clock import FakeClock
from core.config import ConfigError, Settings
from core.crypto import SecretBox, decode_key, generate_key, key_id
from core.devices import DeviceService
from core.enrolment import EnrolmentService
from core.enrolment_results import EnrolmentStarted
from core.keys import check, key_usage, rotate
from core.recovery import RecoveryHasher, generate_code, normalize
from core.services import Services
from core.verification import Result, VerificationService
from storage.db import Backend, Database, open_database
from storage.repositories import Transaction
from tests.conftest import BACKENDS, TEST_TOKEN
from tests.core_helpers import Enrolled, enrol

T = TypeVar("T")
API_TOKEN = "k" * 40


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Every test here on SQLite and on PostgreSQL."""
    chosen: Backend = request.param
    return chosen


@pytest.fixture
def new_key() -> bytes:
    return decode_key(generate_key())


@pytest.fixture
def rotated(new_key: bytes, secrets_key: bytes) -> SecretBox:
    """After the operator's step 1: a new SECRETS_KEY, the old one among the previous."""
    return SecretBox(new_key, previous=[secrets_key])


def legacy_blob(key: bytes, secret: str, account: str, device_id: str) -> bytes:
    """A value sealed before key ids (format v1: no key named)."""
    nonce = os.urandom(12)
    data = b"2fa-desk/totp/v1\x00" + account.encode() + b"\x00" + device_id.encode()
    return b"\x01" + nonce + AESGCM(key).encrypt(nonce, secret.encode(), data)


async def populate(db: Database, key: bytes, clock: FakeClock, accounts: int) -> list[Enrolled]:
    """``accounts`` users enrolled under ``key``, plus what else holds a sealed value: a
    revoked device, a device sealed before key ids, and an enrolment in progress. Then
    90 s later (the confirmation codes' steps are spent)."""
    box = SecretBox(key)
    users = [
        await enrol(EnrolmentService(db, box, clock, issuer="2FA Desk"), clock, 2000 + n)
        for n in range(accounts)
    ]
    spare = await enrol(EnrolmentService(db, box, clock, issuer="2FA Desk"), clock, 1999)
    now = clock.now()
    await db.run(lambda tx: tx.devices.revoke(spare.device_id, now))
    legacy_id = uuid.uuid4().hex
    blob = legacy_blob(key, totp.generate_secret(), spare.account, legacy_id)
    await db.run(lambda tx: tx.devices.add(legacy_id, spare.account, "Old", blob, None, None, now))
    pending = EnrolmentService(db, box, clock, issuer="2FA Desk")
    who = TelegramIdentity(1998, "pending", "Pending")
    assert isinstance(await pending.start(who, 1998), EnrolmentStarted)
    clock.advance(seconds=90)
    return users


def sealed_values(accounts: int) -> int:
    """What ``populate`` sealed: a device per account, the revoked and the legacy
    device, the enrolment in progress."""
    return accounts + 3


async def verify_all_steps(
    verifier: VerificationService, user: Enrolled, clock: FakeClock
) -> list[Result]:
    """Three logins, with the codes of the previous, current and next step: all fresh."""
    now_step = totp.time_step(clock.now())
    results = []
    for step in (now_step - 1, now_step, now_step + 1):
        verdict = await verifier.verify(
            user.account, totp.code_at_step(user.secret, step), actor="api"
        )
        results.append(verdict.result)
    return results


# ------------------------------------------------------------------------- the core


async def test_rotation_while_codes_are_checked_fails_no_verification(
    db: Database, secrets_key: bytes, new_key: bytes, rotated: SecretBox, clock: FakeClock
) -> None:
    users = await populate(db, secrets_key, clock, 16)
    verifier = VerificationService(db, rotated, clock)  # a process restarted with the new key
    batches = 0
    seen: list[tuple[int, Result]] = []

    first_batch = asyncio.Event()  # the logins start once the rotation has begun

    def progress(_: int) -> None:
        nonlocal batches
        batches += 1
        first_batch.set()

    async def logins(group: list[Enrolled]) -> None:
        await first_batch.wait()
        now_step = totp.time_step(clock.now())
        for step in (now_step - 1, now_step, now_step + 1):
            for user in group:
                code = totp.code_at_step(user.secret, step)
                verdict = await verifier.verify(user.account, code, actor="api")
                seen.append((batches, verdict.result))

    checks = [asyncio.create_task(logins(users[i::4])) for i in range(4)]
    report = await rotate(db, rotated, batch_rows=1, progress=progress)
    await asyncio.gather(*checks)

    assert [result for _, result in seen] == [Result.ACCEPTED] * (3 * len(users))
    assert len({at for at, _ in seen}) > 1  # the logins ran between the rotation's batches
    assert report.complete and report.unopened == []
    assert report.resealed == sealed_values(len(users)) and report.batches >= 6
    usage = await key_usage(db)
    assert usage.sealed == {rotated.current_id: sealed_values(len(users))}
    # The old key is not needed any more: every value opens with the new key alone.
    alone = SecretBox(new_key)
    assert (await check(db, alone)).ok
    clock.advance(seconds=90)  # past the steps the logins spent
    assert (
        await verify_all_steps(VerificationService(db, alone, clock), users[0], clock)
        == [Result.ACCEPTED] * 3
    )


async def test_an_interrupted_rotation_continues_where_it_stopped(
    db: Database, secrets_key: bytes, rotated: SecretBox, clock: FakeClock
) -> None:
    users = await populate(db, secrets_key, clock, 9)
    total = sealed_values(len(users))

    class Interrupted(Exception):
        pass

    def stop(_: int) -> None:
        raise Interrupted  # as a Ctrl-C after the first batch

    with pytest.raises(Interrupted):
        await rotate(db, rotated, batch_rows=5, progress=stop)
    halfway = await key_usage(db)
    assert halfway.sealed[rotated.current_id] == 5
    assert halfway.sealed_not_under(rotated.current_id) == total - 5

    report = await rotate(db, rotated, batch_rows=5)
    assert report.resealed == total - 5 and report.complete
    entries = await db.run(lambda tx: tx.audit.entries())
    assert (entries[-1].actor, entries[-1].action) == ("operator", "secrets_resealed")
    assert json.loads(entries[-1].detail)["resealed"] == total - 5
    again = await rotate(db, rotated, batch_rows=5)
    assert again.resealed == 0 and again.batches == 0 and again.complete  # nothing left
    verifier = VerificationService(db, rotated, clock)
    for user in users:
        assert await verify_all_steps(verifier, user, clock) == [Result.ACCEPTED] * 3


async def test_two_rotations_at_once_reseal_each_value_once(
    db: Database, secrets_key: bytes, new_key: bytes, rotated: SecretBox, clock: FakeClock
) -> None:
    users = await populate(db, secrets_key, clock, 6)
    one, two = await asyncio.gather(
        rotate(db, rotated, batch_rows=2), rotate(db, rotated, batch_rows=2)
    )
    # Compare and swap: where both read the same value, the second write finds the row
    # changed, leaves it, and reads it again (under the new key now: nothing to do).
    assert one.resealed + two.resealed == sealed_values(len(users))
    assert one.raced + two.raced > 0
    assert one.complete and two.complete
    assert (await check(db, SecretBox(new_key))).ok


async def test_a_changed_row_is_not_overwritten(
    db: Database, box: SecretBox, clock: FakeClock
) -> None:
    user = await enrol(EnrolmentService(db, box, clock, issuer="2FA Desk"), clock, 3001)
    device = await db.run(lambda tx: tx.devices.get(user.device_id))
    assert device is not None
    stale = box.seal(user.secret, account_id=user.account, device_id=user.device_id)
    lost = await db.run(
        lambda tx: tx.sealed.swap("devices", [(user.device_id, stale, b"\x02never")])
    )
    assert lost == [user.device_id]
    after = await db.run(lambda tx: tx.devices.get(user.device_id))
    assert after is not None and after.secret_sealed == device.secret_sealed


def legacy_hashes(key: bytes, codes: tuple[str, ...]) -> list[bytes]:
    """The hashes recovery codes were stored under before they were salted: an HMAC under
    a key derived from the SECRETS_KEY of the day."""
    derived = SecretBox(key).derived(b"2fa-desk/recovery-codes/v1")[key_id(key)]
    return [
        hmac.new(derived, (normalize(code) or "").encode(), hashlib.sha256).digest()
        for code in codes
    ]


async def with_legacy_codes(
    db: Database, key: bytes, user: Enrolled, key_recorded: bool = True
) -> Enrolled:
    """``user`` with a new set of ten codes as this version's predecessors stored them
    (their key id recorded, or NULL as before key ids were), the keyless set gone."""
    codes = tuple(generate_code() for _ in range(10))
    kid = key_id(key) if key_recorded else None

    def store(tx: Transaction) -> None:
        tx.connection.execute("DELETE FROM recovery_codes WHERE account_id = ?", (user.account,))
        for code_hash in legacy_hashes(key, codes):
            tx.connection.execute(
                "INSERT INTO recovery_codes (account_id, code_hash, created_at, key_id)"
                " VALUES (?, ?, 0, ?)",
                (user.account, code_hash, kid),
            )

    await db.run(store)
    return replace(user, recovery_codes=codes)


async def test_recovery_codes_need_no_key(
    db: Database, box: SecretBox, new_key: bytes, rotated: SecretBox, clock: FakeClock
) -> None:
    user = await enrol(EnrolmentService(db, box, clock, issuer="2FA Desk"), clock, 4001)
    clock.advance(seconds=90)
    usage = await key_usage(db)
    assert (usage.recovery_codes, usage.recovery_codes_keyless) == ({}, 10)  # salted, no key
    report = await rotate(db, rotated)
    assert report.complete and report.usage.recovery_codes_keyless == 10
    alone = VerificationService(db, SecretBox(new_key), clock)  # the old key removed
    used = await alone.verify(user.account, user.recovery_codes[0], actor="api")
    assert used.result is Result.ACCEPTED and used.method == "recovery_code"
    assert (await key_usage(db)).recovery_codes_keyless == 9
    again = await alone.verify(user.account, user.recovery_codes[0], actor="api")
    assert again.result is Result.REJECTED  # once


@pytest.mark.parametrize("key_recorded", [True, False], ids=["key id", "before key ids"])
async def test_recovery_codes_issued_before_a_rotation_work_after_the_old_key_is_removed(
    db: Database,
    box: SecretBox,
    secrets_key: bytes,
    new_key: bytes,
    rotated: SecretBox,
    clock: FakeClock,
    key_recorded: bool,
) -> None:
    """Codes hashed under the old key (as stored before codes were salted): rotate-key
    keeps the key their hashes need (derived from the old key for that alone, sealed under
    the new one), so they outlive the old key."""
    fresh = await enrol(EnrolmentService(db, box, clock, issuer="2FA Desk"), clock, 4101)
    older = await with_legacy_codes(
        db,
        secrets_key,
        await enrol(EnrolmentService(db, box, clock, issuer="2FA Desk"), clock, 4102),
        key_recorded,
    )
    clock.advance(seconds=90)
    before = VerificationService(db, box, clock)  # still working under the old key
    assert (await before.verify(older.account, older.recovery_codes[9], actor="api")).result is (
        Result.ACCEPTED
    )
    usage = await key_usage(db)
    assert usage.recovery_codes == {box.current_id if key_recorded else None: 9}
    assert usage.recovery_codes_keyless == 10

    report = await rotate(db, rotated)
    assert report.complete
    alone = SecretBox(new_key)
    assert (await check(db, alone)).ok
    verifier = VerificationService(db, alone, clock)
    for user in (fresh, older):
        used = await verifier.verify(user.account, user.recovery_codes[0], actor="api")
        assert used.result is Result.ACCEPTED and used.method == "recovery_code", user
    wrong = await verifier.verify(older.account, generate_code(), actor="api")
    assert wrong.result is Result.REJECTED

    # The next new set is salted and needs no key.
    devices = DeviceService(db, clock, verifier, RecoveryHasher(alone))
    current = totp.code_at_step(older.secret, totp.time_step(clock.now()))
    proof, renewed = await devices.new_recovery_codes(older.who, current)
    assert proof.ok and len(renewed) == 10
    usage = await key_usage(db)
    assert (usage.recovery_codes, usage.recovery_codes_keyless) == ({}, 19)


async def test_check_opens_every_value_and_names_one_that_does_not(
    db: Database, secrets_key: bytes, box: SecretBox, clock: FakeClock
) -> None:
    users = await populate(db, secrets_key, clock, 3)
    await corrupt(db, users[1].device_id)
    report = await check(db, box, batch_rows=2)
    assert not report.ok
    assert report.opened == {box.current_id: sealed_values(3) - 2, "v1": 1}
    (problem,) = report.unopened
    assert (problem.kind, problem.row_id, problem.account_id) == (
        "device",
        users[1].device_id,
        users[1].account,
    )
    assert users[1].secret not in problem.describe()


async def corrupt(db: Database, device_id: str) -> None:
    """One bit of a sealed value changed (a damaged disk, a tampered row)."""
    device = await db.run(lambda tx: tx.devices.get(device_id))
    assert device is not None
    blob = bytearray(device.secret_sealed)
    blob[-1] ^= 1
    await db.run(
        lambda tx: tx.connection.execute(
            "UPDATE devices SET secret_sealed = ? WHERE id = ?", (bytes(blob), device_id)
        )
    )


# ----------------------------------------------------------------------- at start


def settings_for(database_url: str, current: bytes, *previous: bytes) -> Settings:
    return Settings(
        telegram_bot_token=TEST_TOKEN,
        secrets_key=current,
        secrets_keys_previous=previous,
        database_url=database_url,
    )


async def test_a_value_under_a_key_that_is_not_configured_stops_the_start(
    db: Database,
    box: SecretBox,
    clock: FakeClock,
    database_url: str,
    secrets_key: bytes,
    new_key: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await populate(db, secrets_key, clock, 2)
    with pytest.raises(ConfigError) as refused:
        await Services.open(settings_for(database_url, new_key), clock)
    line = str(refused.value)
    assert "\n" not in line
    # (The value from before key ids names no key: opened by trial, counted apart.)
    assert f"key {key_id(secrets_key)}: {sealed_values(2) - 1} values" in line
    assert line.endswith("add the key to SECRETS_KEYS_PREVIOUS or restore it")

    # The key back among the previous ones: the start goes on, and warns.
    caplog.set_level(logging.WARNING, logger="core.keys")
    services = await Services.open(settings_for(database_url, new_key, secrets_key), clock)
    await services.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        f"previous key {key_id(secrets_key)} (SECRETS_KEYS_PREVIOUS entry 1) still seals "
        f"{sealed_values(2) - 1} values" in message
        for message in warnings
    ), warnings
    assert any("1 sealed values date from before key ids" in m for m in warnings), warnings


# ---------------------------------------------------------------------- the commands


def encode(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def on_database(database_url: str, work: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        db = await open_database(database_url)
        try:
            return await work(db)
        finally:
            await db.close()

    return asyncio.run(run())


def prepared(database_url: str, key: bytes, accounts: int) -> tuple[list[Enrolled], FakeClock]:
    """A database with ``accounts`` users and the rest (``populate``) under ``key``."""
    clock = FakeClock(datetime(2026, 3, 1, 9, 0, 10, tzinfo=UTC))

    async def fill() -> list[Enrolled]:
        db = await open_database(database_url)
        try:
            return await populate(db, key, clock, accounts)
        finally:
            await db.close()

    return asyncio.run(fill()), clock


def test_rotate_key_then_check_key_from_the_command_line(
    command_env: pytest.MonkeyPatch,
    database_url: str,
    secrets_key: bytes,
    new_key: bytes,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One account still has a set stored as keyed hashes (before salted ones): rotate-key
    keeps its key, and then says plainly that the old key can go; check-key with the new
    key alone agrees, and the old code still works."""
    users, clock = prepared(database_url, secrets_key, 4)
    older = on_database(database_url, lambda db: with_legacy_codes(db, secrets_key, users[0]))
    command_env.setenv("SECRETS_KEY", encode(new_key))
    command_env.setenv("SECRETS_KEYS_PREVIOUS", encode(secrets_key))
    old, new = key_id(secrets_key), key_id(new_key)

    assert main(["check-key"]) == 0  # before the rotation: the old key is still needed
    out, _ = capsys.readouterr()
    assert (
        f"Key {old} (SECRETS_KEYS_PREVIOUS entry 1) is still needed by "
        f"{sealed_values(4)} sealed values, 10 recovery codes: do not remove it yet." in out
    ), out

    assert main(["rotate-key", "--batch", "2"]) == 0
    out, err = capsys.readouterr()
    assert f"re-sealed {sealed_values(4)} values under SECRETS_KEY (key {new})" in out
    # The current key: every sealed value, and the key kept for the older codes.
    assert any(
        line.split()[:3] == [new, str(sealed_values(4) + 1), "0"] for line in out.splitlines()
    ), out
    assert any(line.split()[:3] == [old, "0", "10"] for line in out.splitlines()), out
    assert "40 recovery codes are salted hashes: they need no key." in out
    assert f"10 recovery codes date from before salted hashes (keyed hashes: 10 under {old})" in out
    assert f"(kept: {old})" in out
    assert "every sealed value is under SECRETS_KEY." in out
    assert (
        f"Key {old} (SECRETS_KEYS_PREVIOUS entry 1) is needed by nothing any more (sealed "
        "values, recovery codes, audit log): remove it from SECRETS_KEYS_PREVIOUS in every "
        "configuration, restart the processes, and destroy it" in out
    ), out
    assert "values" in err  # tqdm's progress bar, on standard error
    for user in users:
        assert user.secret not in out + err

    assert main(["check-key"]) == 0
    out, _ = capsys.readouterr()
    assert any(
        line.split()[:3] == [new, str(sealed_values(4) + 1), "0"] for line in out.splitlines()
    )
    assert "every sealed value opens." in out
    assert f"Key {old} (SECRETS_KEYS_PREVIOUS entry 1) is needed by nothing any more" in out

    command_env.delenv("SECRETS_KEYS_PREVIOUS")  # the old key removed
    assert main(["check-key"]) == 0
    out, _ = capsys.readouterr()
    assert "SECRETS_KEY alone is enough: nothing needs a previous key." in out, out

    async def use_codes(db: Database) -> list[Result]:
        verifier = VerificationService(db, SecretBox(new_key), clock)
        return [
            (await verifier.verify(user.account, user.recovery_codes[5], actor="api")).result
            for user in (older, users[1])
        ]

    assert on_database(database_url, use_codes) == [Result.ACCEPTED] * 2

    # Run again: nothing left to do.
    assert main(["rotate-key"]) == 0
    assert "re-sealing 0 values" in capsys.readouterr().out


def test_check_key_names_the_account_of_a_value_that_does_not_open(
    command_env: pytest.MonkeyPatch,
    database_url: str,
    secrets_key: bytes,
    capsys: pytest.CaptureFixture[str],
) -> None:
    users, _ = prepared(database_url, secrets_key, 3)

    async def damage() -> None:
        db = await open_database(database_url)
        try:
            await corrupt(db, users[2].device_id)
        finally:
            await db.close()

    asyncio.run(damage())
    command_env.setenv("SECRETS_KEY", encode(secrets_key))
    assert main(["check-key"]) == 1
    out, err = capsys.readouterr()
    assert f"device {users[2].device_id} of account {users[2].account}: does not open" in out
    assert "1 sealed values do not open" in out and "every sealed value opens" not in out
    assert any(line.split()[:3] == [key_id(secrets_key), "4", "1"] for line in out.splitlines())
    for user in users:
        assert user.secret not in out + err
    # rotate-key leaves it as it is, says so, and exits 1.
    command_env.setenv("SECRETS_KEY", generate_key())
    command_env.setenv("SECRETS_KEYS_PREVIOUS", encode(secrets_key))
    assert main(["rotate-key"]) == 1
    out, _ = capsys.readouterr()
    assert "1 sealed values do not open and were left as they are" in out
    assert f"device {users[2].device_id} of account {users[2].account}" in out


def test_the_start_with_a_key_missing_is_one_line_and_status_2(
    command_env: pytest.MonkeyPatch,
    backend: Backend,
    database_url: str,
    secrets_key: bytes,
    new_key: bytes,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prepared(database_url, secrets_key, 1)
    command_env.setenv("SECRETS_KEY", encode(new_key))  # the old key forgotten
    if backend == "postgresql":  # the API role alone; on SQLite the bot
        command_env.setenv("API_TOKEN", API_TOKEN)
        command_env.setenv("TELEGRAM_BOT_USERNAME", "twofa_desk_bot")
    assert main(["api"] if backend == "postgresql" else []) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: sealed values name a key")
    assert f"key {key_id(secrets_key)}: {sealed_values(1) - 1} values" in lines[0]
    assert lines[0].endswith("add the key to SECRETS_KEYS_PREVIOUS or restore it")


def test_a_rotated_deployment_starts_without_the_old_key_once_check_key_passes(
    command_env: pytest.MonkeyPatch,
    database_url: str,
    secrets_key: bytes,
    new_key: bytes,
    capsys: pytest.CaptureFixture[str],
) -> None:
    users, clock = prepared(database_url, secrets_key, 2)
    command_env.setenv("SECRETS_KEY", encode(new_key))
    command_env.setenv("SECRETS_KEYS_PREVIOUS", f"{encode(secrets_key)},")
    assert main(["rotate-key"]) == 0
    command_env.delenv("SECRETS_KEYS_PREVIOUS")  # the old key dropped
    assert main(["check-key"]) == 0
    capsys.readouterr()

    async def start_and_verify() -> Result:
        services = await Services.open(
            replace(settings_for(database_url, new_key), qr_render_processes=0), clock
        )
        try:
            now_step = totp.time_step(clock.now())
            code = totp.code_at_step(users[0].secret, now_step)
            return (await services.verification.verify(users[0].account, code, actor="api")).result
        finally:
            await services.close()

    assert asyncio.run(start_and_verify()) is Result.ACCEPTED
