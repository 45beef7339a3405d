"""Secrets where no prompt takes them, in the core: a recovery code of the sender's account
is voided and everyone on it is told; a code posted in a group spends its time step; on
both databases."""

from __future__ import annotations

from core import totp
from core.accounts import TelegramIdentity
from core.clock import FakeClock
from core.crypto import SecretBox
from core.enrolment import EnrolmentService
from core.free_text import SecretShape
from core.recovery import RecoveryHasher
from core.stray_secrets import Place, StraySecrets
from core.verification import Result, VerificationService
from storage.db import Database
from tests.core_helpers import ANN, enrol

BO = TelegramIdentity(2002, "bo", "Bo")


def stray(db: Database, box: SecretBox, clock: FakeClock) -> StraySecrets:
    return StraySecrets(db, box, clock, RecoveryHasher(box))


async def notices(db: Database, clock: FakeClock) -> list[tuple[str, dict[str, object]]]:
    due = await db.run(lambda tx: tx.notices.due(clock.now()))
    return [(n.kind, n.detail) for n in due]


async def test_a_recovery_code_left_in_a_chat_is_voided_and_the_account_told(
    enrolment: EnrolmentService, clock: FakeClock, db: Database, box: SecretBox
) -> None:
    done = await enrol(enrolment, clock)
    code = done.recovery_codes[0]
    seen = await stray(db, box, clock).seen(ANN, f"is it {code.upper()}?", Place.PRIVATE)
    assert seen.shape is SecretShape.RECOVERY_CODE and seen.remove
    assert (seen.voided, seen.left) == (1, 9)
    assert ("recovery_code_voided", {"left": 9}) in await notices(db, clock)
    verdict = await VerificationService(db, box, clock).verify("tg:1001", code, actor="api")
    assert verdict.result is Result.REJECTED
    again = await stray(db, box, clock).seen(ANN, code, Place.GROUP)
    assert again.remove and again.voided == 0  # already void: nobody is told twice
    entries = await db.run(lambda tx: tx.audit.entries("tg:1001"))
    assert [e.action for e in entries].count("recovery_code_voided") == 1


async def test_a_recovery_code_of_no_account_or_another_voids_nothing(
    enrolment: EnrolmentService, clock: FakeClock, db: Database, box: SecretBox
) -> None:
    done = await enrol(enrolment, clock)
    seen = await stray(db, box, clock).seen(BO, done.recovery_codes[0], Place.GROUP)
    assert seen.remove and seen.voided == 0
    # Bo never used the bot: no account is made for him by a message in a group.
    assert await db.run(lambda tx: tx.accounts.link_for(BO.user_id)) is None
    unknown = await stray(db, box, clock).seen(ANN, "0000-1111-2222-3333", Place.PRIVATE)
    assert unknown.remove and unknown.voided == 0
    assert await db.run(lambda tx: tx.recovery.remaining("tg:1001")) == 10


async def test_a_code_posted_in_a_group_spends_its_step_and_nothing_else(
    enrolment: EnrolmentService, clock: FakeClock, db: Database, box: SecretBox
) -> None:
    secret = (await enrol(enrolment, clock)).secret
    code = totp.code_at_step(secret, totp.time_step(clock.now()))
    seen = await stray(db, box, clock).seen(ANN, f"code {code[:3]}-{code[3:]} ok?", Place.GROUP)
    assert seen.shape is SecretShape.CODE and seen.spent_steps == 1
    (device,) = await db.run(lambda tx: tx.devices.active_for("tg:1001"))
    assert device.last_used_step == totp.time_step(clock.now())
    state = await db.run(lambda tx: tx.security.get("tg:1001"))
    assert state.consecutive_failures == 0
    verifier = VerificationService(db, box, clock)
    assert (await verifier.verify("tg:1001", code, actor="api")).result is Result.REJECTED
    clock.advance(seconds=30)
    fresh = totp.code_at_step(secret, totp.time_step(clock.now()))
    assert (await verifier.verify("tg:1001", fresh, actor="api")).result is Result.ACCEPTED


async def test_a_code_in_the_private_chat_is_removed_but_still_works(
    enrolment: EnrolmentService, clock: FakeClock, db: Database, box: SecretBox
) -> None:
    secret = (await enrol(enrolment, clock)).secret
    code = totp.code_at_step(secret, totp.time_step(clock.now()))
    seen = await stray(db, box, clock).seen(ANN, code, Place.PRIVATE)
    assert seen.remove and seen.spent_steps == 0
    verdict = await VerificationService(db, box, clock).verify("tg:1001", code, actor="api")
    assert verdict.result is Result.ACCEPTED


async def test_text_without_a_secret_is_left_alone(
    enrolment: EnrolmentService, clock: FakeClock, db: Database, box: SecretBox
) -> None:
    await enrol(enrolment, clock)
    seen = await stray(db, box, clock).seen(ANN, "see you at 10:30", Place.GROUP)
    assert seen.shape is None and not seen.remove


async def test_a_recovery_code_for_an_account_without_codes_left_is_only_removed(
    enrolment: EnrolmentService, clock: FakeClock, db: Database, box: SecretBox
) -> None:
    """No live set: nothing to compare with (on PostgreSQL an empty IN () was an error)."""
    done = await enrol(enrolment, clock)
    await db.run(lambda tx: tx.recovery.void_all(done.account, clock.now()))
    seen = await stray(db, box, clock).seen(ANN, done.recovery_codes[0], Place.PRIVATE)
    assert seen.shape is SecretShape.RECOVERY_CODE and seen.remove and seen.voided == 0
