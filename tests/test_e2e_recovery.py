"""End to end: a user loses the phone, recovers with a recovery code (no agent), enrols a
new device, and the login system accepts its codes."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp

from demo.botapi import BotApiServer
from tests.e2e import BotProcess, E2EUser, contains, enrol
from tests.helpers import CODE, app_code

API_TOKEN = "e2e-recovery-token-0123456789-0123456789"


async def test_recover_with_a_code(
    server: BotApiServer, tmp_path: Path, unused_tcp_port: int
) -> None:
    bot = BotProcess(server, tmp_path, API_TOKEN=API_TOKEN, API_PORT=str(unused_tcp_port))
    await bot.start()
    try:
        user = E2EUser(server, 6201, "Ann")
        await enrol(user, "Old phone")
        shown = await server.state.wait_for_message(
            6201, contains("Your recovery codes"), timeout=20, after_revision=0
        )
        codes = CODE.findall(shown.content)
        assert len(codes) == 10

        choice = await user.send("/lost", contains("Lost access"))
        await user.press(choice, "Use a recovery code", contains("Send one of your recovery"))
        recovered = await user.send(codes[0], contains("Recovery code accepted"))
        confirm = await user.press(recovered, "Remove Old phone", contains("last device"))
        await user.press(confirm, "Yes, turn 2FA off", contains("is removed"))
        new_secret = await enrol(user, "New phone", start="/enroll")

        async with aiohttp.ClientSession() as http:
            body = {"account": "tg:6201", "code": app_code(new_secret, time.time() + 30)}
            async with http.post(
                f"http://127.0.0.1:{unused_tcp_port}/v1/verify",
                json=body,
                headers={"Authorization": f"Bearer {API_TOKEN}"},
            ) as response:
                assert (await response.json())["result"] == "accepted"
            body = {"account": "tg:6201", "code": codes[1]}  # voided with the old device
            async with http.post(
                f"http://127.0.0.1:{unused_tcp_port}/v1/verify",
                json=body,
                headers={"Authorization": f"Bearer {API_TOKEN}"},
            ) as response:
                assert (await response.json())["result"] == "rejected"
    finally:
        assert await bot.terminate() == 0
    assert codes[0] not in bot.log() and codes[0].replace("-", "") not in bot.log()
