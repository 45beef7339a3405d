"""API clients in the core (core/clients.py), on SQLite and PostgreSQL: added with a token
shown once and stored hashed, listed, revoked (refused at once), API_TOKEN as a client
with every scope, and the rate limits."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from core.clients import (
    ALL_SCOPES,
    API_TOKEN_CLIENT,
    ApiClient,
    ClientError,
    ClientRegistry,
    RateLimits,
    Scope,
    parse_scopes,
    rate_limit,
    token_hash,
)
from core.clock import FakeClock
from storage.db import Database

API_TOKEN = "configured-api-token-0123456789abcdef"
VERIFY = frozenset({Scope.VERIFY})


@pytest.fixture
def clients(db: Database, clock: FakeClock) -> ClientRegistry:
    return ClientRegistry(db, clock, API_TOKEN)


async def test_a_new_client_is_known_by_its_token_with_its_scopes(
    clients: ClientRegistry, clock: FakeClock
) -> None:
    added = await clients.add("vpn", VERIFY)
    assert added.token.startswith("twofa_") and len(added.token) == 49
    client = await clients.authenticate(added.token)
    assert client is not None and client.name == "vpn" and client.scopes == VERIFY
    assert client.allows(Scope.VERIFY) and not client.allows(Scope.LINKS)
    assert client.actor == "api:vpn"
    (listed,) = await clients.clients()
    assert (listed.name, listed.scopes, listed.created_at) == ("vpn", VERIFY, clock.now())
    assert await clients.authenticate(added.token[:-1] + "x") is None
    assert await clients.authenticate("twofa_" + "A" * 43) is None


async def test_the_database_never_holds_the_token(
    clients: ClientRegistry, stored_bytes: Callable[[], bytes]
) -> None:
    added = await clients.add("portal", frozenset({Scope.VERIFY, Scope.LINKS}))
    blob = stored_bytes()
    assert added.token.encode() not in blob
    assert added.token.removeprefix("twofa_").encode() not in blob
    assert token_hash(added.token) in blob  # what it holds instead


async def test_last_used_is_written_at_most_once_a_minute(
    clients: ClientRegistry, clock: FakeClock
) -> None:
    added = await clients.add("vpn", VERIFY)
    (fresh,) = await clients.clients()
    assert fresh.last_used_at is None
    await clients.authenticate(added.token)
    first = clock.now()
    clock.advance(seconds=30)
    await clients.authenticate(added.token)
    (used,) = await clients.clients()
    assert used.last_used_at == first
    clock.advance(seconds=31)
    await clients.authenticate(added.token)
    (later,) = await clients.clients()
    assert later.last_used_at == clock.now()


async def test_a_revoked_token_is_refused_at_once_by_every_process(
    clients: ClientRegistry, database_url: str, clock: FakeClock
) -> None:
    added = await clients.add("vpn", VERIFY)
    other_db = await Database.open(database_url)  # another process's connection
    try:
        other_process = ClientRegistry(other_db, clock)
        assert await other_process.authenticate(added.token) is not None
        await clients.revoke("vpn")
        assert await other_process.authenticate(added.token) is None
        assert await clients.authenticate(added.token) is None
    finally:
        await other_db.close()
    assert await clients.clients() == []


async def test_a_name_can_be_used_again_after_its_client_was_revoked(
    clients: ClientRegistry,
) -> None:
    old = await clients.add("vpn", VERIFY)
    await clients.revoke("vpn")
    new = await clients.add("vpn", frozenset({Scope.ACCOUNTS}))
    assert await clients.authenticate(old.token) is None
    client = await clients.authenticate(new.token)
    assert client is not None and client.scopes == {Scope.ACCOUNTS}


async def test_adding_and_revoking_are_audited(clients: ClientRegistry, db: Database) -> None:
    await clients.add("vpn", frozenset({Scope.LINKS, Scope.VERIFY}))
    await clients.revoke("vpn")
    entries = await db.run(lambda tx: tx.audit.entries())
    assert [(e.actor, e.action, json.loads(e.detail)) for e in entries] == [
        ("operator", "api_client_added", {"client": "vpn", "scopes": "verify,links"}),
        ("operator", "api_client_revoked", {"client": "vpn"}),
    ]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "a client name is 1 to 64"),
        ("-vpn", "a client name is 1 to 64"),
        ("v pn", "a client name is 1 to 64"),
        ("x" * 65, "a client name is 1 to 64"),
        ("API_TOKEN", "the name of the client the API_TOKEN setting stands for"),
    ],
)
async def test_bad_names_are_refused_and_change_nothing(
    clients: ClientRegistry, db: Database, name: str, problem: str
) -> None:
    with pytest.raises(ClientError, match=problem):
        await clients.add(name, VERIFY)
    assert await clients.clients() == []
    assert await db.run(lambda tx: tx.audit.entries()) == []


async def test_a_duplicate_name_is_refused_and_changes_nothing(
    clients: ClientRegistry, db: Database
) -> None:
    first = await clients.add("vpn", VERIFY)
    with pytest.raises(ClientError, match="exists already"):
        await clients.add("vpn", ALL_SCOPES)
    (only,) = await clients.clients()
    assert only.scopes == VERIFY and await clients.authenticate(first.token) is not None
    assert len(await db.run(lambda tx: tx.audit.entries())) == 1


async def test_revoking_an_unknown_client_or_api_token_is_refused(
    clients: ClientRegistry,
) -> None:
    with pytest.raises(ClientError, match="no client named 'nobody'"):
        await clients.revoke("nobody")
    with pytest.raises(ClientError, match="unsetting the API_TOKEN setting"):
        await clients.revoke(API_TOKEN_CLIENT)
    assert await clients.authenticate(API_TOKEN) is not None


def test_scopes_are_parsed_and_an_unknown_one_is_named() -> None:
    assert parse_scopes(" verify, LINKS,verify ") == {Scope.VERIFY, Scope.LINKS}
    with pytest.raises(ClientError, match="unknown scope 'admin'; the scopes are verify, "):
        parse_scopes("verify,admin")
    with pytest.raises(ClientError, match="--scopes is empty"):
        parse_scopes(" , ")


async def test_api_token_is_a_client_with_every_scope(
    clients: ClientRegistry, db: Database, clock: FakeClock
) -> None:
    client = await clients.authenticate(API_TOKEN)
    assert client is not None and client.name == "API_TOKEN" and client.scopes == ALL_SCOPES
    assert await clients.authenticate(API_TOKEN + "x") is None
    assert await clients.serves_api()
    without = ClientRegistry(db, clock)
    assert not await without.serves_api()  # no API_TOKEN, no client: no API
    assert await without.authenticate(API_TOKEN) is None
    await without.add("vpn", VERIFY)
    assert await without.serves_api()


def test_each_client_has_its_own_rate_limit_with_the_seconds_to_wait() -> None:
    limits = RateLimits("3/minute", "10/minute")
    vpn, portal = ApiClient("vpn", VERIFY), ApiClient("portal", VERIFY)
    assert [limits.take(vpn) for _ in range(3)] == [None, None, None]
    wait = limits.take(vpn)
    assert wait is not None and 55 <= wait <= 60
    assert limits.take(portal) is None


def test_failed_authentications_are_limited_per_address() -> None:
    limits = RateLimits("50/second", "2/minute")
    for _ in range(2):
        assert limits.address_refused("192.0.2.1") is None
        limits.note_failure("192.0.2.1")
    wait = limits.address_refused("192.0.2.1")
    assert wait is not None and 55 <= wait <= 60
    assert limits.address_refused("192.0.2.2") is None


@pytest.mark.parametrize("text", ["", "fast", "0/second", "5/fortnight", "-1/minute"])
def test_a_malformed_rate_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="must"):
        rate_limit(text)
