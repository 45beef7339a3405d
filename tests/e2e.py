"""End-to-end plumbing: the local Bot API server here, ``python -m bot`` in its own process
(bench/_support.py, shared with the benchmarks), and what a user does through them."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench._support import BOT_USERNAME as BOT_USERNAME
from bench._support import ROOT as ROOT
from bench._support import TOKEN as TOKEN
from bench._support import BotProcess as BotProcess
from bench._support import database_path as database_path
from bench._support import eventually_async as eventually_async
from bench._support import local_bot_api as local_bot_api
from demo.botapi import BotApiServer, BotApiState, SimMessage
from tests.helpers import app_code, decode_qr, parse_key_uri

Predicate = Callable[[SimMessage], bool]
REPLY_TIMEOUT = 20.0
SUPPORT = -100600  # the support group of the end-to-end tests that have one


def query(workdir: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` from that database, on a connection of its own."""
    conn = sqlite3.connect(database_path(workdir))
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


class E2EUser:
    """A Telegram user talking to the real bot process through the test server."""

    def __init__(self, server: BotApiServer, user_id: int, first_name: str = "Ann") -> None:
        self.server = server
        self.state: BotApiState = server.state
        self.user_id = user_id
        self.state.user(user_id, first_name, first_name.lower())

    async def send(self, text: str, predicate: Predicate | None = None) -> SimMessage:
        self.state.send_text(self.user_id, text)
        return await self.state.wait_for_message(self.user_id, predicate, timeout=REPLY_TIMEOUT)

    async def press(
        self, message: SimMessage, label: str, predicate: Predicate | None = None
    ) -> SimMessage:
        self.state.press_button(self.user_id, message.message_id, dict(message.buttons)[label])
        return await self.state.wait_for_message(self.user_id, predicate, timeout=REPLY_TIMEOUT)

    async def download_photo(self, message: SimMessage) -> bytes:
        """Fetch the largest size over HTTP: getFile, then the file URL, as a client would."""
        assert message.photo_sizes
        file_id = message.photo_sizes[-1]["file_id"]
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{self.server.base_url}{TOKEN}/getFile", data={"file_id": file_id}
            ) as r:
                file_path = (await r.json())["result"]["file_path"]
            async with http.get(f"{self.server.base_file_url}{TOKEN}/{file_path}") as r:
                assert r.status == 200
                return await r.read()


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ASYNC109
    """Wait until ``condition()`` holds: for effects that follow a reply (e.g. deletions)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("condition did not hold in time")
        await asyncio.sleep(0.02)


def has_photo(message: SimMessage) -> bool:
    return message.photo is not None


def contains(text: str) -> Callable[[SimMessage], bool]:
    return lambda message: text in message.content


async def scan(user: E2EUser) -> tuple[SimMessage, str]:
    """/enroll, then read the QR code as the app would: (the photo message, the secret)."""
    photo = await user.send("/enroll", has_photo)
    uri = decode_qr(await user.download_photo(photo))
    return photo, parse_key_uri(uri)["secret"]


async def enrol(user: E2EUser, name: str = "Phone", start: str = "/enroll") -> str:
    """Set up a device through the chat (``start``: /enroll or an enrolment link's /start),
    as a user with the app would: its secret."""
    photo = await user.send(start, has_photo)
    secret = parse_key_uri(decode_qr(await user.download_photo(photo)))["secret"]
    await user.send(app_code(secret), contains("Code confirmed"))
    summary = await user.send(name, contains("Ready to activate"))
    await user.press(summary, "Complete activation", contains("is active"))
    return secret


async def press_in_support(
    server: BotApiServer, user_id: int, message: SimMessage, label: str
) -> str:
    """Press a button on the support message (in SUPPORT); return the toast the presser saw."""
    update = server.state.press_button(
        user_id, message.message_id, dict(message.buttons)[label], chat_id=SUPPORT
    )
    query_id = update["callback_query"]["id"]
    await server.state.wait_for_calls("answerCallbackQuery", 1, timeout=REPLY_TIMEOUT)
    for _ in range(100):
        if query_id in server.state.callback_answers:
            return server.state.callback_answers[query_id].get("text") or ""
        await server.state.wait_for_calls(
            "answerCallbackQuery", len(server.state.callback_answers) + 1, timeout=REPLY_TIMEOUT
        )
    raise AssertionError("the press was not answered")
