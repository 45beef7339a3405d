"""The HTTP API's clients: who may call which endpoint, and how often.

Each login system (a VPN, a portal, RADIUS, PAM) gets a client of its own: a name, a
token shown once when it is added (``python -m bot clients add``), and scopes that say
what it may do. ``API_TOKEN`` from the configuration is a client too, named
``API_TOKEN``, with every scope (set-ups from before clients keep working).

A request names its client by its token; the client is looked up in the database on
every request, so a revocation holds for every API process from the next request on,
with no cache to wait for. Each client's requests are counted against a rate limit, and
so are the failed authentications from each address (token guessing is slow): in memory,
per process, with the ``limits`` library.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from core.clock import Clock
from storage.db import Database
from storage.records import ApiClientRow
from storage.repositories import Transaction


class Scope(StrEnum):
    VERIFY = "verify"  # POST /v1/verify, and RADIUS
    CHALLENGES = "challenges"  # POST, GET and DELETE /v1/challenges
    ACCOUNTS = "accounts"  # GET /v1/accounts/{account}
    # POST /v1/enrollment-links: a link binds a Telegram user to an account, so a token
    # that only checks codes (a VPN's) must not carry it.
    LINKS = "links"
    METRICS = "metrics"  # GET /metrics (Prometheus needs no other)


ALL_SCOPES = frozenset(Scope)
_SCOPE_NAMES = frozenset(scope.value for scope in Scope)
API_TOKEN_CLIENT = "API_TOKEN"  # noqa: S105 - the name of the client API_TOKEN stands for
CLIENT_ACTOR_PREFIX = "api:"  # the audit log's actor of a client: "api:<name>"
OPERATOR_ACTOR = "operator"  # who adds and revokes clients (python -m bot clients)
# A token is recognisable (secret scanners, the log redaction).
TOKEN_PREFIX = "twofa_"  # noqa: S105 - a prefix, not a secret
TOKEN_BYTES = 32
_TOKEN = re.compile(TOKEN_PREFIX + r"[A-Za-z0-9_-]{43}")  # 32 bytes in URL-safe base64
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# "Last used" is written at most this often per client: a write per request would cost
# every API call a database write (and, on PostgreSQL, conflicts between workers).
LAST_USED_PRECISION = timedelta(minutes=1)
DEFAULT_RATE_LIMIT = "50/second"
DEFAULT_AUTH_FAILURE_LIMIT = "10/minute"


class ClientError(Exception):
    """A mistake in what the operator asked for; nothing changed. Worded for them."""


@dataclass(frozen=True)
class ApiClient:
    name: str
    scopes: frozenset[Scope]
    created_at: datetime | None = None  # None for API_TOKEN (it lives in the configuration)
    last_used_at: datetime | None = None

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes

    @property
    def actor(self) -> str:
        """How this client appears in the audit log."""
        return CLIENT_ACTOR_PREFIX + self.name


@dataclass(frozen=True)
class AddedClient:
    client: ApiClient
    token: str  # shown once: only its hash is stored


def client_name(actor: str) -> str | None:
    """The client an audit actor names (``ApiClient.actor``), or None (the chat, the
    system, or the API from before clients, whose actor was plain "api")."""
    if actor.startswith(CLIENT_ACTOR_PREFIX):
        return actor.removeprefix(CLIENT_ACTOR_PREFIX)
    return None


def token_hash(token: str) -> bytes:
    """SHA-256 of the token. A token is 256 random bits, so no slow or salted hash is
    needed: nobody can guess one to test against the hash, and the hash reveals nothing.
    A plain hash also lets the token be found by an index lookup on every request."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def parse_scopes(text: str) -> frozenset[Scope]:
    """``verify,accounts`` as scopes; a ClientError names an unknown one."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not names:
        raise ClientError(f"--scopes is empty; give one or more of {_scope_list()}")
    unknown = [name for name in names if name not in _SCOPE_NAMES]
    if unknown:
        raise ClientError(f"unknown scope {unknown[0]!r}; the scopes are {_scope_list()}")
    return frozenset(Scope(name) for name in names)


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ClientError(
            f"a client name is 1 to 64 letters, digits, '.', '_' or '-' (starting with a "
            f"letter or digit), got {name!r}"
        )
    if name == API_TOKEN_CLIENT:
        raise ClientError(
            f"{API_TOKEN_CLIENT} is the name of the client the API_TOKEN setting stands "
            "for; pick another name"
        )
    return name


def scopes_text(scopes: frozenset[Scope]) -> str:
    """Scopes in a fixed order, comma-separated (as stored and shown)."""
    return ",".join(scope.value for scope in Scope if scope in scopes)


def _scope_list() -> str:
    return ", ".join(scope.value for scope in Scope)


def _client(row: ApiClientRow) -> ApiClient:
    scopes = frozenset(Scope(name) for name in row.scopes.split(",") if name in _SCOPE_NAMES)
    return ApiClient(row.name, scopes, row.created_at, row.last_used_at)


def _as_bytes(presented: str) -> bytes:
    """A header's bytes as sent. aiohttp decodes headers as UTF-8 with
    ``surrogateescape``: bytes that are not UTF-8 come back as they were, and so
    compare unequal instead of raising."""
    try:
        return presented.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that no byte could have produced
        return b""


class ClientRegistry:
    """The clients in the database, and API_TOKEN's."""

    def __init__(self, db: Database, clock: Clock, api_token: str | None = None) -> None:
        self._db = db
        self._clock = clock
        self._api_token = api_token.encode("utf-8") if api_token else None

    async def add(self, name: str, scopes: frozenset[Scope]) -> AddedClient:
        """A new client and its token (shown once); a ClientError for a name in use."""
        check_name(name)
        if not scopes:
            raise ClientError(f"a client needs one or more scopes: {_scope_list()}")
        now = self._clock.now()
        token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        stored = scopes_text(scopes)

        def work(tx: Transaction) -> None:
            if tx.clients.active(name) is not None:
                raise ClientError(
                    f"a client named {name!r} exists already; revoke it first, or pick another name"
                )
            tx.clients.add(token_hash(token), name, stored, now)
            tx.audit.record(now, OPERATOR_ACTOR, "api_client_added", client=name, scopes=stored)

        await self._db.run(work)
        return AddedClient(ApiClient(name, scopes, now), token)

    async def clients(self) -> list[ApiClient]:
        """The clients not revoked, by name (API_TOKEN's is not among them)."""
        rows = await self._db.run(lambda tx: tx.clients.all_active())
        return [_client(row) for row in rows]

    async def revoke(self, name: str) -> None:
        """From the next request on, every API process refuses the client's token."""
        if name == API_TOKEN_CLIENT:
            raise ClientError(
                f"{API_TOKEN_CLIENT} is revoked by unsetting the API_TOKEN setting and "
                "restarting the API processes"
            )
        now = self._clock.now()

        def work(tx: Transaction) -> None:
            if not tx.clients.revoke(name, now):
                raise ClientError(f"there is no client named {name!r} (python -m bot clients list)")
            tx.audit.record(now, OPERATOR_ACTOR, "api_client_revoked", client=name)

        await self._db.run(work)

    async def serves_api(self) -> bool:
        """Whether any token can open the API: API_TOKEN is set, or a client exists."""
        if self._api_token is not None:
            return True
        return await self._db.run(lambda tx: tx.clients.any_active())

    async def authenticate(self, presented: str) -> ApiClient | None:
        """The client a bearer token belongs to; None for an unknown or revoked token.

        Looked up on every request (no cache), so a revocation by any process holds at
        once everywhere."""
        presented_bytes = _as_bytes(presented)
        if self._api_token is not None and hmac.compare_digest(presented_bytes, self._api_token):
            return ApiClient(API_TOKEN_CLIENT, ALL_SCOPES)
        if not _TOKEN.fullmatch(presented):
            return None  # not even shaped like a token: no database round trip
        digest = token_hash(presented)
        now = self._clock.now()

        def work(tx: Transaction) -> ApiClient | None:
            row = tx.clients.by_token_hash(digest)
            if row is None or row.revoked_at is not None:
                return None
            if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION:
                tx.clients.mark_used(digest, now)
            return _client(row)

        return await self._db.run(work)


def rate_limit(text: str) -> RateLimitItem:
    """``50/second``, ``600/minute``, ``10 per minute``: limits' notation, one limit."""
    try:
        item = parse(text)
    except ValueError:
        raise ValueError(f"must be a rate such as 50/second or 600/minute, got {text!r}") from None
    if item.amount < 1:
        raise ValueError(f"must allow at least one request, got {text!r}")
    return item


class RateLimits:
    """Per process, in memory: each process counts its own requests (with N API workers,
    a client may make up to N times its limit; a shared count would need one of limits'
    storage backends, such as Redis)."""

    def __init__(
        self,
        per_client: str = DEFAULT_RATE_LIMIT,
        failures_per_address: str = DEFAULT_AUTH_FAILURE_LIMIT,
    ) -> None:
        # A moving window: no burst of twice the limit around a window's edge.
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_client = rate_limit(per_client)
        self._failures = rate_limit(failures_per_address)

    def take(self, client: ApiClient) -> int | None:
        """Count one request of the client: None when allowed, else the seconds to wait."""
        if self._limiter.hit(self._per_client, "client", client.name):
            return None
        return self._wait(self._per_client, "client", client.name)

    def address_refused(self, address: str) -> int | None:
        """Seconds an address must wait after too many failed authentications, or None.
        Asked only for a request that did not authenticate: such requests from the address
        get 429 until the window has room (guessing slows to the limit), while a valid
        token from the same address (a proxy's) still goes through."""
        if self._limiter.test(self._failures, "address", address):
            return None
        return self._wait(self._failures, "address", address)

    def note_failure(self, address: str) -> None:
        """A request from the address did not authenticate."""
        self._limiter.hit(self._failures, "address", address)

    def _wait(self, item: RateLimitItem, *key: str) -> int:
        reset = self._limiter.get_window_stats(item, *key).reset_time
        return max(1, math.ceil(reset - time.time()))
