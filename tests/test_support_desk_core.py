"""The support desk's rules: who is an agent, /lookup by account or Telegram user id,
/unlock never on the agent's own account."""

from __future__ import annotations

import pytest

from core import totp
from core.accounts import TelegramIdentity
from core.clock import FakeClock
from core.crypto import SecretBox
from core.enrolment import EnrolmentService
from core.support_desk import SupportDesk, UnlockOutcome, lookup_problem, telegram_user_id
from core.verification import VerificationService
from storage.db import Database
from tests.core_helpers import AGENT, ANN, enrol

ADMIN = TelegramIdentity(9999, "root", "Root")


def desk(db: Database, clock: FakeClock) -> SupportDesk:
    return SupportDesk(db, clock, configured_agents=frozenset({AGENT.user_id}))


async def lock(db: Database, box: SecretBox, clock: FakeClock, secret: str) -> None:
    """Five wrong codes lock Ann's account."""
    step = totp.time_step(clock.now())
    valid = {totp.code_at_step(secret, step + d) for d in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in valid)
    verifier = VerificationService(db, box, clock)
    for _ in range(5):
        await verifier.verify("tg:1001", wrong, actor="api")


async def test_agents_are_configured_or_added_by_an_admin(db: Database, clock: FakeClock) -> None:
    support = desk(db, clock)
    assert await support.is_agent(AGENT.user_id)
    assert not await support.is_agent(7777)
    assert await support.add_agent(7777, ADMIN)
    assert not await support.add_agent(7777, ADMIN)
    assert await support.is_agent(7777)
    assert await support.agents() == (frozenset({AGENT.user_id}), [7777])
    assert await support.remove_agent(7777, ADMIN)
    assert not await support.is_agent(7777)


async def test_lookup_by_account_or_by_the_telegram_user(
    db: Database, clock: FakeClock, enrolment: EnrolmentService
) -> None:
    await enrol(enrolment, clock)
    support = desk(db, clock)
    for query in ("tg:1001", "1001"):
        found = await support.lookup(query)
        assert found is not None and found.account_id == "tg:1001"
        assert [d.name for d in found.devices] == ["Phone"]
    assert await support.lookup("nobody") is None


@pytest.mark.parametrize("query", ["²", "١٢٣", "9" * 16, "99999999999999999999"])
async def test_a_number_that_is_no_telegram_user_id_is_refused(
    db: Database, clock: FakeClock, query: str
) -> None:
    assert lookup_problem(query) and telegram_user_id(query) is None
    assert await desk(db, clock).lookup(query) is None  # and nothing raised


def test_telegram_user_ids() -> None:
    assert telegram_user_id("1001") == 1001
    assert telegram_user_id("9" * 15) == int("9" * 15)
    for text in ("", "-7", "+7", "12a", "²", " 1", "1" * 16):
        assert telegram_user_id(text) is None
    assert lookup_problem("tg:1001") == "" and lookup_problem("1001") == ""


async def test_unlock_clears_a_lock_but_never_the_agents_own(
    db: Database, clock: FakeClock, box: SecretBox, enrolment: EnrolmentService
) -> None:
    await lock(db, box, clock, (await enrol(enrolment, clock)).secret)
    # Ann is an agent too here: an agent may still not clear their own account's lock.
    support = SupportDesk(db, clock, configured_agents=frozenset({AGENT.user_id, ANN.user_id}))
    as_ann = TelegramIdentity(ANN.user_id, "ann", "Ann")
    bystander = TelegramIdentity(8000, "by", "Bystander")
    assert await support.clear_lock("tg:1001", bystander) is UnlockOutcome.NOT_AGENT
    assert await support.clear_lock("tg:1001", as_ann) is UnlockOutcome.OWN_ACCOUNT
    assert (await db.run(lambda tx: tx.security.get("tg:1001"))).locked_until is not None
    assert await support.clear_lock("tg:1001", AGENT) is UnlockOutcome.CLEARED
    assert await support.clear_lock("tg:1001", AGENT) is UnlockOutcome.NOT_LOCKED
    actions = [e.action for e in await db.run(lambda tx: tx.audit.entries("tg:1001"))]
    assert actions.count("lock_cleared") == 1
