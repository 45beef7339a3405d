"""The Bot API simulator's webhook and unreachable chats, against python-telegram-bot's Bot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import BadRequest, Conflict, Forbidden

from demo.botapi import BotApiServer, BotApiState

USER, GROUP = 42, -100500
SECRET = "s3cret_token-0123"


class Receiver:
    """A webhook endpoint that records what it is sent; refuses the first ``refuse``."""

    def __init__(self, refuse: int = 0) -> None:
        self.received: list[tuple[dict[str, Any], str | None]] = []
        self.refuse = refuse
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        if self.refuse > 0:
            self.refuse -= 1
            return web.Response(status=500)
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        self.received.append((await request.json(), secret))
        self.arrived.set()
        return web.Response(text="ok")


@pytest.fixture
async def running() -> AsyncIterator[tuple[BotApiServer, Bot]]:
    state = BotApiState()
    state.user(USER, "Ann", started=True)
    state.group(GROUP, "Ops")
    async with (
        BotApiServer(state) as server,
        Bot(state.token, base_url=server.base_url, base_file_url=server.base_file_url) as bot,
    ):
        yield server, bot


async def serve(receiver: Receiver) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/hook"


async def test_updates_go_to_the_webhook_with_the_secret_and_in_order(
    running: tuple[BotApiServer, Bot],
) -> None:
    server, bot = running
    receiver = Receiver(refuse=2)  # refused twice: the update is tried again
    runner, url = await serve(receiver)
    try:
        assert await bot.set_webhook(url, secret_token=SECRET, allowed_updates=["message"])
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates(timeout=0)
        server.state.send_text(USER, "first")
        server.state.send_text(USER, "second")
        while len(receiver.received) < 2:
            receiver.arrived.clear()
            await asyncio.wait_for(receiver.arrived.wait(), 10)
        texts = [update["message"]["text"] for update, _ in receiver.received]
        assert texts == ["first", "second"]
        assert {secret for _, secret in receiver.received} == {SECRET}
        assert not server.state.pending_updates()
        info = await bot.get_webhook_info()
        assert info.url == url and info.last_error_message
        # One update outside the queue, with any header or none, for forgery tests.
        forged = {"update_id": 999, "message": receiver.received[0][0]["message"]}
        assert await server.post_to_webhook(forged, None) == 200
        assert receiver.received[-1] == (forged, None)

        with pytest.raises(BadRequest, match="unallowed characters"):
            await bot.set_webhook(url, secret_token="no spaces")
        assert await bot.delete_webhook()
        server.state.send_text(USER, "polled")
        [update] = await bot.get_updates(timeout=0)
        assert update.message is not None and update.message.text == "polled"
    finally:
        await runner.cleanup()


async def test_a_group_the_bot_was_removed_from_refuses_every_call(
    running: tuple[BotApiServer, Bot],
) -> None:
    server, bot = running
    server.state.remove_bot_from(GROUP)
    with pytest.raises(Forbidden, match="kicked"):
        await bot.send_message(GROUP, "alert")
    await bot.send_message(USER, "other chats work")
    server.state.add_bot_to(GROUP)
    await bot.send_message(GROUP, "alert")
    assert [m.content for m in server.state.messages(GROUP)] == ["alert"]
