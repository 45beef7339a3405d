"""Everyone else on an account hears of a deactivation request (and may withdraw it) and
of a new set of recovery codes, on both databases."""

from __future__ import annotations

from core import totp
from core.accounts import TelegramIdentity
from core.clock import FakeClock
from core.crypto import SecretBox
from core.devices import DeviceService
from core.enrolment import EnrolmentService
from core.recovery import RecoveryHasher
from core.verification import VerificationService
from storage.db import Database
from storage.records import RequestStatus
from tests.core_helpers import ANN, deactivation_service, enrol

BO = TelegramIdentity(2002, "bo", "Bo")
CY = TelegramIdentity(3003, "cy", "Cy")


async def notices(db: Database, clock: FakeClock) -> list[tuple[str, int | None, dict]]:
    due = await db.run(lambda tx: tx.notices.due(clock.now()))
    return [(n.kind, n.skip_user_id, n.detail) for n in due]


async def bo_joins(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    await db.run(lambda tx: tx.accounts.save_link(BO.user_id, "tg:1001", "bo", "Bo", now))


async def test_a_request_is_told_to_the_others_and_a_co_manager_may_withdraw_it(
    db: Database, clock: FakeClock, enrolment: EnrolmentService
) -> None:
    await enrol(enrolment, clock)
    await bo_joins(db, clock)
    desk = deactivation_service(db, clock)
    request = (await desk.file(ANN, ANN.user_id, "Phone lost")).request
    assert request is not None
    detail = {"id": request.id, "name": "Ann", "reason": "Phone lost"}
    assert ("deactivation_requested", ANN.user_id, detail) in await notices(db, clock)
    assert await desk.withdraw(CY, request.id) is None  # not on the account
    withdrawn = await desk.withdraw(BO, request.id)
    assert withdrawn is not None and withdrawn.status is RequestStatus.WITHDRAWN
    told = ("deactivation_withdrawn", BO.user_id, {"id": request.id, "by": "Bo"})
    assert told in await notices(db, clock)
    assert await desk.withdraw(ANN, request.id) is None  # once


async def test_a_new_set_of_recovery_codes_is_told_to_the_others(
    db: Database, clock: FakeClock, enrolment: EnrolmentService, box: SecretBox
) -> None:
    secret = (await enrol(enrolment, clock)).secret
    devices = DeviceService(db, clock, VerificationService(db, box, clock), RecoveryHasher(box))
    code = totp.code_at_step(secret, totp.time_step(clock.now()))
    proof, codes = await devices.new_recovery_codes(ANN, code)
    assert proof.ok and len(codes) == 10
    assert ("recovery_codes_renewed", ANN.user_id, {"by": "Ann"}) in await notices(db, clock)
