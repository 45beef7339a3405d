"""API clients over HTTP: each route's scope (403 without it), revoked tokens (401), the
client named in the audit log and the metrics, and the rate limits (429 with
Retry-After), on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from api.auth import PUBLIC, UndeclaredScope, check_scopes, declared_scope
from api.server import build_api
from core.clients import DEFAULT_AUTH_FAILURE_LIMIT, DEFAULT_RATE_LIMIT, Scope
from core.clock import FakeClock
from core.config import Settings
from core.services import Services
from tests.harness import Harness, code_for, enrol, running_bot

API_TOKEN = "api-clients-test-token-0123456789abcdef"

# Every route, and the scope it needs (None: public). A new route must be added here too.
ROUTES: list[tuple[str, str, Scope | None]] = [
    ("POST", "/v1/verify", Scope.VERIFY),
    ("GET", "/v1/accounts/tg:1001", Scope.ACCOUNTS),
    ("POST", "/v1/enrollment-links", Scope.LINKS),
    ("GET", "/metrics", Scope.METRICS),
    ("GET", "/healthz", None),
]
BODY = {"account": "tg:1001", "code": "123456"}
# Routes whose success needs more than a token (an enrolled account, a challenge, a form):
# with their scope they get past authentication (no 401 or 403), without it 403.
ROUTES_PAST_AUTH: list[tuple[str, str, Scope]] = [
    ("POST", "/v1/challenges", Scope.CHALLENGES),
    ("GET", "/v1/challenges/abc", Scope.CHALLENGES),
    ("DELETE", "/v1/challenges/abc", Scope.CHALLENGES),
    ("POST", "/v1/radius/check", Scope.VERIFY),
]
CANONICAL = {
    "/v1/accounts/tg:1001": "/v1/accounts/{account}",
    "/v1/challenges/abc": "/v1/challenges/{id}",
}


class Api:
    def __init__(self, harness: Harness, port: int, http: aiohttp.ClientSession) -> None:
        self.harness = harness
        self.base = f"http://127.0.0.1:{port}"
        self.http = http

    @property
    def services(self) -> Services:
        services: Services = self.harness.app.bot_data["services"]
        return services

    async def add(self, name: str, *scopes: Scope) -> str:
        return (await self.services.clients.add(name, frozenset(scopes))).token

    async def call(
        self, method: str, path: str, token: str | None, body: Any = BODY, **kw: Any
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        async with self.http.request(
            method, self.base + path, json=body if method == "POST" else None, headers=headers, **kw
        ) as response:
            if response.content_type == "application/json":
                return response.status, await response.json(), response
            return response.status, await response.text(), response


def limited(
    settings: Settings,
    port: int,
    rate: str = DEFAULT_RATE_LIMIT,
    failures: str = DEFAULT_AUTH_FAILURE_LIMIT,
) -> Settings:
    return dataclasses.replace(
        settings,
        api_token=API_TOKEN,
        api_port=port,
        api_rate_limit=rate,
        api_auth_failure_limit=failures,
    )


@pytest.fixture
async def api(settings: Settings, clock: FakeClock, unused_tcp_port: int) -> AsyncIterator[Api]:
    async with (
        running_bot(limited(settings, unused_tcp_port), clock) as harness,
        aiohttp.ClientSession() as http,
    ):
        yield Api(harness, unused_tcp_port, http)


def test_every_route_declares_its_scope_next_to_it(api_app: web.Application) -> None:
    """Walks the router: a route added without @requires or @public fails here (and
    stops the start: build_api calls check_scopes)."""
    declared = {
        (route.method, route.resource.canonical if route.resource else ""): declared_scope(
            route.handler
        )
        for route in api_app.router.routes()
        if route.method != "HEAD"
    }
    assert None not in declared.values(), declared
    # Every route is in one of the lists the scope tests walk, with the scope it declares.
    listed = {
        (method, CANONICAL.get(path, path)): scope if scope is not None else PUBLIC
        for method, path, scope in [*ROUTES, *ROUTES_PAST_AUTH]
    }
    assert listed == declared
    assert declared[("GET", "/healthz")] == PUBLIC
    assert declared[("POST", "/v1/enrollment-links")] is Scope.LINKS


@pytest.fixture
async def api_app(settings: Settings, clock: FakeClock) -> AsyncIterator[web.Application]:
    services = await Services.open(settings, clock)
    try:
        yield build_api(services, "twofa_desk_bot")
    finally:
        await services.close()


async def test_a_route_without_a_declared_scope_stops_the_start(
    api_app: web.Application,
) -> None:
    async def forgotten(request: web.Request) -> web.Response:
        return web.json_response({})

    router = web.Application().router
    router.add_post("/v1/forgotten", forgotten)
    with pytest.raises(UndeclaredScope, match="POST /v1/forgotten declares no scope"):
        check_scopes([*api_app.router.routes(), *router.routes()])


@pytest.mark.parametrize(("method", "path", "scope"), [r for r in ROUTES if r[2] is not None])
async def test_a_client_without_the_route_s_scope_is_forbidden(
    api: Api, method: str, path: str, scope: Scope
) -> None:
    others = [s for s in Scope if s is not scope]
    token = await api.add("vpn", *others)
    status, body, _ = await api.call(method, path, token)
    assert (status, body["error"]) == (403, "forbidden")
    assert scope.value in body["message"]
    allowed = await api.add("portal", scope)
    status, body, _ = await api.call(method, path, allowed)
    assert status in (200, 201), body


@pytest.mark.parametrize(("method", "path", "scope"), ROUTES_PAST_AUTH)
async def test_a_client_without_the_scope_of_a_stateful_route_is_forbidden(
    api: Api, method: str, path: str, scope: Scope
) -> None:
    others = [s for s in Scope if s is not scope]
    status, body, _ = await api.call(method, path, await api.add("vpn", *others))
    assert (status, body["error"]) == (403, "forbidden")
    status, body, _ = await api.call(method, path, await api.add("portal", scope))
    assert status not in (401, 403), body


async def test_health_stays_public(api: Api) -> None:
    status, body, _ = await api.call("GET", "/healthz", None)
    assert status == 200 and body["status"] == "ok"


async def test_api_token_keeps_every_scope(api: Api) -> None:
    for method, path, _ in ROUTES:
        status, body, _ = await api.call(method, path, API_TOKEN)
        assert status in (200, 201), (path, body)


async def test_a_revoked_token_is_401_from_the_next_request_on(api: Api) -> None:
    token = await api.add("vpn", Scope.VERIFY)
    status, _, _ = await api.call("POST", "/v1/verify", token)
    assert status == 200
    await api.services.clients.revoke("vpn")
    status, body, response = await api.call("POST", "/v1/verify", token)
    assert (status, body["error"]) == (401, "invalid_token")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_the_audit_row_and_the_metrics_name_the_client(api: Api) -> None:
    harness = api.harness
    secret, _ = await enrol(harness.user())
    token = await api.add("vpn", Scope.VERIFY, Scope.LINKS)
    body = {"account": "tg:1001", "code": code_for(harness, secret)}
    status, verdict, _ = await api.call("POST", "/v1/verify", token, body)
    assert (status, verdict["result"]) == (200, "accepted")
    await api.call("POST", "/v1/verify", API_TOKEN, BODY)
    await api.call("POST", "/v1/enrollment-links", token, {"account": "anna@example.com"})
    entries = await api.services.db.run(lambda tx: tx.audit.entries())
    checks = [
        (e.actor, json.loads(e.detail)["result"]) for e in entries if e.action == "code_checked"
    ]
    assert checks == [("api:vpn", "accepted"), ("api:API_TOKEN", "rejected")]
    (link,) = [e for e in entries if e.action == "enrollment_link_created"]
    assert link.actor == "api:vpn"
    _, metrics, _ = await api.call("GET", "/metrics", API_TOKEN)
    assert 'twofa_verifications_total{channel="api",client="vpn",result="accepted"} 1.0' in (
        metrics
    )
    assert 'client="API_TOKEN",result="rejected"} 1.0' in metrics


async def test_a_client_over_its_rate_limit_gets_429_with_retry_after(
    settings: Settings, clock: FakeClock, unused_tcp_port: int
) -> None:
    tight = limited(settings, unused_tcp_port, rate="3/minute")
    async with running_bot(tight, clock) as harness, aiohttp.ClientSession() as http:
        api = Api(harness, unused_tcp_port, http)
        vpn = await api.add("vpn", Scope.VERIFY)
        for _ in range(3):
            assert (await api.call("POST", "/v1/verify", vpn))[0] == 200
        status, body, response = await api.call("POST", "/v1/verify", vpn)
        assert (status, body["error"]) == (429, "rate_limited")
        assert 55 <= int(response.headers["Retry-After"]) <= 60
        # Each client counts for itself.
        assert (await api.call("POST", "/v1/verify", API_TOKEN))[0] == 200


async def test_failed_authentications_are_limited_per_address(
    settings: Settings, clock: FakeClock, unused_tcp_port: int
) -> None:
    tight = limited(settings, unused_tcp_port, failures="3/minute")
    async with running_bot(tight, clock) as harness, aiohttp.ClientSession() as http:
        api = Api(harness, unused_tcp_port, http)
        for token in ("twofa_" + "A" * 43, "guess", None):
            assert (await api.call("POST", "/v1/verify", token))[0] == 401
        # Further guesses from the address are refused unchecked: guessing slows to the
        # limit, answered 429 instead of 401.
        status, body, response = await api.call("POST", "/v1/verify", "twofa_" + "B" * 43)
        assert (status, body["error"]) == (429, "rate_limited")
        assert 55 <= int(response.headers["Retry-After"]) <= 60
        # A valid token from the same address (behind a proxy: every login system's) is
        # never held back by another sender's failures.
        assert (await api.call("POST", "/v1/verify", API_TOKEN))[0] == 200
        # Another address is not held up (the whole of 127.0.0.0/8 is this machine).
        connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
        async with aiohttp.ClientSession(connector=connector) as elsewhere:
            other = Api(harness, unused_tcp_port, elsewhere)
            assert (await other.call("POST", "/v1/verify", API_TOKEN))[0] == 200
        assert (await api.call("GET", "/healthz", None))[0] == 200  # public: not refused
