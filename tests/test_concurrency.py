"""Every check-then-act rule holds across processes.

Two ``PostgresDatabase`` instances, each with its own pool, on one PostgreSQL database:
what two processes (a bot and an API worker, or two API workers) are. Each test races
the two against each other through the core, as the chat and the API call it, and
checks that the rule held exactly: one acceptance, one lock, one decision, one binding,
one open request, one use of a grant, one conversation.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from bench._postgres import PostgresServer
from core import grants, totp
from core.accounts import TelegramIdentity, account_for
from core.clock import FakeClock
from core.conversation import Busy, Conversations, Flow, Step
from core.crypto import SecretBox
from core.deactivation import DeactivationService, DecisionOutcome, FileOutcome
from core.enrolment import EnrolmentService
from core.links import EnrolmentLinks, LinkOutcome
from core.verification import Result, VerificationService
from storage.postgresql import PostgresDatabase
from storage.records import RequestStatus
from storage.repositories import Transaction
from tests.core_helpers import ANN, enrol

AGNES = TelegramIdentity(9001, "agnes", "Agnes")
OTTO = TelegramIdentity(9002, "otto", "Otto")
ACCOUNT = "tg:1001"
PER_PROCESS = 16
EVERY_ALERT_DUE = datetime(2100, 1, 1, tzinfo=UTC)

T = TypeVar("T")


@dataclass
class Process:
    db: PostgresDatabase
    verification: VerificationService
    enrolment: EnrolmentService
    deactivation: DeactivationService
    links: EnrolmentLinks
    conversations: Conversations


def process(db: PostgresDatabase, box: SecretBox, clock: FakeClock) -> Process:
    verification = VerificationService(db, box, clock)
    return Process(
        db,
        verification,
        EnrolmentService(db, box, clock, issuer="2FA Desk", verifier=verification),
        DeactivationService(
            db,
            clock,
            support_enabled=True,
            configured_agents=frozenset({AGNES.user_id, OTTO.user_id}),
            default_duration=timedelta(hours=24),
            longest_duration=timedelta(hours=72),
            request_ttl=timedelta(hours=48),
        ),
        EnrolmentLinks(db, clock, verification),
        Conversations(db, clock),
    )


@pytest.fixture
async def two(
    postgres_server: PostgresServer, box: SecretBox, clock: FakeClock
) -> AsyncIterator[tuple[Process, Process]]:
    with postgres_server.database() as url:
        first = await PostgresDatabase.open(url, pool_size=PER_PROCESS)
        second = await PostgresDatabase.open(url, pool_size=PER_PROCESS)
        try:
            yield process(first, box, clock), process(second, box, clock)
        finally:
            await first.close()
            await second.close()


def step(clock: FakeClock) -> int:
    return totp.time_step(clock.now())


def actions(tx: Transaction, action: str) -> int:
    return sum(1 for entry in tx.audit.entries(ACCOUNT) if entry.action == action)


def alerts(tx: Transaction, kind: str) -> int:
    return sum(1 for event in tx.alerts.due(EVERY_ALERT_DUE) if event.kind == kind)


async def race(
    two: tuple[Process, Process],
    call: Callable[[Process, int], Awaitable[T]],
    per_process: int = PER_PROCESS,
) -> list[T]:
    """``call(process, i)`` from both processes, ``per_process`` times each, all at once."""
    return list(await asyncio.gather(*(call(p, i) for p in two for i in range(per_process))))


async def test_one_code_sent_32_times_at_once_is_accepted_once(
    two: tuple[Process, Process], clock: FakeClock
) -> None:
    secret = (await enrol(two[0].enrolment, clock)).secret
    code = totp.code_at_step(secret, step(clock))

    verdicts = await race(two, lambda p, i: p.verification.verify(ACCOUNT, code, actor="api"))

    # In the one order the transactions are equivalent to: the first accepts, the next
    # ones are replays (failures); the fifth failure locks; the rest find the lock.
    assert Counter(v.result for v in verdicts) == {
        Result.ACCEPTED: 1,
        Result.REJECTED: 4,
        Result.LOCKED: 27,
    }
    first, _ = two
    assert await first.db.run(lambda tx: actions(tx, "code_checked")) == 32  # all audited
    assert await first.db.run(lambda tx: actions(tx, "account_locked")) == 1
    assert await first.db.run(lambda tx: alerts(tx, "account_locked")) == 1
    # They did run at once: PostgreSQL aborted some and they ran again.
    assert two[0].db.retries + two[1].db.retries > 0


async def test_wrong_codes_at_once_lock_the_account_exactly_once(
    two: tuple[Process, Process], clock: FakeClock
) -> None:
    await enrol(two[0].enrolment, clock)

    verdicts = await race(
        two, lambda p, i: p.verification.verify(ACCOUNT, "000000", actor="api"), per_process=8
    )

    assert Counter(v.result for v in verdicts) == {Result.REJECTED: 4, Result.LOCKED: 12}
    assert len({v.locked_until for v in verdicts if v.result is Result.LOCKED}) == 1
    first, _ = two
    state = await first.db.run(lambda tx: tx.security.get(ACCOUNT))
    assert state.consecutive_failures == 5
    assert await first.db.run(lambda tx: actions(tx, "account_locked")) == 1
    assert await first.db.run(lambda tx: alerts(tx, "account_locked")) == 1


async def test_two_agents_deciding_at_once_make_one_decision(
    two: tuple[Process, Process], clock: FakeClock
) -> None:
    first, second = two
    await enrol(first.enrolment, clock)
    filed = await first.deactivation.file(ANN, ANN.user_id, "lost my phone")
    assert filed.request is not None
    request_id = filed.request.id

    approve, deny = await asyncio.gather(
        first.deactivation.decide(request_id, AGNES, approve=True, duration=timedelta(hours=24)),
        second.deactivation.decide(request_id, OTTO, approve=False, reason="call us"),
    )

    outcomes = sorted([approve.outcome, deny.outcome])
    assert outcomes == sorted([DecisionOutcome.DECIDED, DecisionOutcome.ALREADY_DECIDED])
    winner = AGNES if approve.outcome is DecisionOutcome.DECIDED else OTTO
    request = await first.db.run(lambda tx: tx.requests.get(request_id))
    assert request is not None and request.decided_by == winner.user_id
    assert request.status is (RequestStatus.APPROVED if winner is AGNES else RequestStatus.DENIED)
    decided = await first.db.run(
        lambda tx: [
            e.action
            for e in tx.audit.entries(ACCOUNT)
            if e.action in ("deactivation_approved", "deactivation_denied")
        ]
    )
    assert len(decided) == 1


async def test_a_link_opened_twice_at_once_binds_once(
    two: tuple[Process, Process], clock: FakeClock
) -> None:
    first, second = two
    minted = await first.links.mint("user@example.com")
    people = [TelegramIdentity(2000 + i, None, f"User {i}") for i in range(8)]

    openings = await asyncio.gather(
        *(
            (first if i % 2 else second).links.open(minted.token, who, who.user_id)
            for i, who in enumerate(people)
        )
    )

    assert Counter(o.outcome for o in openings) == {LinkOutcome.BOUND: 1, LinkOutcome.USED: 7}
    managers = await first.db.run(lambda tx: tx.accounts.users_of("user@example.com"))
    bound = next(
        who for who, o in zip(people, openings, strict=True) if o.outcome is LinkOutcome.BOUND
    )
    assert [m.user_id for m in managers] == [bound.user_id]


async def test_requests_filed_at_once_leave_one_open(
    two: tuple[Process, Process], clock: FakeClock
) -> None:
    await enrol(two[0].enrolment, clock)

    results = await race(
        two, lambda p, i: p.deactivation.file(ANN, ANN.user_id, f"lost it ({i})"), per_process=4
    )

    assert Counter(r.outcome for r in results) == {
        FileOutcome.FILED: 1,
        FileOutcome.ALREADY_OPEN: 7,
    }
    assert await two[1].deactivation.open_count() == 1


async def test_a_grant_consumed_at_once_is_used_once(
    two: tuple[Process, Process], clock: FakeClock
) -> None:
    first, _ = two
    now = clock.now()

    def give(tx: Transaction) -> None:
        grants.give(tx, account_for(tx, ANN, now), ANN.user_id, grants.Grant.RENAME, now, "dev")

    def held(tx: Transaction) -> bool:
        return grants.holds(tx, ACCOUNT, ANN.user_id, grants.Grant.RENAME, now, "dev")

    await first.db.run(give)
    assert await first.db.run(held)

    used = await race(
        two,
        lambda p, i: p.db.run(
            lambda tx: grants.use(tx, ACCOUNT, ANN.user_id, grants.Grant.RENAME, now, "dev")
        ),
        per_process=8,
    )

    assert sorted(used) == [False] * 15 + [True]
    assert not await first.db.run(held)


async def test_the_conversation_slot_goes_to_one_flow(
    two: tuple[Process, Process], clock: FakeClock
) -> None:
    first, second = two
    claims = await asyncio.gather(
        first.conversations.claim(ANN.user_id, ANN.user_id, Flow.CHECK, Step.CODE),
        second.conversations.claim(ANN.user_id, ANN.user_id, Flow.LOST, Step.REASON),
    )

    held = [c for c in claims if not isinstance(c, Busy)]
    busy = [c for c in claims if isinstance(c, Busy)]
    assert len(held) == 1 and len(busy) == 1
    assert busy[0].waiting.flow == held[0].flow  # the loser was told what waits
    slot = await first.conversations.current(ANN.user_id)
    assert slot is not None and slot.flow == held[0].flow


async def test_first_contact_from_two_processes_creates_one_account(
    two: tuple[Process, Process], clock: FakeClock
) -> None:
    now = clock.now()
    people = [TelegramIdentity(3000 + i, None, f"U{i}") for i in range(4)]

    accounts = await race(
        two, lambda p, i: p.db.run(lambda tx: account_for(tx, people[i], now)), per_process=4
    )

    assert sorted(set(accounts)) == [f"tg:{who.user_id}" for who in people]
    linked = await two[0].db.run(
        lambda tx: [e for e in tx.audit.entries() if e.action == "account_linked"]
    )
    assert len(linked) == 4  # once per person, though each asked from both processes
