"""Signed webhooks in the core, on SQLite and PostgreSQL: the event lands in the
transaction of the change (or not at all), deliveries are retried with the same id and
set aside after a day, a 410 disables the endpoint, a rotated secret signs beside the new
one for a day, and the operator's bad input changes nothing."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from core import events
from core.clock import FakeClock
from core.crypto import SecretBox, decode_key, generate_key
from core.enrolment import EnrolmentService
from core.keys import check, key_usage, rotate
from core.metrics import Metrics
from core.verification import Result, VerificationService
from core.webhooks import (
    GIVE_UP_AFTER,
    Answer,
    Batch,
    Outcome,
    WebhookError,
    WebhookService,
    address_refused,
    shown_url,
    url_problem,
)
from storage.db import Database
from storage.repositories import Transaction
from tests.core_helpers import enrol

ACCOUNT = "tg:1001"
URL = "https://siem.example.net/hooks"


@pytest.fixture
def clock() -> FakeClock:
    # Near the real time: standardwebhooks' verify refuses a timestamp 5 minutes off.
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def webhooks(db: Database, box: SecretBox, clock: FakeClock, metrics: Metrics) -> WebhookService:
    return WebhookService(db, box, clock, metrics)


@pytest.fixture
def verifier(db: Database, box: SecretBox, clock: FakeClock) -> VerificationService:
    return VerificationService(db, box, clock)


async def lock(verifier: VerificationService) -> None:
    for _ in range(5):
        verdict = await verifier.verify(ACCOUNT, "000000", actor="api")
    assert verdict.result is Result.LOCKED


async def batch(webhooks: WebhookService, name: str = "siem") -> Batch | None:
    endpoint = next(e for e in await webhooks.endpoints() if e.name == name)
    return await webhooks.next_batch(endpoint.id)


async def unlocked(
    db: Database, clock: FakeClock, account: str = ACCOUNT, by: str = "system"
) -> None:
    """An event raised in a transaction of its own (as an /unlock would)."""

    def work(tx: Transaction) -> None:
        events.emit(tx, events.ACCOUNT_UNLOCKED, account, clock.now(), by=events.actor(by))

    await db.run(work)


def verified(secret: str, body: str, headers: dict[str, str]) -> dict[str, object]:
    payload: dict[str, object] = Webhook(secret).verify(body, headers)
    return payload


# ---------------------------------------------------------------------------- events


async def test_an_event_is_written_with_the_change_and_arrives_signed(
    webhooks: WebhookService,
    enrolment: EnrolmentService,
    verifier: VerificationService,
    clock: FakeClock,
) -> None:
    secret = await webhooks.add("siem", URL)
    assert secret.startswith("whsec_")
    await enrol(enrolment, clock)
    await lock(verifier)

    pending = await batch(webhooks)
    assert pending is not None
    assert [d.event_type for d in pending.deliveries] == ["device.added", "account.locked"]
    locked = pending.deliveries[1]
    headers = pending.signer.headers(locked.message_id, locked.body, clock.now())
    payload = verified(secret, locked.body, headers)
    assert payload["type"] == "account.locked"
    data = payload["data"]
    assert isinstance(data, dict)
    assert data["account"] == ACCOUNT
    assert data["seq"] == 2
    assert data["actor"] == {"type": "client", "id": "api"}
    assert data["hard"] is False and str(data["until"]).endswith("Z")
    assert headers["webhook-id"] == locked.message_id


async def test_a_change_that_rolls_back_emits_nothing(
    webhooks: WebhookService, db: Database, clock: FakeClock
) -> None:
    await webhooks.add("siem", URL)

    def work(tx: Transaction) -> None:
        events.emit(tx, events.ACCOUNT_UNLOCKED, ACCOUNT, clock.now(), by=events.actor("tg:5"))
        raise RuntimeError("the change fails after the event was written")

    with pytest.raises(RuntimeError):
        await db.run(work)
    assert await batch(webhooks) is None
    assert (await webhooks.outbox()).waiting == 0


async def test_an_endpoint_gets_only_the_types_it_asked_for(
    webhooks: WebhookService,
    enrolment: EnrolmentService,
    verifier: VerificationService,
    clock: FakeClock,
) -> None:
    await webhooks.add("locks", URL, ("account.locked",))
    await enrol(enrolment, clock)
    await lock(verifier)
    pending = await batch(webhooks, "locks")
    assert pending is not None
    assert [d.event_type for d in pending.deliveries] == ["account.locked"]


# ------------------------------------------------------------------------ delivery


async def test_a_failed_delivery_is_retried_with_the_same_id_before_later_events(
    webhooks: WebhookService,
    enrolment: EnrolmentService,
    verifier: VerificationService,
    clock: FakeClock,
    metrics: Metrics,
) -> None:
    secret = await webhooks.add("siem", URL)
    await enrol(enrolment, clock)
    await lock(verifier)
    first = await batch(webhooks)
    assert first is not None
    head = first.deliveries[0]
    assert await webhooks.record(first.endpoint, head, Answer(503)) is Outcome.RETRY
    assert await batch(webhooks) is None  # nothing goes before the retry is due
    clock.advance(seconds=1)
    again = await batch(webhooks)
    assert again is not None
    assert again.deliveries[0].message_id == head.message_id  # the same webhook-id
    assert again.deliveries[0].body == head.body
    assert await webhooks.record(again.endpoint, again.deliveries[0], Answer(302)) is Outcome.RETRY
    clock.advance(seconds=1)
    assert await batch(webhooks) is None  # doubled: 2 s this time
    clock.advance(seconds=1)
    third = await batch(webhooks)
    assert third is not None
    retried = third.deliveries[0]
    headers = third.signer.headers(retried.message_id, retried.body, clock.now())
    assert verified(secret, retried.body, headers)["type"] == "device.added"
    assert await webhooks.record(third.endpoint, retried, Answer(204)) is Outcome.DELIVERED
    rest = await batch(webhooks)
    assert rest is not None and [d.event_type for d in rest.deliveries] == ["account.locked"]
    endpoint = (await webhooks.endpoints())[0]
    assert endpoint.last_delivery_at == clock.now() and endpoint.failing_since is None
    sample = metrics.registry.get_sample_value
    labels = {"endpoint": "siem"}
    assert sample("twofa_webhook_deliveries_total", {**labels, "outcome": "failed"}) == 2
    assert sample("twofa_webhook_deliveries_total", {**labels, "outcome": "delivered"}) == 1


async def test_a_delivery_failing_for_a_day_is_set_aside_with_an_ops_alert(
    webhooks: WebhookService, db: Database, clock: FakeClock
) -> None:
    await webhooks.add("siem", URL)
    for user in (5, 6):
        await unlocked(db, clock, by=f"tg:{user}")
    started = clock.now()
    outcome = Outcome.RETRY
    while outcome is Outcome.RETRY:
        pending = await batch(webhooks)
        assert pending is not None
        outcome = await webhooks.record(
            pending.endpoint, pending.deliveries[0], Answer(None, "timed out after 10 s")
        )
        assert pending.deliveries[0].attempts < 40
        clock.advance(hours=1)
    assert outcome is Outcome.SET_ASIDE
    assert clock.now() - started >= GIVE_UP_AFTER
    outbox = await webhooks.outbox()
    assert (outbox.waiting, outbox.set_aside) == (1, 1)
    alerts = await db.run(lambda tx: tx.alerts.due(clock.now()))
    assert [a.kind for a in alerts] == ["webhook_set_aside"]
    assert alerts[0].detail["endpoint"] == "siem"
    following = await batch(webhooks)  # the endpoint goes on with the next event
    assert following is not None and json.loads(following.deliveries[0].body)["data"]["seq"] == 2


async def test_a_410_disables_the_endpoint_with_an_ops_alert(
    webhooks: WebhookService, db: Database, clock: FakeClock
) -> None:
    await webhooks.add("siem", URL)
    await unlocked(db, clock)
    pending = await batch(webhooks)
    assert pending is not None
    assert await webhooks.record(pending.endpoint, pending.deliveries[0], Answer(410)) is (
        Outcome.GONE
    )
    endpoint = (await webhooks.endpoints())[0]
    assert endpoint.disabled_at is not None
    assert await webhooks.endpoints_due() == []
    alerts = await db.run(lambda tx: tx.alerts.due(clock.now()))
    assert [a.kind for a in alerts] == ["webhook_disabled"]
    # An event raised while it is disabled is held for it, not sent.
    await unlocked(db, clock)
    assert (await webhooks.outbox()).waiting == 2
    assert await webhooks.endpoints_due() == []


# ------------------------------------------------------------------------ secrets


async def test_after_a_rotation_both_secrets_sign_for_a_day(
    webhooks: WebhookService, db: Database, clock: FakeClock
) -> None:
    old = await webhooks.add("siem", URL)
    new = await webhooks.rotate_secret("siem")
    assert new != old and new.startswith("whsec_")
    await unlocked(db, clock)
    pending = await batch(webhooks)
    assert pending is not None
    delivery = pending.deliveries[0]
    headers = pending.signer.headers(delivery.message_id, delivery.body, clock.now())
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert verified(secret, delivery.body, headers)["type"] == "account.unlocked"

    clock.advance(days=1, seconds=1)
    later = await batch(webhooks)
    assert later is not None
    # Signed now (the real time), as the sender would a day later.
    headers = later.signer.headers(delivery.message_id, delivery.body, datetime.now(UTC))
    assert len(headers["webhook-signature"].split(" ")) == 1
    assert verified(new, delivery.body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(delivery.body, headers)


async def test_the_secrets_are_sealed_and_key_rotation_covers_them(
    webhooks: WebhookService,
    db: Database,
    secrets_key: bytes,
    stored_bytes: object,
) -> None:
    secret = await webhooks.add("siem", URL)
    assert callable(stored_bytes)
    assert secret[6:].encode() not in stored_bytes()
    old_box = SecretBox(secrets_key)
    new_box = SecretBox(decode_key(generate_key()), [secrets_key])
    assert (await key_usage(db)).sealed == {old_box.current_id: 1}
    report = await rotate(db, new_box)
    assert report.complete and report.resealed == 1
    assert (await check(db, new_box)).ok
    rotated = WebhookService(db, new_box, FakeClock(datetime.now(UTC)))
    pending_secret = await db.run(
        lambda tx: tx.webhooks.signing_secrets(tx.webhooks.endpoints()[0].id, datetime.now(UTC))
    )
    opened = new_box.open(
        pending_secret[0].secret_sealed,
        account_id=pending_secret[0].account_id,
        device_id=pending_secret[0].id,
    )
    assert opened == secret
    assert await rotated.endpoints()


# ----------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://siem.example.net/x", "only http:// and https://"),
        ("https://user:pw@siem.example.net/x", "credentials"),
        ("https://siem.example.net:port/x", "does not parse"),
        ("https:///x", "does not parse"),
        ("https://siem.example.net/a b", "does not parse"),
        ("https://127.0.0.1:9000/x", "--allow-private"),
        ("http://[::1]/x", "--allow-private"),
        ("http://169.254.169.254/latest", "--allow-private"),
        ("http://10.1.2.3/x", "--allow-private"),
        ("http://localhost:8080/x", "--allow-private"),
    ],
)
async def test_a_bad_url_is_refused_and_changes_nothing(
    webhooks: WebhookService, url: str, says: str
) -> None:
    with pytest.raises(WebhookError, match=re.escape(says)):
        await webhooks.add("siem", url)
    assert await webhooks.endpoints() == []


async def test_a_private_address_is_taken_when_allowed(webhooks: WebhookService) -> None:
    await webhooks.add("internal", "http://127.0.0.1:9000/hook", allow_private=True)
    assert [e.allow_private for e in await webhooks.endpoints()] == [True]


async def test_a_duplicate_name_or_an_unknown_type_is_refused(webhooks: WebhookService) -> None:
    await webhooks.add("siem", URL, ("device.added",))
    with pytest.raises(WebhookError, match="already"):
        await webhooks.add("siem", "https://other.example.net/")
    with pytest.raises(WebhookError, match=r"unknown event type 'device\.exploded'"):
        await webhooks.add("other", URL, ("device.exploded",))
    assert [(e.name, e.url) for e in await webhooks.endpoints()] == [("siem", URL)]
    with pytest.raises(WebhookError, match="no webhook named"):
        await webhooks.remove("nope")
    await webhooks.remove("siem")
    assert await webhooks.endpoints() == []


def test_only_public_addresses_are_reachable_without_allowing_private() -> None:
    for refused in (
        "127.0.0.1",
        "10.0.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104
        "224.0.0.1",
        "fd00::1",
        # IPv6 forms that a NAT64 gateway, a 6to4 relay or a Teredo tunnel turns into a
        # private IPv4 address.
        "64:ff9b::7f00:1",
        "64:ff9b::a00:1",
        "64:ff9b:1::a00:1",
        "2002:7f00:1::",
        "2002:c0a8:101::1",
        "::7f00:1",
    ):
        assert address_refused(refused), refused
    for allowed in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "64:ff9b::5db8:d822"):
        assert not address_refused(allowed), allowed
    assert url_problem(URL) == ""


async def test_events_are_numbered_per_account(
    webhooks: WebhookService, db: Database, clock: FakeClock
) -> None:
    await webhooks.add("siem", URL)
    for account in ("a", "b", "a", "a"):
        await unlocked(db, clock, account)
    pending = await batch(webhooks)
    assert pending is not None
    numbered = [
        (json.loads(d.body)["data"]["account"], json.loads(d.body)["data"]["seq"])
        for d in pending.deliveries
    ]
    assert numbered == [("a", 1), ("b", 1), ("a", 2), ("a", 3)]


async def test_old_deliveries_are_pruned_and_waiting_ones_stay(
    webhooks: WebhookService, db: Database, clock: FakeClock
) -> None:
    await webhooks.add("siem", URL)
    for _ in range(2):
        await unlocked(db, clock)
    pending = await batch(webhooks)
    assert pending is not None
    await webhooks.record(pending.endpoint, pending.deliveries[0], Answer(200))
    clock.advance(days=91)
    assert await webhooks.prune(timedelta(days=90)) == 1
    assert (await webhooks.outbox()).waiting == 1


def test_a_receivers_url_is_shown_without_its_path_or_query() -> None:
    """A chat webhook's URL carries its secret in the path: the audit log and the ops
    chat show scheme, host and port only."""
    assert shown_url("https://hooks.example.com/services/T0/B0/s3cr3t") == (
        "https://hooks.example.com/…"
    )
    assert (
        shown_url("https://siem.example.com:8443/?token=abc") == "https://siem.example.com:8443/…"
    )
    assert shown_url("https://siem.example.com") == "https://siem.example.com"
