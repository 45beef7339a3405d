"""The webhook sender against real receivers on 127.0.0.1: signed deliveries that verify
with standardwebhooks, a slow receiver that holds up only itself, and what counts as a
failure (a redirect, a timeout, a closed connection, a private address)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.webhook_sender import WebhookSender
from core import events
from core.clock import FakeClock
from core.crypto import SecretBox
from core.webhooks import WebhookService
from storage.db import Database
from storage.repositories import Transaction
from tests.e2e import eventually
from tests.webhook_receiver import Receiver, RunningReceiver

ACCOUNT = "acct-42"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def webhooks(db: Database, box: SecretBox, clock: FakeClock) -> WebhookService:
    return WebhookService(db, box, clock)


@pytest.fixture
async def sender(webhooks: WebhookService, clock: FakeClock) -> AsyncIterator[WebhookSender]:
    running = WebhookSender(webhooks, clock, timeout=timedelta(seconds=1))
    yield running
    await running.stop()


async def receiving(port: int, **options: object) -> RunningReceiver:
    running = RunningReceiver(Receiver(**options), port)  # type: ignore[arg-type]
    await running.start()
    return running


async def raise_events(db: Database, clock: FakeClock, count: int = 1) -> None:
    def work(tx: Transaction) -> None:
        for _ in range(count):
            events.emit(tx, events.ACCOUNT_UNLOCKED, ACCOUNT, clock.now(), by=events.actor("tg:7"))

    await db.run(work)


async def deliver(sender: WebhookSender) -> None:
    await sender.tick()
    await sender.drain_all()


async def test_events_arrive_signed_and_in_order(
    webhooks: WebhookService,
    sender: WebhookSender,
    db: Database,
    clock: FakeClock,
    unused_tcp_port: int,
) -> None:
    receiver = await receiving(unused_tcp_port)
    try:
        receiver.receiver.secret = await webhooks.add("siem", receiver.url, allow_private=True)
        await raise_events(db, clock, 5)
        await deliver(sender)
        assert [r.data["seq"] for r in receiver.receiver.verified] == [1, 2, 3, 4, 5]
        assert receiver.receiver.refused == 0
        assert (await webhooks.outbox()).waiting == 0
    finally:
        await receiver.stop()


async def test_a_slow_receiver_does_not_hold_up_another(
    webhooks: WebhookService,
    sender: WebhookSender,
    db: Database,
    clock: FakeClock,
    unused_tcp_port_factory: object,
) -> None:
    assert callable(unused_tcp_port_factory)
    slow = await receiving(unused_tcp_port_factory(), delay=0.8)
    fast = await receiving(unused_tcp_port_factory())
    try:
        slow.receiver.secret = await webhooks.add("slow", slow.url, allow_private=True)
        fast.receiver.secret = await webhooks.add("fast", fast.url, allow_private=True)
        await raise_events(db, clock, 3)
        started = asyncio.get_running_loop().time()
        await sender.tick()
        await asyncio.wait_for(fast.receiver.arrived.wait(), 2)
        await eventually(lambda: len(fast.receiver.verified) == 3, 2)
        fast_done = asyncio.get_running_loop().time() - started
        assert fast_done < 0.8  # all three, before the slow one answered its first
        await sender.drain_all()
        assert len(slow.receiver.verified) == 3
    finally:
        await slow.stop()
        await fast.stop()


@pytest.mark.parametrize("answer", [302, 500, "timeout", "closed"])
async def test_a_failed_attempt_is_retried_with_the_same_id(
    webhooks: WebhookService,
    sender: WebhookSender,
    db: Database,
    clock: FakeClock,
    unused_tcp_port: int,
    answer: int | str,
) -> None:
    receiver = await receiving(unused_tcp_port)
    try:
        receiver.receiver.secret = await webhooks.add("siem", receiver.url, allow_private=True)
        await raise_events(db, clock, 2)
        if answer == "closed":
            await receiver.stop()  # nobody listens: the connection is refused
            closer = await asyncio.start_server(_hang_up, "127.0.0.1", unused_tcp_port)
        elif answer == "timeout":
            receiver.receiver.delay = 2.0  # past the sender's 1 s
        else:
            assert isinstance(answer, int)
            receiver.receiver.status = answer
        await deliver(sender)
        if answer == "closed":
            closer.close()
            await closer.wait_closed()
            await receiver.start()
        assert receiver.receiver.verified == []
        # The second waits behind the first (a closed connection reaches nobody).
        assert len(receiver.receiver.attempts) == (0 if answer == "closed" else 1)
        held_id = await db.run(
            lambda tx: tx.connection.execute(
                "SELECT ev.message_id FROM webhook_deliveries d"
                " JOIN webhook_events ev ON ev.id = d.event_id WHERE d.attempts > 0"
            ).fetchone()[0]
        )
        endpoint = (await webhooks.endpoints())[0]
        assert endpoint.failing_since is not None and endpoint.last_delivery_at is None

        receiver.receiver.status, receiver.receiver.delay = 204, 0.0
        await deliver(sender)
        assert receiver.receiver.verified == []  # the retry is not due yet
        clock.advance(seconds=1)
        await deliver(sender)
        assert [r.data["seq"] for r in receiver.receiver.verified] == [1, 2]
        first_id = receiver.receiver.verified[0].message_id
        assert first_id == held_id  # the retry is the same webhook-id
        assert set(receiver.receiver.attempts[:-1]) <= {first_id}
    finally:
        await receiver.stop()


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(10)
    writer.close()


async def test_a_name_that_resolves_to_a_private_address_is_refused_at_delivery(
    webhooks: WebhookService,
    sender: WebhookSender,
    db: Database,
    clock: FakeClock,
    unused_tcp_port: int,
) -> None:
    receiver = await receiving(unused_tcp_port)
    try:
        receiver.receiver.secret = await webhooks.add("siem", receiver.url, allow_private=True)
        # The name now points inside (as if its DNS answer changed after `webhooks add`),
        # and the endpoint was not allowed private addresses.
        await db.run(
            lambda tx: tx.connection.execute(
                "UPDATE webhook_endpoints SET url = ?, allow_private = 0",
                (f"http://localhost:{unused_tcp_port}/hooks",),
            )
        )
        await raise_events(db, clock)
        await deliver(sender)
        assert receiver.receiver.attempts == []
        waiting = await db.run(
            lambda tx: tx.connection.execute("SELECT last_error FROM webhook_deliveries").fetchall()
        )
        assert "private address" in waiting[0][0]
    finally:
        await receiver.stop()


async def test_a_410_disables_the_endpoint(
    webhooks: WebhookService,
    sender: WebhookSender,
    db: Database,
    clock: FakeClock,
    unused_tcp_port: int,
) -> None:
    receiver = await receiving(unused_tcp_port, status=410)
    try:
        await webhooks.add("siem", receiver.url, allow_private=True)
        await raise_events(db, clock, 2)
        await deliver(sender)
        clock.advance(minutes=5)
        await deliver(sender)
        assert len(receiver.receiver.attempts) == 1
        assert (await webhooks.endpoints())[0].disabled_reason == "410 Gone"
    finally:
        await receiver.stop()


async def test_events_held_while_disabled_arrive_in_order_after_enable(
    webhooks: WebhookService,
    sender: WebhookSender,
    db: Database,
    clock: FakeClock,
    unused_tcp_port: int,
) -> None:
    receiver = await receiving(unused_tcp_port, status=410)
    try:
        receiver.receiver.secret = await webhooks.add("siem", receiver.url, allow_private=True)
        await raise_events(db, clock, 1)
        await deliver(sender)
        gone = receiver.receiver.attempts[0]
        await raise_events(db, clock, 2)  # while it is disabled
        clock.advance(minutes=5)
        await deliver(sender)
        assert receiver.receiver.attempts == [gone]  # held, not sent

        receiver.receiver.status = 204
        await webhooks.enable("siem")
        await deliver(sender)
        assert [r.data["seq"] for r in receiver.receiver.verified] == [1, 2, 3]
        assert receiver.receiver.verified[0].message_id == gone
        assert (await webhooks.outbox()).waiting == 0
    finally:
        await receiver.stop()
