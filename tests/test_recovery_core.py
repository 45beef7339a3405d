"""Recovery codes in the core: hashed, single use, replaced by a new set, counted by lockout."""

from __future__ import annotations

import re
from collections.abc import Callable

from core import totp
from core.clock import FakeClock
from core.crypto import SecretBox, decode_key, generate_key
from core.devices import DeviceService
from core.enrolment import EnrolmentService
from core.recovery import RecoveryHasher, generate_code, new_set, normalize, salted_hash
from core.verification import Result, VerificationService
from storage.db import Database
from tests.core_helpers import ANN, enrol


def test_codes_have_64_bits_and_read_in_groups() -> None:
    code = generate_code()
    assert re.fullmatch(r"[0-9a-f]{4}(-[0-9a-f]{4}){3}", code)
    assert len({generate_code() for _ in range(1000)}) == 1000
    assert normalize(code.upper().replace("-", " ")) == code.replace("-", "")
    for bad in ("123456", "zzzz-zzzz-zzzz-zzzz", "abcd-abcd-abcd", "x" * 100):
        assert normalize(bad) is None


def test_a_set_is_hashed_under_a_salt_of_its_own_and_no_key() -> None:
    one, two = new_set(), new_set()
    assert one.salt != two.salt and len(one.salt) == 16
    code = normalize(one.codes[0]) or ""
    assert one.hashes[0] == salted_hash(code, one.salt)  # the salt alone: no key
    assert salted_hash(code, two.salt) != one.hashes[0]
    assert len(set(one.hashes)) == 10


async def test_first_activation_issues_ten_codes_and_the_second_none(
    enrolment: EnrolmentService, clock: FakeClock, stored_bytes: Callable[[], bytes]
) -> None:
    first = await enrol(enrolment, clock)
    secret = first.secret
    assert len(first.recovery_codes) == 10
    proof = totp.code_at_step(secret, totp.time_step(clock.now()))
    second = await enrol(enrolment, clock, name="Tablet", proof=proof)
    assert second.recovery_codes == ()
    blob = stored_bytes()
    for code in first.recovery_codes:
        assert code.encode() not in blob and code.replace("-", "").encode() not in blob


async def test_a_recovery_code_works_once(
    enrolment: EnrolmentService, clock: FakeClock, db: Database, box: SecretBox
) -> None:
    done = await enrol(enrolment, clock)
    verifier = VerificationService(db, box, clock)
    code = done.recovery_codes[3]
    verdict = await verifier.verify("tg:1001", code, actor="api")
    assert verdict.result is Result.ACCEPTED and verdict.method == "recovery_code"
    assert verdict.recovery_codes_left == 9
    assert (await verifier.verify("tg:1001", code, actor="api")).result is Result.REJECTED
    upper = done.recovery_codes[4].upper().replace("-", " ")
    assert (await verifier.verify("tg:1001", upper, actor="api")).result is Result.ACCEPTED


async def test_a_new_set_voids_the_old_one(
    enrolment: EnrolmentService, clock: FakeClock, db: Database, box: SecretBox
) -> None:
    done = await enrol(enrolment, clock)
    secret = done.secret
    verifier = VerificationService(db, box, clock)
    devices = DeviceService(db, clock, verifier, RecoveryHasher(box))
    refused, none = await devices.new_recovery_codes(ANN, "000000")
    assert not refused.ok and none == []  # no set without a current code
    current = totp.code_at_step(secret, totp.time_step(clock.now()))
    proof, fresh = await devices.new_recovery_codes(ANN, current)
    assert proof.ok and len(fresh) == 10 and not set(fresh) & set(done.recovery_codes)
    old = await verifier.verify("tg:1001", done.recovery_codes[0], actor="api")
    assert old.result is Result.REJECTED
    new = await verifier.verify("tg:1001", fresh[0], actor="api")
    assert new.result is Result.ACCEPTED and new.recovery_codes_left == 9


async def test_wrong_recovery_codes_count_toward_the_lock(
    enrolment: EnrolmentService, clock: FakeClock, db: Database, box: SecretBox
) -> None:
    done = await enrol(enrolment, clock)
    verifier = VerificationService(db, box, clock)
    for _ in range(4):
        wrong = await verifier.verify("tg:1001", "0000-0000-0000-0000", actor="api")
        assert wrong.result is Result.REJECTED
    locked = await verifier.verify("tg:1001", "0000-0000-0000-0001", actor="api")
    assert locked.result is Result.LOCKED
    during = await verifier.verify("tg:1001", done.recovery_codes[0], actor="api")
    assert during.result is Result.LOCKED  # a right recovery code is refused during a lock


async def test_every_use_is_audited_and_alerted(
    enrolment: EnrolmentService, clock: FakeClock, db: Database, box: SecretBox
) -> None:
    done = await enrol(enrolment, clock)
    await VerificationService(db, box, clock).verify("tg:1001", done.recovery_codes[0], actor="api")
    actions = [e.action for e in await db.run(lambda tx: tx.audit.entries("tg:1001"))]
    assert "recovery_code_used" in actions
    kinds = [e.kind for e in await db.run(lambda tx: tx.alerts.due(clock.now()))]
    assert "recovery_code_used" in kinds


async def test_the_last_device_goes_only_with_a_confirmation(
    enrolment: EnrolmentService, clock: FakeClock, db: Database, box: SecretBox
) -> None:
    secret = (await enrol(enrolment, clock)).secret
    verifier = VerificationService(db, box, clock)
    devices = DeviceService(db, clock, verifier, RecoveryHasher(box))
    _, (device,), _ = await devices.overview(ANN)
    unproven = await devices.remove(ANN, device.id, confirm_last=True)
    assert unproven.unauthorised and unproven.removed is None  # no code, no grant: nothing
    current = totp.code_at_step(secret, totp.time_step(clock.now()))
    refused = await devices.remove(ANN, device.id, proof_code=current)
    assert refused.needs_confirmation and refused.removed is None and refused.remaining == 1
    removed = await devices.remove(ANN, device.id, confirm_last=True)
    assert removed.removed is not None and removed.remaining == 0
    _, left, codes = await devices.overview(ANN)
    assert left == [] and codes == 0  # 2FA off: the recovery codes are void too


async def test_codes_issued_before_a_key_rotation_work_without_that_key(
    enrolment: EnrolmentService, clock: FakeClock, db: Database, secrets_key: bytes
) -> None:
    done = await enrol(enrolment, clock)
    rotated = SecretBox(decode_key(generate_key()), previous=[secrets_key])
    verifier = VerificationService(db, rotated, clock)
    verdict = await verifier.verify("tg:1001", done.recovery_codes[0], actor="api")
    assert verdict.result is Result.ACCEPTED and verdict.method == "recovery_code"
    again = await verifier.verify("tg:1001", done.recovery_codes[0], actor="api")
    assert again.result is Result.REJECTED  # once, whatever the key
    forgotten = VerificationService(db, SecretBox(decode_key(generate_key())), clock)
    kept = await forgotten.verify("tg:1001", done.recovery_codes[1], actor="api")
    assert kept.result is Result.ACCEPTED  # the old key gone: a salted hash needs none
