"""The demo's parts without a browser: the stand-in's guards and its chat-window API, the
demo's authenticator, the proxy to the bot's HTTP API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from demo.authenticator import Authenticator
from demo.botapi import BotApiServer, BotApiState
from demo.web import DemoPage, DemoSetup, GroupChat
from tests.helpers import app_code

TOKEN = "123456:DEMO-TEST-TOKEN-abcdefghijklmnop"
API_TOKEN = "demo-test-api-token-0123456789abcdef"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


async def bot_says(state: BotApiState, chat_id: int, text: str, **params: str) -> int:
    status, body = await state.call(
        "sendMessage", {"chat_id": str(chat_id), "text": text, "parse_mode": "HTML", **params}
    )
    assert status == 200, body
    message_id: int = body["result"]["message_id"]
    return message_id


# -------------------------------------------------------------------------- the stand-in


@pytest.mark.parametrize(
    "token",
    [
        "7312345678:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0",  # BotFather's shape
        "123456789:AAE-abcdefghijklmnopqrstuvwxyz01234",
    ],
)
async def test_the_stand_in_refuses_a_real_looking_token(token: str) -> None:
    server = BotApiServer(BotApiState(token=token))
    with pytest.raises(ValueError, match="real bot token"):
        await server.start()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.org"])  # noqa: S104
async def test_the_stand_in_listens_on_the_loopback_only(host: str) -> None:
    server = BotApiServer(BotApiState(token=TOKEN))
    with pytest.raises(ValueError, match="loopback only"):
        await server.start(host)


async def test_a_made_up_token_on_the_loopback_starts() -> None:
    async with BotApiServer(BotApiState(token=TOKEN)) as server:
        assert server.origin.startswith("http://127.0.0.1:")


@pytest.fixture
async def stand_in() -> AsyncIterator[tuple[BotApiServer, aiohttp.ClientSession]]:
    async with BotApiServer(BotApiState(token=TOKEN)) as server, aiohttp.ClientSession() as http:
        yield server, http


async def control(http: aiohttp.ClientSession, server: BotApiServer, name: str, **body: Any) -> Any:
    async with http.post(f"{server.control_url}/{name}", json=body) as response:
        answer = await response.json()
        assert answer["ok"], answer
        return answer["result"]


async def test_a_chat_window_waits_for_sends_edits_and_deletions(
    stand_in: tuple[BotApiServer, aiohttp.ClientSession],
) -> None:
    server, http = stand_in
    state = server.state
    state.user(41, "Anna")
    state.send_text(41, "/enroll")
    before = await control(http, server, "wait_for_change", after=0, timeout=0.1)

    waiting = asyncio.ensure_future(
        control(http, server, "wait_for_change", after=before, timeout=10)
    )
    await asyncio.sleep(0.05)
    assert not waiting.done()
    message_id = await bot_says(state, 41, "<b>Step 1</b>", protect_content="true")
    after_send = await waiting
    assert after_send > before

    history = await control(http, server, "history", chat_id=41)
    shown = [(m["from_bot"], m["text"]) for m in history["messages"]]
    assert shown == [(False, "/enroll"), (True, "Step 1")]
    assert history["messages"][1]["entities"] == [{"type": "bold", "offset": 0, "length": 6}]
    assert history["messages"][1]["protect_content"] is True

    status, _ = await state.call("deleteMessage", {"chat_id": "41", "message_id": str(message_id)})
    assert status == 200
    after_delete = await control(http, server, "wait_for_change", after=after_send, timeout=5)
    assert after_delete > after_send
    history = await control(http, server, "history", chat_id=41)
    assert [m["text"] for m in history["messages"]] == ["/enroll"]


async def test_the_chat_list_shows_each_chat_with_its_latest_message(
    stand_in: tuple[BotApiServer, aiohttp.ClientSession],
) -> None:
    server, http = stand_in
    server.state.user(41, "Anna", language_code="de")
    server.state.group(-1001, "Support desk")
    await bot_says(server.state, -1001, "Request #1")
    chats = {chat["id"]: chat for chat in await control(http, server, "chats")}
    assert chats[41]["user"]["language_code"] == "de"
    assert chats[-1001]["title"] == "Support desk"
    assert chats[-1001]["last"] == {"message_id": 1, "from_bot": True, "text": "Request #1"}


async def test_a_button_answer_is_in_the_chat_history(
    stand_in: tuple[BotApiServer, aiohttp.ClientSession],
) -> None:
    server, http = stand_in
    state = server.state
    state.user(41, "Anna")
    state.send_text(41, "/start")
    markup = '{"inline_keyboard": [[{"text": "Go", "callback_data": "v1:go"}]]}'
    message_id = await bot_says(state, 41, "Press", reply_markup=markup)
    update = await control(
        http, server, "press_button", user_id=41, message_id=message_id, callback_data="v1:go"
    )
    query_id = update["callback_query"]["id"]
    await state.call("answerCallbackQuery", {"callback_query_id": query_id, "text": "Gone"})
    history = await control(http, server, "history", chat_id=41)
    assert [(a["query_id"], a["text"]) for a in history["callback_answers"]] == [(query_id, "Gone")]


# ---------------------------------------------------------------------- the authenticator


async def test_the_authenticator_takes_the_key_a_user_was_shown_and_keeps_it() -> None:
    state = BotApiState(token=TOKEN)
    state.user(41, "Anna")
    state.user(42, "Ben")
    state.send_text(41, "/enroll")
    state.send_text(42, "/enroll")
    grouped = " ".join(SECRET[i : i + 4] for i in range(0, len(SECRET), 4))
    key_message = await bot_says(
        state,
        41,
        f"<b>Schlüssel für die Eingabe von Hand</b>\n<code>{grouped}</code>\n\n"
        "Konto: <code>anna@example.org</code>",
    )
    authenticator = Authenticator(state)
    [entry] = authenticator.entries(41)
    assert (entry.account, entry.secret) == ("anna@example.org", SECRET)
    assert entry.code(1_800_000_000) == app_code(SECRET, 1_800_000_000)
    assert authenticator.entries(42) == []  # Ben's app has nothing of Anna's

    await state.call("deleteMessage", {"chat_id": "41", "message_id": str(key_message)})
    assert authenticator.entries(41) == [entry]  # the chat lost the key, the app did not


# ----------------------------------------------------------------------------- the proxy


async def test_the_proxy_adds_the_api_token_and_passes_the_answer_on(
    unused_tcp_port: int,
) -> None:
    seen: list[tuple[str, str, Any]] = []

    async def verify(request: web.Request) -> web.Response:
        seen.append((request.path, request.headers["Authorization"], await request.json()))
        return web.json_response({"result": "rejected", "tries_left": 4})

    api = web.Application()
    api.router.add_post("/v1/verify", verify)
    runner = web.AppRunner(api)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    state = BotApiState(token=TOKEN)
    setup = DemoSetup(
        "twofa_desk_demo_bot",
        f"http://127.0.0.1:{unused_tcp_port}",
        API_TOKEN,
        (GroupChat(-1001, "Support desk", (7001,), "support"),),
    )
    page = DemoPage(state, setup)
    try:
        async with (
            BotApiServer(state, setup=page.install) as server,
            aiohttp.ClientSession() as http,
        ):
            url = f"{server.origin}/demo/api/v1/verify"
            async with http.post(url, json={"account": "a", "code": "123456"}) as response:
                assert response.status == 200
                assert await response.json() == {"result": "rejected", "tries_left": 4}
            async with http.get(f"{server.origin}/demo/api/../_control/stats") as response:
                assert response.status == 404
            async with http.get(f"{server.origin}/demo/setup") as response:
                body = await response.json()
            assert API_TOKEN not in str(body)
            assert body["groups"][0]["members"] == [7001]
            async with http.get(server.origin) as response:
                assert "2FA Desk demo" in await response.text()
    finally:
        await runner.cleanup()
    assert seen == [("/v1/verify", f"Bearer {API_TOKEN}", {"account": "a", "code": "123456"})]


async def test_the_panel_offers_challenges_and_the_proxy_passes_long_polls_and_deletes_on(
    unused_tcp_port: int,
) -> None:
    seen: list[tuple[str, str, dict[str, str]]] = []

    async def challenge(request: web.Request) -> web.Response:
        seen.append((request.method, request.path, dict(request.query)))
        status = "cancelled" if request.method == "DELETE" else "pending"
        return web.json_response({"id": request.match_info["id"], "status": status})

    api = web.Application()
    api.router.add_get("/v1/challenges/{id}", challenge)
    api.router.add_delete("/v1/challenges/{id}", challenge)
    runner = web.AppRunner(api)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    state = BotApiState(token=TOKEN)
    setup = DemoSetup("twofa_desk_demo_bot", f"http://127.0.0.1:{unused_tcp_port}", API_TOKEN, ())
    page = DemoPage(state, setup)
    try:
        async with (
            BotApiServer(state, setup=page.install) as server,
            aiohttp.ClientSession() as http,
        ):
            async with http.get(f"{server.origin}/demo/setup") as response:
                assert "challenges" in (await response.json())["api_calls"]
            url = f"{server.origin}/demo/api/v1/challenges/k3v"
            async with http.get(url, params={"wait": "1"}) as response:
                assert await response.json() == {"id": "k3v", "status": "pending"}
            async with http.delete(url) as response:
                assert await response.json() == {"id": "k3v", "status": "cancelled"}
    finally:
        await runner.cleanup()
    assert seen == [
        ("GET", "/v1/challenges/k3v", {"wait": "1"}),
        ("DELETE", "/v1/challenges/k3v", {}),
    ]
