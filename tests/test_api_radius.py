"""POST /v1/radius/check over real HTTP: each result in the status rlm_rest reads.

200 is an Access-Accept, every other status a Reject; rlm_rest decodes the JSON body of
a 200 and of a 401 into the reply (``reply:Reply-Message``, taken as it is).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import urllib.parse
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from core.clients import Scope
from core.clock import FakeClock
from core.config import Settings
from storage.records import AccountSecurity
from tests.harness import Harness, code_for, enrol, running_bot, wrong

API_TOKEN = "api-radius-token-0123456789abcdef-0123456789"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Radius:
    def __init__(self, harness: Harness, base: str, http: aiohttp.ClientSession) -> None:
        self.harness = harness
        self.base = base
        self.http = http

    async def post(
        self, body: bytes | str, headers: dict[str, str] | None = None, token: str = API_TOKEN
    ) -> tuple[int, dict[str, Any]]:
        headers = {**FORM, **(headers or {}), "Authorization": f"Bearer {token}"}
        async with self.http.post(
            f"{self.base}/v1/radius/check", data=body, headers=headers
        ) as response:
            return response.status, await response.json()

    async def check(self, user: bytes | str, password: bytes | str) -> tuple[int, str]:
        """As FreeRADIUS sends it: each value percent-encoded (%{urlquote:...})."""
        body = f"user={urllib.parse.quote(user, safe='')}&pass={urllib.parse.quote(password)}"
        status, answer = await self.post(body)
        assert status in (200, 401), answer
        reply = answer["reply:Reply-Message"]
        assert reply["op"] == ":=" and reply["do_xlat"] is False
        return status, reply["value"]

    async def failures(self, account: str) -> int:
        services = self.harness.app.bot_data["services"]
        return (await services.accounts.describe(account)).consecutive_failures


@pytest.fixture
async def radius(
    settings: Settings, clock: FakeClock, unused_tcp_port: int
) -> AsyncIterator[Radius]:
    with_api = dataclasses.replace(settings, api_token=API_TOKEN, api_port=unused_tcp_port)
    async with running_bot(with_api, clock) as harness, aiohttp.ClientSession() as http:
        yield Radius(harness, f"http://127.0.0.1:{unused_tcp_port}", http)


def iso(harness: Harness, delta: timedelta) -> str:
    return (harness.clock.now() + delta).isoformat().replace("+00:00", "Z")


async def test_an_accepted_code_is_200_and_its_replay_401(radius: Radius) -> None:
    harness = radius.harness
    secret, _ = await enrol(harness.user())
    code = code_for(harness, secret)
    assert await radius.check("tg:1001", code) == (200, "2FA: code accepted")
    assert await radius.check("tg:1001", code) == (
        401,
        "2FA: wrong or already used code (4 tries left before a lock)",
    )


async def test_a_wrong_code_is_401_with_the_tries_left(radius: Radius) -> None:
    harness = radius.harness
    secret, _ = await enrol(harness.user())
    status, message = await radius.check("tg:1001", wrong(harness, secret))
    assert (status, message) == (
        401,
        "2FA: wrong or already used code (4 tries left before a lock)",
    )
    assert await radius.failures("tg:1001") == 1


async def test_a_lock_is_401_with_until_when(radius: Radius) -> None:
    harness = radius.harness
    secret, _ = await enrol(harness.user())
    bad = wrong(harness, secret)
    for _ in range(4):
        await radius.check("tg:1001", bad)
    until = iso(harness, timedelta(minutes=15))
    locked = (401, f"2FA: locked after too many wrong codes until {until}")
    assert await radius.check("tg:1001", bad) == locked
    assert await radius.check("tg:1001", code_for(harness, secret)) == locked


async def test_a_hard_lock_is_401_and_sends_to_support(radius: Radius) -> None:
    harness = radius.harness
    await enrol(harness.user())
    now = harness.clock.now()
    db = harness.app.bot_data["services"].db
    await db.run(
        lambda tx: tx.security.save(
            AccountSecurity("tg:1001", consecutive_failures=100, hard_locked_at=now), now
        )
    )
    status, message = await radius.check("tg:1001", "123456")
    assert (status, message) == (401, "2FA: locked after too many wrong codes: contact support")


async def test_an_account_without_2fa_is_401_not_set_up(radius: Radius) -> None:
    assert await radius.check("nobody@example.com", "123456") == (
        401,
        "2FA is not set up for this account: set it up in Telegram first",
    )


async def test_a_deactivation_is_200_with_until_when(radius: Radius) -> None:
    harness = radius.harness
    await enrol(harness.user())
    until = harness.clock.now() + timedelta(hours=24)
    db = harness.app.bot_data["services"].db
    await db.run(
        lambda tx: tx.security.save(
            AccountSecurity("tg:1001", deactivated_until=until), harness.clock.now()
        )
    )
    status, message = await radius.check("tg:1001", "000000")
    assert status == 200
    assert message == (
        f"2FA is deactivated by support until {iso(harness, timedelta(hours=24))}: "
        "login with the password alone"
    )


async def press_when_asked(harness: Harness, label: str) -> str:
    """Wait for the approval message in Ann's chat (the job sends it), press ``label``;
    the message's text once it shows the outcome."""
    user = harness.user()
    for _ in range(100):
        await harness.run_job("challenges")
        message = harness.state.last_message(user.chat_id)
        if message is not None and label in dict(message.buttons):
            await user.press(message, label)
            return user.last().shown_text
        await asyncio.sleep(0.05)
    raise AssertionError("no approval message with " + label)


@pytest.mark.parametrize("password", ["", "push", "PUSH", " push "])
async def test_an_empty_password_or_push_is_accepted_by_a_tap_in_the_chat(
    radius: Radius, password: str
) -> None:
    harness = radius.harness
    await enrol(harness.user())
    asking = asyncio.create_task(radius.check("tg:1001", password))
    shown = await press_when_asked(harness, "Approve")
    assert "Approved" in shown
    assert await asyncio.wait_for(asking, 5) == (200, "2FA: approved in Telegram")
    assert await radius.failures("tg:1001") == 0


async def test_this_wasnt_me_is_a_reject(radius: Radius) -> None:
    harness = radius.harness
    await enrol(harness.user())
    asking = asyncio.create_task(radius.check("tg:1001", "push"))
    await press_when_asked(harness, "This wasn't me")
    assert await asyncio.wait_for(asking, 5) == (401, "2FA: declined in Telegram")


async def test_push_needs_the_challenges_scope(radius: Radius) -> None:
    """A RADIUS client that may only check codes cannot ask people in the chat."""
    harness = radius.harness
    await enrol(harness.user())
    services = harness.app.bot_data["services"]
    codes_only = (await services.clients.add("vpn", frozenset({Scope.VERIFY}))).token
    before = len(harness.state.messages(1001))
    status, answer = await radius.post("user=tg%3A1001&pass=push", token=codes_only)
    assert status == 401
    assert "not enabled for this RADIUS client" in answer["reply:Reply-Message"]["value"]
    await harness.run_job("challenges")
    assert len(harness.state.messages(1001)) == before  # nobody was asked


async def test_push_for_an_account_without_2fa_is_a_reject(radius: Radius) -> None:
    status, message = await radius.check("nobody@example.com", "push")
    assert status == 401 and "not set up" in message


@pytest.mark.parametrize(
    "password", ["12345", "1234567", "123 456", "123456\n", "letmein", "%{User-Name}", "١٢٣٤٥٦"]
)
async def test_what_is_no_code_is_401_and_not_counted(radius: Radius, password: str) -> None:
    harness = radius.harness
    await enrol(harness.user())
    status, message = await radius.check("tg:1001", password)
    assert status == 401 and "6-digit code" in message
    assert await radius.failures("tg:1001") == 0


@pytest.mark.parametrize(
    "user",
    [
        b"\xff\xfeanna",  # not UTF-8
        "é".encode() * 126 + b"\xc3",  # cut inside a character
        b"",
        b" anna@example.com",
        b"anna\x00",
        b"anna\nRoot: yes",
        b"x" * 257,
    ],
)
async def test_a_user_name_that_is_no_account_is_401(radius: Radius, user: bytes) -> None:
    assert await radius.check(user, "123456") == (401, "2FA: the user name is not a valid account")


async def test_a_password_that_is_not_utf8_is_401(radius: Radius) -> None:
    status, message = await radius.check("tg:1001", b"\xff123456")
    assert status == 401 and "6-digit code" in message


@pytest.mark.parametrize(
    ("body", "headers", "error"),
    [
        ('{"user": "a", "pass": "123456"}', {"Content-Type": "application/json"}, None),
        ("user=a", None, "missing_field"),
        ("pass=123456", None, "missing_field"),  # no user
        ("user=a&pass=1&pass=2", None, "invalid_form"),
        ("user=a&pass=123456&realm=x", None, "invalid_form"),
        ("user=a&pass", None, "invalid_form"),
        ("user=ä&pass=123456".encode(), None, "invalid_form"),  # not percent-encoded
        ("user=" + "%41" * 300 + "&pass=123456", None, "invalid_form"),
    ],
)
async def test_a_request_freeradius_never_sends_is_400(
    radius: Radius, body: str | bytes, headers: dict[str, str] | None, error: str | None
) -> None:
    """400: rlm_rest answers "invalid", a Reject, and logs it: a configuration mistake."""
    status, answer = await radius.post(body, headers)
    assert status == 400
    assert answer["error"] == (error or "invalid_content_type")


async def test_a_wrong_token_is_401_without_a_reply_message(radius: Radius) -> None:
    status, answer = await radius.post("user=tg%3A1001&pass=123456", token="wrong-token")
    assert status == 401 and answer["error"] == "invalid_token"
    assert "reply:Reply-Message" not in answer


async def test_a_check_is_audited_with_the_client_that_asked(radius: Radius) -> None:
    harness = radius.harness
    secret, _ = await enrol(harness.user())
    await radius.check("tg:1001", code_for(harness, secret))
    db = harness.app.bot_data["services"].db
    entries = await db.run(lambda tx: tx.audit.entries("tg:1001"))
    checks = [e for e in entries if e.action == "code_checked"]
    assert (
        checks[-1].actor == "api:API_TOKEN"
        and json.loads(checks[-1].detail)["result"] == "accepted"
    )
