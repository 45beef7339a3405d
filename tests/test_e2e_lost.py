"""End to end: a user files a deactivation request, a non-agent presses Approve, an agent
approves, and the login system's API then answers ``deactivated``."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from demo.botapi import BotApiServer
from tests.e2e import (
    REPLY_TIMEOUT,
    SUPPORT,
    BotProcess,
    E2EUser,
    contains,
    has_photo,
    press_in_support,
)
from tests.helpers import app_code, decode_qr, parse_key_uri

API_TOKEN = "e2e-lost-token-0123456789abcdef-0123456789"
AGENT, BYSTANDER = 9101, 9102


@pytest.fixture
def server(server: BotApiServer) -> BotApiServer:
    """The shared test server (tests/conftest.py), with the support group in it."""
    server.state.group(SUPPORT, "Support")
    return server


async def test_request_approval_and_api(
    server: BotApiServer, tmp_path: Path, unused_tcp_port: int
) -> None:
    server.state.user(AGENT, "Agnes")
    server.state.user(BYSTANDER, "Bystander")
    bot = BotProcess(
        server,
        tmp_path,
        API_TOKEN=API_TOKEN,
        API_PORT=str(unused_tcp_port),
        SUPPORT_CHAT_ID=str(SUPPORT),
        SUPPORT_AGENT_IDS=str(AGENT),
    )
    await bot.start()
    try:
        user = E2EUser(server, 6101, "Ann")
        photo = await user.send("/enroll", has_photo)
        secret = parse_key_uri(decode_qr(await user.download_photo(photo)))["secret"]
        await user.send(app_code(secret), contains("Code confirmed"))
        summary = await user.send("Phone", contains("Ready to activate"))
        await user.press(summary, "Complete activation", contains("2FA is active"))

        choice = await user.send("/lost", contains("Lost access"))
        await user.press(choice, "Ask support", contains("Support can turn 2FA off"))
        preview = await user.send("Phone stolen yesterday", contains("Send it?"))
        await user.press(preview, "Send to support", contains("is with support"))
        posted = await server.state.wait_for_message(
            SUPPORT, contains("Deactivation request #1"), timeout=REPLY_TIMEOUT, after_revision=0
        )
        assert "Phone stolen yesterday" in posted.content

        toast = await press_in_support(server, BYSTANDER, posted, "Approve")
        assert toast == "Only support agents can decide."
        assert "Approved" not in server.state.current(posted).content

        await press_in_support(server, AGENT, posted, "Approve")
        choices = await server.state.wait_for_message(
            SUPPORT, contains("for how long"), timeout=REPLY_TIMEOUT, after_revision=0
        )
        await press_in_support(server, AGENT, choices, "24 h")
        told = await server.state.wait_for_message(
            6101, contains("approved request #1"), timeout=REPLY_TIMEOUT, after_revision=0
        )
        assert "password alone" in told.content

        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://127.0.0.1:{unused_tcp_port}/v1/verify",
                json={"account": "tg:6101", "code": app_code(secret)},
                headers={"Authorization": f"Bearer {API_TOKEN}"},
            ) as response,
        ):
            body = await response.json()
        assert body["result"] == "deactivated" and body["until"].endswith("Z")
    finally:
        assert await bot.terminate() == 0
