"""/v1/challenges over HTTP: the shapes and statuses of the SPEC, the scope, bad input
(400), another client's challenge (404), the long poll answering when the user decides."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from core.clients import Scope
from core.clock import FakeClock
from core.config import Settings
from core.services import Services
from tests.harness import Harness, enrol, running_bot

API_TOKEN = "challenges-test-token-0123456789abcdef"
ACCOUNT = "tg:1001"


class Api:
    def __init__(self, harness: Harness, port: int, http: aiohttp.ClientSession) -> None:
        self.harness = harness
        self.base = f"http://127.0.0.1:{port}"
        self.http = http
        self.token = API_TOKEN

    @property
    def services(self) -> Services:
        services: Services = self.harness.app.bot_data["services"]
        return services

    async def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        async with self.http.request(
            method, self.base + path, json=body, headers=headers
        ) as response:
            return response.status, await response.json(), response

    async def open(self, account: str = ACCOUNT, **body: Any) -> tuple[int, Any]:
        status, answer, _ = await self.call("POST", "/v1/challenges", {"account": account, **body})
        return status, answer


@pytest.fixture
def api_settings(settings: Settings, unused_tcp_port: int) -> Settings:
    return dataclasses.replace(settings, api_token=API_TOKEN, api_port=unused_tcp_port)


@pytest.fixture
async def api(api_settings: Settings, clock: FakeClock) -> AsyncIterator[Api]:
    async with running_bot(api_settings, clock) as harness, aiohttp.ClientSession() as http:
        yield Api(harness, api_settings.api_port, http)


async def press(api: Api, challenge_id: str, label: str) -> None:
    user = api.harness.user(1001)
    await api.harness.run_job("challenges")
    message = user.last()
    await user.press(message, label)


async def test_a_challenge_has_the_spec_s_shape(api: Api) -> None:
    await enrol(api.harness.user(1001))
    status, body = await api.open(context={"app": "VPN", "ip": "203.0.113.7"})
    assert status == 201
    assert set(body) == {"id", "number", "status", "expires_at"}
    assert body["status"] == "pending" and len(body["number"]) == 2
    assert body["expires_at"].endswith("Z")
    status, state, _ = await api.call("GET", f"/v1/challenges/{body['id']}")
    assert (status, state["status"]) == (200, "pending")


async def test_the_long_poll_answers_the_moment_the_user_presses(api: Api) -> None:
    await enrol(api.harness.user(1001))
    _, body = await api.open()
    poll = asyncio.create_task(api.call("GET", f"/v1/challenges/{body['id']}?wait=25"))
    await asyncio.sleep(0.3)
    assert not poll.done()
    started = asyncio.get_running_loop().time()
    await press(api, body["id"], body["number"])
    status, state, _ = await asyncio.wait_for(poll, 5)
    assert (status, state["status"]) == (200, "accepted")
    assert asyncio.get_running_loop().time() - started < 2
    # one login: the verdict is not read twice
    status, again, _ = await api.call("GET", f"/v1/challenges/{body['id']}")
    assert (status, again["error"]) == (409, "already_used")


async def test_a_wrong_number_is_declined(api: Api) -> None:
    await enrol(api.harness.user(1001))
    _, body = await api.open()
    challenge = await api.services.challenges.read(body["id"], actor="api:API_TOKEN")
    assert challenge is not None
    wrong = next(n for n in challenge.challenge.choices if n != body["number"])
    await press(api, body["id"], wrong)
    status, state, _ = await api.call("GET", f"/v1/challenges/{body['id']}?wait=0")
    assert status == 200
    assert state == {
        "id": body["id"],
        "status": "declined",
        "reason": "wrong_number",
        "decided_at": api.harness.clock.now()
        .replace(microsecond=0)
        .isoformat()
        .replace("+00:00", "Z"),
    }


async def test_the_wait_runs_out_with_pending(api: Api) -> None:
    await enrol(api.harness.user(1001))
    _, body = await api.open()
    status, state, _ = await api.call("GET", f"/v1/challenges/{body['id']}?wait=1")
    assert (status, state["status"]) == (200, "pending")


async def test_delete_cancels(api: Api) -> None:
    await enrol(api.harness.user(1001))
    _, body = await api.open()
    status, state, _ = await api.call("DELETE", f"/v1/challenges/{body['id']}")
    assert (status, state["status"]) == (200, "cancelled")
    status, state, _ = await api.call("GET", f"/v1/challenges/{body['id']}")
    assert state["status"] == "cancelled"


async def test_an_accepted_challenge_cancelled_after_its_verdict_was_read_is_no_second_login(
    api: Api,
) -> None:
    user = api.harness.user(1001)
    await enrol(user)
    _, body = await api.open()
    await api.harness.run_job("challenges")
    await user.press(user.last(), body["number"])
    status, state, _ = await api.call("GET", f"/v1/challenges/{body['id']}")
    assert (status, state["status"]) == (200, "accepted")  # the one login
    status, state, _ = await api.call("DELETE", f"/v1/challenges/{body['id']}")
    assert (status, state["error"]) == (409, "already_used")


async def test_one_pending_per_account_is_429_with_retry_after(api: Api) -> None:
    await enrol(api.harness.user(1001))
    await api.open()
    status, body, response = await api.call("POST", "/v1/challenges", {"account": ACCOUNT})
    assert (status, body["error"]) == (429, "too_many_challenges")
    assert body["retry_after"] == 60 and response.headers["Retry-After"] == "60"


async def test_refusals_are_409_and_deactivated_is_200(api: Api) -> None:
    status, body = await api.open("nobody@example.com")
    assert (status, body["error"]) == (409, "not_enrolled")
    await enrol(api.harness.user(1001))
    await api.services.db.run(
        lambda tx: tx.connection.execute("DELETE FROM telegram_users WHERE user_id = 1001")
    )
    status, body = await api.open()
    assert (status, body["error"]) == (409, "no_chat")
    for _ in range(5):
        await api.services.verification.verify(ACCOUNT, "000000", actor="api:x")
    status, body = await api.open()
    assert (status, body["error"]) == (409, "locked") and body["retry_after"] == 900


async def test_a_deactivated_account_answers_200_deactivated(api: Api) -> None:
    await enrol(api.harness.user(1001))
    until = api.harness.clock.now().timestamp() + 3600
    await api.services.db.run(
        lambda tx: tx.connection.execute(
            "UPDATE account_security SET deactivated_until = ? WHERE account_id = ?",
            (int(until), ACCOUNT),
        )
    )
    status, body = await api.open()
    assert status == 200 and body["status"] == "deactivated" and body["until"].endswith("Z")


async def test_push_approval_off_is_403(api_settings: Settings, clock: FakeClock) -> None:
    off = dataclasses.replace(api_settings, push_approval=False)
    async with running_bot(off, clock) as harness, aiohttp.ClientSession() as http:
        api = Api(harness, off.api_port, http)
        await enrol(harness.user(1001))
        status, body = await api.open()
        assert (status, body["error"]) == (403, "push_approval_off")


@pytest.mark.parametrize(
    "body, error",
    [
        ({"account": ACCOUNT, "context": {"app": 7}}, "invalid_context"),
        ({"account": ACCOUNT, "context": {"app": "x" * 101}}, "invalid_context"),
        ({"account": ACCOUNT, "context": {"app": "VPN\nnext line"}}, "invalid_context"),
        ({"account": ACCOUNT, "context": {"app": "\u202eNPV"}}, "invalid_context"),
        ({"account": ACCOUNT, "context": {"browser": "x"}}, "unknown_field"),
        ({"account": ACCOUNT, "context": "VPN"}, "invalid_context"),
        ({"account": ACCOUNT, "code": "123456"}, "unknown_field"),
        ({"account": ACCOUNT, "kind": "sms"}, "invalid_kind"),
        ({"account": ACCOUNT, "kind": []}, "invalid_kind"),
        ({"account": ACCOUNT, "kind": {"a": 1}}, "invalid_kind"),
        ({"context": {}}, "missing_field"),
    ],
)
async def test_bad_input_is_400(api: Api, body: dict[str, Any], error: str) -> None:
    await enrol(api.harness.user(1001))
    status, answer, _ = await api.call("POST", "/v1/challenges", body)
    assert (status, answer["error"]) == (400, error)
    assert await api.services.challenges.recent(ACCOUNT) == []


@pytest.mark.parametrize("wait", ["26", "-1", "abc", "1.5", "", "99999999999"])
async def test_a_bad_wait_is_400(api: Api, wait: str) -> None:
    await enrol(api.harness.user(1001))
    _, body = await api.open()
    status, answer, _ = await api.call("GET", f"/v1/challenges/{body['id']}?wait={wait}")
    assert (status, answer["error"]) == (400, "invalid_wait")


async def test_another_clients_challenge_is_404(api: Api) -> None:
    await enrol(api.harness.user(1001))
    _, body = await api.open()
    other = (await api.services.clients.add("wiki", frozenset({Scope.CHALLENGES}))).token
    for method in ("GET", "DELETE"):
        status, answer, _ = await api.call(method, f"/v1/challenges/{body['id']}", token=other)
        assert (status, answer["error"]) == (404, "not_found")
    status, answer, _ = await api.call("GET", "/v1/challenges/doesnotexist")
    assert (status, answer["error"]) == (404, "not_found")
    status, answer, _ = await api.call("GET", "/v1/challenges/NOT-AN-ID")
    assert (status, answer["error"]) == (404, "not_found")


async def test_the_challenges_scope_is_needed(api: Api) -> None:
    await enrol(api.harness.user(1001))
    verify_only = (await api.services.clients.add("vpn", frozenset({Scope.VERIFY}))).token
    for method, path in (
        ("POST", "/v1/challenges"),
        ("GET", "/v1/challenges/abc"),
        ("DELETE", "/v1/challenges/abc"),
    ):
        status, answer, _ = await api.call(method, path, {"account": ACCOUNT}, token=verify_only)
        assert (status, answer["error"]) == (403, "forbidden")
