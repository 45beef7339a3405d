"""Signed webhooks: the endpoints an operator registers, and the rules of delivering the
events (core/events.py) to them in the Standard Webhooks format.

- An endpoint has a name, an http(s) URL (no credentials in it; a loopback, link-local
  or private address only with ``allow_private``: a webhook must not become a way into
  internal services; the checks are in core/webhook_urls.py), the event types it wants
  (none named: all), and a signing secret (``whsec_...``, shown once, sealed at rest with
  the keyring like a TOTP secret). After ``rotate`` the old secret signs beside the new
  one for ``SECRET_OVERLAP``.
- Each event goes to each endpoint at least once, with the same ``webhook-id`` on every
  attempt, signed with the maintained ``standardwebhooks`` library (every secret that
  signs now, space-separated in ``webhook-signature``); per endpoint in the order the
  events were written: a failed one is retried before anything after it is sent.
- A 2xx is delivered. A 410 disables the endpoint (an ops alert). Its events, and those
  raised while it is disabled, are held, not sent, until ``enable`` turns it on again:
  then they go in order with their ``webhook-id``, their day of retries counted afresh. Any
  other answer (3xx included: redirects are not followed), a timeout or a dropped
  connection is a failure, retried after 1 s, 2 s, 4 s ... at most an hour apart; after
  ``GIVE_UP_AFTER`` of failures the delivery is set aside (kept, an ops alert, a metric)
  and the endpoint goes on with the next.

The HTTP transport is the bot's (bot/webhook_sender.py): the core knows no aiohttp.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from standardwebhooks import Webhook

from core.backoff import retry_delay
from core.clock import Clock
from core.crypto import SecretBox
from core.events import EVENT_TYPES
from core.leadership import Leadership
from core.metrics import Metrics
from core.webhook_urls import (
    address_refused,
    ip_literal,
    refused_addresses,
    shown_url,
    url_problem,
)
from storage.db import Database
from storage.records import WebhookDelivery, WebhookEndpoint
from storage.repositories import Transaction

__all__ = ["address_refused", "ip_literal", "refused_addresses", "shown_url", "url_problem"]

TIMEOUT = timedelta(seconds=10)  # per attempt, connection to last byte
FIRST_RETRY = timedelta(seconds=1)
LONGEST_RETRY = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(days=1)
SECRET_OVERLAP = timedelta(days=1)
SECRET_BYTES = 24
BATCH = 50  # deliveries read per transaction for one endpoint
PRUNE_BATCH = 500
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
_MAX_ERROR = 200


class WebhookError(ValueError):
    """What the operator asked cannot be done; the message says why in one line."""


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "failed"  # tried again later
    SET_ASIDE = "set_aside"
    GONE = "gone"  # 410: the endpoint is disabled


@dataclass(frozen=True)
class Answer:
    """What one attempt got: an HTTP status, or why there was none."""

    status: int | None
    error: str = ""

    def describe(self) -> str:
        if self.status is None:
            return self.error[:_MAX_ERROR]
        if 300 <= self.status < 400:
            return f"HTTP {self.status} (redirects are not followed)"
        return f"HTTP {self.status}"


@dataclass(frozen=True)
class Signer:
    """The secrets that sign for one endpoint now (opened in memory only)."""

    secrets: tuple[str, ...]

    def headers(self, message_id: str, body: str, now: datetime) -> dict[str, str]:
        """The Standard Webhooks headers of one attempt, signed at ``now``."""
        signatures = " ".join(Webhook(s).sign(message_id, now, body) for s in self.secrets)
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signatures,
            "content-type": "application/json",
        }


@dataclass(frozen=True)
class Batch:
    """The next deliveries of one endpoint, oldest first, and what signs them."""

    endpoint: WebhookEndpoint
    signer: Signer
    deliveries: tuple[WebhookDelivery, ...]


@dataclass(frozen=True)
class Enabled:
    """What ``enable`` did: whether the endpoint was disabled, and how many of its
    events wait (now due, in order)."""

    was_disabled: bool
    waiting: int


@dataclass(frozen=True)
class WebhookOutbox:
    waiting: int
    oldest_waiting_at: datetime | None
    set_aside: int


# ------------------------------------------------------------------------- the rules


def event_types_problem(types: tuple[str, ...]) -> str:
    unknown = [t for t in types if t not in EVENT_TYPES]
    if unknown:
        return f"unknown event type {unknown[0]!r} (known: {', '.join(EVENT_TYPES)})"
    return ""


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _secret_owner(name: str) -> str:
    """What a sealed secret is bound to (the sealed columns' account_id)."""
    return f"webhook:{name}"


def next_attempt(delivery: WebhookDelivery, now: datetime) -> datetime:
    """1 s after the first failure, doubling, at most LONGEST_RETRY apart."""
    return now + retry_delay(delivery.attempts, FIRST_RETRY, LONGEST_RETRY)


# ------------------------------------------------------------------------ the service


class WebhookService:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        clock: Clock,
        metrics: Metrics | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        self._db = db
        self._box = box
        self._clock = clock
        self._metrics = metrics
        # What is sent, and marked sent, only while this bot may send (core/leadership.py).
        self._sending = leadership or Leadership(db)

    # ----------------------------------------------------------- the operator's side

    async def add(
        self,
        name: str,
        url: str,
        event_types: tuple[str, ...] = (),
        *,
        allow_private: bool = False,
    ) -> str:
        """Register an endpoint; its signing secret (shown once). WebhookError: refused,
        nothing changed."""
        if not _NAME.fullmatch(name):
            raise WebhookError(
                f"the name {name!r} must be 1 to 40 letters, digits, '.', '_' or '-'"
            )
        problem = url_problem(url) or event_types_problem(event_types)
        if problem:
            raise WebhookError(problem)
        host = urlsplit(url).hostname or ""
        refused = await refused_addresses(host)
        if refused and not allow_private:
            raise WebhookError(
                f"{host} is a loopback, link-local or private address ({', '.join(refused)}): "
                "add --allow-private if this receiver is meant to be internal"
            )
        now = self._clock.now()
        secret, secret_id, sealed = self._sealed_secret(name)

        def work(tx: Transaction) -> bool:
            if tx.webhooks.endpoint(name) is not None:
                return False
            endpoint_id = tx.webhooks.add_endpoint(
                name, url, tuple(dict.fromkeys(event_types)), allow_private, now
            )
            tx.webhooks.add_secret(secret_id, endpoint_id, _secret_owner(name), sealed, now)
            tx.audit.record(now, "operator", "webhook_added", endpoint=name, url=shown_url(url))
            return True

        if not await self._db.run(work):
            raise WebhookError(f"there is a webhook named {name!r} already")
        return secret

    async def endpoints(self) -> list[WebhookEndpoint]:
        return await self._db.run(lambda tx: tx.webhooks.endpoints())

    async def remove(self, name: str) -> None:
        now = self._clock.now()

        def work(tx: Transaction) -> bool:
            endpoint = tx.webhooks.endpoint(name)
            if endpoint is None:
                return False
            tx.webhooks.remove_endpoint(endpoint.id)
            tx.audit.record(now, "operator", "webhook_removed", endpoint=name)
            return True

        if not await self._db.run(work):
            raise WebhookError(f"there is no webhook named {name!r}")

    async def enable(self, name: str) -> Enabled:
        """Turn an endpoint disabled by a 410 on again (audited); its held events are
        sent next, in order. An endpoint not disabled is left as it is. WebhookError: no
        such endpoint."""
        now = self._clock.now()

        def work(tx: Transaction) -> Enabled | None:
            endpoint = tx.webhooks.endpoint(name)
            if endpoint is None:
                return None
            was_disabled = tx.webhooks.enable(endpoint.id, now)
            waiting = tx.webhooks.waiting_count(endpoint.id)
            if was_disabled:
                tx.audit.record(now, "operator", "webhook_enabled", endpoint=name, waiting=waiting)
            return Enabled(was_disabled, waiting)

        enabled = await self._db.run(work)
        if enabled is None:
            raise WebhookError(f"there is no webhook named {name!r}")
        return enabled

    def _sealed_secret(self, name: str) -> tuple[str, str, bytes]:
        """A new signing secret for the endpoint: (the secret, its id, sealed)."""
        secret, secret_id = new_secret(), secrets.token_hex(8)
        return (
            secret,
            secret_id,
            self._box.seal(secret, account_id=_secret_owner(name), device_id=secret_id),
        )

    async def rotate_secret(self, name: str) -> str:
        """A new signing secret; the old one signs beside it for SECRET_OVERLAP."""
        now = self._clock.now()
        secret, secret_id, sealed = self._sealed_secret(name)

        def work(tx: Transaction) -> bool:
            endpoint = tx.webhooks.endpoint(name)
            if endpoint is None:
                return False
            tx.webhooks.retire_secrets(endpoint.id, now + SECRET_OVERLAP, now)
            tx.webhooks.add_secret(secret_id, endpoint.id, _secret_owner(name), sealed, now)
            tx.audit.record(now, "operator", "webhook_secret_rotated", endpoint=name)
            return True

        if not await self._db.run(work):
            raise WebhookError(f"there is no webhook named {name!r}")
        return secret

    # -------------------------------------------------------------- the sender's side

    async def endpoints_due(self) -> list[int]:
        now = self._clock.now()
        return await self._db.run(lambda tx: tx.webhooks.endpoints_due(now))

    async def next_batch(self, endpoint_id: int, limit: int = BATCH) -> Batch | None:
        """The endpoint's next deliveries, if the oldest is due (the later ones wait
        behind it); None when there is nothing to send now."""
        now = self._clock.now()

        def work(tx: Transaction) -> Batch | None:
            endpoint = tx.webhooks.endpoint_by_id(endpoint_id)
            if endpoint is None or endpoint.disabled_at is not None:
                return None
            waiting = tx.webhooks.waiting(endpoint_id, limit)
            if not waiting or waiting[0].next_attempt_at > now:
                return None
            opened = tuple(
                self._box.open(s.secret_sealed, account_id=s.account_id, device_id=s.id)
                for s in tx.webhooks.signing_secrets(endpoint_id, now)
            )
            return Batch(endpoint, Signer(opened), tuple(waiting))

        return await self._sending.run(work)

    async def record(
        self, endpoint: WebhookEndpoint, delivery: WebhookDelivery, answer: Answer
    ) -> Outcome:
        """What an attempt means (see the module docstring), recorded in one transaction."""
        now = self._clock.now()

        def work(tx: Transaction) -> Outcome:
            if answer.status is not None and 200 <= answer.status < 300:
                tx.webhooks.mark_delivered(delivery, now)
                return Outcome.DELIVERED
            error = answer.describe()
            if answer.status == 410:
                tx.webhooks.retry_later(delivery, now, error, now)
                if tx.webhooks.disable(endpoint.id, "410 Gone", now):
                    tx.audit.record(now, "system", "webhook_disabled", endpoint=endpoint.name)
                    tx.alerts.raise_event(
                        now,
                        "webhook_disabled",
                        "warning",
                        endpoint=endpoint.name,
                        url=shown_url(endpoint.url),
                    )
                return Outcome.GONE
            first_failed = delivery.first_failed_at or now
            if now - first_failed >= GIVE_UP_AFTER:
                tx.webhooks.set_aside(delivery, error, now)
                tx.alerts.raise_event(
                    now,
                    "webhook_set_aside",
                    "warning",
                    endpoint=endpoint.name,
                    event=delivery.event_type,
                    error=error,
                )
                return Outcome.SET_ASIDE
            tx.webhooks.retry_later(delivery, next_attempt(delivery, now), error, now)
            return Outcome.RETRY

        outcome = await self._sending.run(work)
        if self._metrics is not None:
            self._metrics.webhook_deliveries.labels(endpoint.name, outcome.value).inc()
        return outcome

    async def outbox(self) -> WebhookOutbox:
        return await self._db.run(
            lambda tx: WebhookOutbox(
                tx.webhooks.depth(), tx.webhooks.oldest_waiting_at(), tx.webhooks.set_aside_count()
            )
        )

    async def prune(self, older_than: timedelta, batch: int = PRUNE_BATCH) -> int:
        """Delete deliveries made or set aside more than ``older_than`` ago (and their
        events), ``batch`` per transaction; what still waits stays."""
        before = self._clock.now() - older_than
        total = 0
        while True:
            deleted = await self._db.run(lambda tx: tx.webhooks.prune(before, batch))
            total += deleted
            if deleted < batch:
                return total
