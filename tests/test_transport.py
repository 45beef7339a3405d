"""The aiohttp transport under python-telegram-bot: the Bot API's answers become PTB's errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.telegram_transport import AiohttpRequest
from demo.botapi import BotApiServer, BotApiState, solid_png

TOKEN = "123456:TRANSPORT-TEST-abcdefghijklmnopqrstuvwxyz"


@pytest.fixture
async def server() -> AsyncIterator[BotApiServer]:
    state = BotApiState(token=TOKEN)
    state.user(7, "Ann", started=True)
    async with BotApiServer(state) as running:
        yield running


@pytest.fixture
async def ptb_bot(server: BotApiServer) -> AsyncIterator[Bot]:
    async with Bot(
        TOKEN,
        base_url=server.base_url,
        base_file_url=server.base_file_url,
        request=AiohttpRequest(connection_pool_size=4),
        get_updates_request=AiohttpRequest(),
    ) as running:
        yield running


async def test_messages_buttons_and_protected_content(ptb_bot: Bot, server: BotApiServer) -> None:
    sent = await ptb_bot.send_message(
        7,
        "<b>hello</b>",
        parse_mode="HTML",
        protect_content=True,
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="v1:x:")]]),
    )
    seen = server.state.message(7, sent.message_id)
    assert seen is not None and seen.text == "hello" and seen.protect_content
    assert seen.buttons == [("Go", "v1:x:")]


async def test_photo_upload_and_download_round_trip(ptb_bot: Bot) -> None:
    png = solid_png(40, 40)
    sent = await ptb_bot.send_photo(7, png, caption="scan me")
    file = await ptb_bot.get_file(sent.photo[-1].file_id)
    assert bytes(await file.download_as_bytearray()) == png


async def test_long_polling_returns_updates(ptb_bot: Bot, server: BotApiServer) -> None:
    async def user_writes_later() -> None:
        await asyncio.sleep(0.1)
        server.state.send_text(7, "/start")

    writer = asyncio.create_task(user_writes_later())
    updates = await ptb_bot.get_updates(timeout=5)
    await writer
    message = updates[0].message
    assert message is not None and message.text == "/start"


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, RetryAfter), (500, NetworkError), (502, NetworkError), (403, Forbidden)],
)
async def test_api_failures_become_ptb_errors(
    ptb_bot: Bot, server: BotApiServer, status: int, error: type[Exception]
) -> None:
    server.state.fail_next("sendMessage", status=status, retry_after=3)
    with pytest.raises(error):
        await ptb_bot.send_message(7, "hi")
    assert server.state.messages(7) == []  # the failed call had no effect
    await ptb_bot.send_message(7, "again")


async def test_bad_request_keeps_telegrams_reason(ptb_bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await ptb_bot.delete_message(7, 999)


async def test_slow_answer_times_out() -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_post("/bot{token}/{method}", slow)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    request = AiohttpRequest(read_timeout=0.2)
    await request.initialize()
    try:
        with pytest.raises(TimedOut):
            await request.post(f"http://127.0.0.1:{port}/bot{TOKEN}/close")
    finally:
        await request.shutdown()
        await runner.cleanup()


async def test_unreachable_server_is_a_network_error(unused_tcp_port: int) -> None:
    request = AiohttpRequest()
    await request.initialize()
    try:
        with pytest.raises(NetworkError):
            await request.post(f"http://127.0.0.1:{unused_tcp_port}/bot{TOKEN}/getMe")
    finally:
        await request.shutdown()


async def test_request_before_initialize_is_refused() -> None:
    with pytest.raises(RuntimeError, match="not initialized"):
        await AiohttpRequest().do_request("http://127.0.0.1:1/", "POST")
