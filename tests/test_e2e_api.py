"""The HTTP API served by ``python -m bot`` itself, next to the bot, in one process."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from demo.botapi import BotApiServer
from tests.e2e import BotProcess, E2EUser, contains, has_photo
from tests.helpers import app_code, decode_qr, parse_key_uri

API_TOKEN = "e2e-api-token-0123456789abcdef-0123456789"


async def test_login_system_mints_a_link_and_verifies_codes(
    server: BotApiServer, tmp_path: Path, unused_tcp_port: int
) -> None:
    bot = BotProcess(server, tmp_path, API_TOKEN=API_TOKEN, API_PORT=str(unused_tcp_port))
    await bot.start()
    base = f"http://127.0.0.1:{unused_tcp_port}"
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as r:
                assert r.status == 200
            async with http.post(
                f"{base}/v1/enrollment-links", json={"account": "anna@example.com"}, headers=auth
            ) as r:
                assert r.status == 201
                token = (await r.json())["url"].split("start=")[1]

            user = E2EUser(server, 6001, "Anna")
            photo = await user.send(f"/start {token}", has_photo)
            secret = parse_key_uri(decode_qr(await user.download_photo(photo)))["secret"]
            await user.send(app_code(secret), contains("Code confirmed"))
            summary = await user.send("Anna's phone", contains("Ready to activate"))
            await user.press(summary, "Complete activation", contains("2FA is active"))

            # The confirmation code is spent; the app's next code is within the window.
            body = {"account": "anna@example.com", "code": app_code(secret, time.time() + 30)}
            async with http.post(f"{base}/v1/verify", json=body, headers=auth) as r:
                assert (await r.json())["result"] == "accepted"
            async with http.post(f"{base}/v1/verify", json=body, headers=auth) as r:
                assert (await r.json())["result"] == "rejected"  # replayed
            async with http.post(f"{base}/v1/verify", json=body) as r:
                assert r.status == 401
    finally:
        assert await bot.terminate() == 0
    # SIGTERM stopped the API with the bot.
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(f"{base}/healthz")
    assert API_TOKEN not in bot.log() and secret not in bot.log()


async def test_a_busy_api_port_stops_the_start_with_one_line(
    server: BotApiServer, tmp_path: Path
) -> None:
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    try:
        bot = BotProcess(server, tmp_path, API_TOKEN=API_TOKEN, API_PORT=str(port))
        await bot.spawn()
        assert bot.proc is not None
        assert await asyncio.wait_for(bot.proc.wait(), 20) == 2
    finally:
        blocker.close()
        await blocker.wait_closed()
    lines = [line for line in bot.log().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "API_HOST/API_PORT" in lines[0]
    assert "Traceback" not in bot.log()
