"""A webhook endpoint disabled by a 410 loses nothing, on SQLite and PostgreSQL: the
events raised while it is disabled are written and held, ``webhooks list`` says it is
disabled and why, and ``webhooks enable NAME`` turns it on again, after which everything
held is delivered in order with the ``webhook-id`` it was written with."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from bot.__main__ import main
from core import events
from core.clock import FakeClock
from core.crypto import SecretBox
from core.webhooks import Answer, Outcome, WebhookError, WebhookService
from storage.db import Database
from storage.repositories import Transaction

ACCOUNT = "acct-7"
URL = "https://siem.example.net/hooks"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def webhooks(db: Database, box: SecretBox, clock: FakeClock) -> WebhookService:
    return WebhookService(db, box, clock)


async def unlocked(db: Database, clock: FakeClock) -> None:
    def work(tx: Transaction) -> None:
        events.emit(tx, events.ACCOUNT_UNLOCKED, ACCOUNT, clock.now(), by=events.actor("system"))

    await db.run(work)


async def disabled_by_a_410(webhooks: WebhookService, db: Database, clock: FakeClock) -> str:
    """``siem`` answered 410 to its first event; that event's webhook-id."""
    await webhooks.add("siem", URL)
    await unlocked(db, clock)
    pending = await webhooks.next_batch((await webhooks.endpoints())[0].id)
    assert pending is not None
    first = pending.deliveries[0]
    assert await webhooks.record(pending.endpoint, first, Answer(410)) is Outcome.GONE
    return first.message_id


async def test_events_raised_while_disabled_are_held_and_delivered_in_order_after_enable(
    webhooks: WebhookService, db: Database, clock: FakeClock
) -> None:
    first_id = await disabled_by_a_410(webhooks, db, clock)
    clock.advance(minutes=1)
    await unlocked(db, clock)
    await unlocked(db, clock)
    endpoint = (await webhooks.endpoints())[0]
    assert endpoint.disabled_at is not None
    # Held: written for the endpoint, not sent while it is disabled.
    assert (await webhooks.outbox()).waiting == 3
    assert await webhooks.endpoints_due() == []
    assert await webhooks.next_batch(endpoint.id) is None

    clock.advance(days=2)  # longer than a delivery is retried: nothing is set aside
    await webhooks.enable("siem")
    endpoint = (await webhooks.endpoints())[0]
    assert (endpoint.disabled_at, endpoint.disabled_reason) == (None, None)
    assert await webhooks.endpoints_due() == [endpoint.id]
    pending = await webhooks.next_batch(endpoint.id)
    assert pending is not None
    assert pending.deliveries[0].message_id == first_id
    assert [json.loads(d.body)["data"]["seq"] for d in pending.deliveries] == [1, 2, 3]
    # A failure just after enabling is retried, not set aside for its age.
    assert await webhooks.record(pending.endpoint, pending.deliveries[0], Answer(503)) is (
        Outcome.RETRY
    )
    clock.advance(hours=1)  # the longest backoff
    pending = await webhooks.next_batch(endpoint.id)
    assert pending is not None and pending.deliveries[0].message_id == first_id
    for delivery in pending.deliveries:
        assert await webhooks.record(pending.endpoint, delivery, Answer(204)) is Outcome.DELIVERED
    assert (await webhooks.outbox()).waiting == 0
    audit = await db.run(lambda tx: tx.audit.entries())
    assert [e.action for e in audit if e.action.startswith("webhook_")] == [
        "webhook_added",
        "webhook_disabled",
        "webhook_enabled",
    ]


async def test_enabling_an_unknown_or_enabled_endpoint(
    webhooks: WebhookService, db: Database
) -> None:
    await webhooks.add("siem", URL)
    with pytest.raises(WebhookError, match="there is no webhook named 'nope'"):
        await webhooks.enable("nope")
    await webhooks.enable("siem")  # enabled already: nothing to do, nothing audited
    audit = await db.run(lambda tx: tx.audit.entries())
    assert [e.action for e in audit] == ["webhook_added"]


# ------------------------------------------------------------------- the command


async def test_webhooks_list_and_enable_from_the_command_line(
    command_env: pytest.MonkeyPatch,
    webhooks: WebhookService,
    db: Database,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await disabled_by_a_410(webhooks, db, clock)
    before = await db.run(lambda tx: tx.audit.entries())
    capsys.readouterr()

    assert await asyncio.to_thread(main, ["webhooks", "list"]) == 0
    out = capsys.readouterr().out
    assert "disabled since " in out and "(410 Gone)" in out
    assert "webhooks enable siem" in out

    assert await asyncio.to_thread(main, ["webhooks", "enable", "nope"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "error: there is no webhook named 'nope'\n"
    assert await db.run(lambda tx: tx.audit.entries()) == before
    assert (await webhooks.endpoints())[0].disabled_at is not None

    assert await asyncio.to_thread(main, ["webhooks", "enable", "siem"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("webhook siem enabled")
    assert (await webhooks.endpoints())[0].disabled_at is None

    assert await asyncio.to_thread(main, ["webhooks", "list"]) == 0
    assert "disabled" not in capsys.readouterr().out
