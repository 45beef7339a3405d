"""End to end: a login system asks ``python -m bot`` for approval in the chat, the user
taps in the chat of the local Bot API test server, the long poll answers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest

from bench._postgres import PostgresServer
from core.crypto import generate_key
from demo.botapi import BotApiServer, SimMessage
from tests.e2e import BotProcess, E2EUser, contains, enrol, eventually

API_TOKEN = "e2e-challenges-token-0123456789abcdef-01234"
OPS = -100810


def has_buttons(label: str) -> Callable[[SimMessage], bool]:
    return lambda message: label in dict(message.buttons)


@dataclass
class LoginSystem:
    http: aiohttp.ClientSession
    base: str

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        async with self.http.request(
            method, self.base + path, json=body, headers=headers
        ) as response:
            return response.status, await response.json()


@pytest.fixture
async def running(
    server: BotApiServer, tmp_path: Path, unused_tcp_port: int
) -> AsyncIterator[tuple[BotProcess, LoginSystem]]:
    server.state.group(OPS, "Ops")
    bot = BotProcess(
        server, tmp_path, API_TOKEN=API_TOKEN, API_PORT=str(unused_tcp_port), OPS_CHAT_ID=str(OPS)
    )
    await bot.start()
    try:
        async with aiohttp.ClientSession() as http:
            yield bot, LoginSystem(http, f"http://127.0.0.1:{unused_tcp_port}")
    finally:
        assert await bot.terminate() == 0


async def test_the_right_number_lets_the_login_in_wrong_and_not_me_do_not(
    server: BotApiServer, running: tuple[BotProcess, LoginSystem]
) -> None:
    bot, login = running
    user = E2EUser(server, 6101, "Anna")
    await user.send("/start", contains("2FA Desk"))
    await enrol(user)

    # The right number: the long poll answers as the user taps.
    status, challenge = await login.call(
        "POST", "/v1/challenges", {"account": "tg:6101", "context": {"app": "VPN"}}
    )
    assert status == 201
    poll = asyncio.ensure_future(login.call("GET", f"/v1/challenges/{challenge['id']}?wait=25"))
    message = await server.state.wait_for_message(
        6101, has_buttons(challenge["number"]), timeout=20, after_revision=0
    )
    assert "App: VPN" in message.content
    tapped = time.monotonic()
    await user.press(message, challenge["number"], contains("Approved"))
    status, answer = await asyncio.wait_for(poll, 10)
    assert (status, answer["status"]) == (200, "accepted")
    assert time.monotonic() - tapped < 3

    # A wrong number: declined, and counted toward the lock.
    _, challenge = await login.call("POST", "/v1/challenges", {"account": "tg:6101"})
    message = await server.state.wait_for_message(
        6101, has_buttons(challenge["number"]), timeout=20, after_revision=0
    )
    wrong = next(label for label, _ in message.buttons[:3] if label != challenge["number"])
    await user.press(message, wrong, contains("Declined"))
    _, answer = await login.call("GET", f"/v1/challenges/{challenge['id']}?wait=5")
    assert (answer["status"], answer["reason"]) == ("declined", "wrong_number")
    _, account = await login.call("GET", "/v1/accounts/tg:6101")
    assert account["lock"]["consecutive_failures"] == 1

    # This wasn't me: declined, the ops chat warned, no new challenge for a while.
    _, challenge = await login.call(
        "POST",
        "/v1/challenges",
        {"account": "tg:6101", "context": {"app": "VPN", "ip": "198.51.100.9"}},
    )
    message = await server.state.wait_for_message(
        6101, has_buttons("This wasn't me"), timeout=20, after_revision=0
    )
    await user.press(message, "This wasn't me", contains("Change your password now"))
    _, answer = await login.call("GET", f"/v1/challenges/{challenge['id']}?wait=5")
    assert (answer["status"], answer["reason"]) == ("declined", "reported")
    alert = await server.state.wait_for_message(
        OPS, contains("This wasn't me"), timeout=20, after_revision=0
    )
    for fact in ("tg:6101", "198.51.100.9", "VPN"):
        assert fact in alert.content
    status, refused = await login.call("POST", "/v1/challenges", {"account": "tg:6101"})
    assert (status, refused["error"]) == (429, "too_many_challenges")
    assert API_TOKEN not in bot.log()


async def test_a_standby_take_over_loses_no_challenge(
    server: BotApiServer,
    tmp_path: Path,
    postgres_server: PostgresServer,
    unused_tcp_port_factory: Any,
) -> None:
    """PostgreSQL, two bots: one challenge sent by the active bot before it is SIGKILLed,
    one asked while no bot is active. After the take-over both are decided by a tap,
    each message was sent once, and the long polls on the standby's API answer."""
    ports = [unused_tcp_port_factory() for _ in range(2)]
    with postgres_server.database() as url:
        env: dict[str, Any] = {
            "DATABASE_URL": url,
            "SECRETS_KEY": generate_key(),
            "API_TOKEN": API_TOKEN,
        }
        active = BotProcess(server, tmp_path, name="active", API_PORT=str(ports[0]), **env)
        standby = BotProcess(server, tmp_path, name="standby", API_PORT=str(ports[1]), **env)
        try:
            await active.start()
            await standby.spawn()
            await standby.health({"role": "bot", "state": "standby"})
            first, second = E2EUser(server, 6201, "Olga"), E2EUser(server, 6202, "Uwe")
            for user in (first, second):
                await user.send("/start", contains("2FA Desk"))
                await enrol(user)
            async with aiohttp.ClientSession() as http:
                login = LoginSystem(http, f"http://127.0.0.1:{ports[1]}")  # the standby's API
                _, sent = await login.call("POST", "/v1/challenges", {"account": "tg:6201"})
                shown = await server.state.wait_for_message(
                    6201, has_buttons(sent["number"]), timeout=20, after_revision=0
                )
                # Once the active bot recorded the message (then a take-over does not send
                # it again; between its send and that record it would, README), it dies.
                await eventually(lambda: _shown(url, sent["id"]), timeout=10)
                await active.kill()
                _, waiting = await login.call("POST", "/v1/challenges", {"account": "tg:6202"})
                polls = [
                    asyncio.ensure_future(_poll_until_decided(login, c["id"]))
                    for c in (sent, waiting)
                ]
                await standby.health({"state": "active"}, timeout=15)
                await first.press(shown, sent["number"], contains("Approved"))
                message = await server.state.wait_for_message(
                    6202, has_buttons(waiting["number"]), timeout=20, after_revision=0
                )
                await second.press(message, waiting["number"], contains("Approved"))
                assert await asyncio.wait_for(asyncio.gather(*polls), 30) == [
                    "accepted",
                    "accepted",
                ]
        finally:
            for process in (active, standby):
                if process.proc is not None and process.proc.returncode is None:
                    await process.terminate()
    for chat in (6201, 6202):
        asked = [m for m in server.state.messages(chat) if "Is this you" in m.content]
        assert len(asked) == 1


async def _poll_until_decided(login: LoginSystem, challenge_id: str) -> str:
    while True:
        status, answer = await login.call("GET", f"/v1/challenges/{challenge_id}?wait=25")
        assert status == 200, answer
        if answer["status"] != "pending":
            return str(answer["status"])


def _shown(url: str, challenge_id: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT sent_at FROM challenges WHERE id = %s", (challenge_id,)
        ).fetchone()
    return row is not None and row[0] is not None
