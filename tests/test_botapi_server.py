"""The Bot API simulator (demo/botapi) against the real python-telegram-bot.

Most tests run twice: over HTTP (`BotApiServer` + PTB's default HTTPXRequest) and in process
(`FakeBotApiRequest`), so both transports are proven to look like api.telegram.org to PTB.
"""

from __future__ import annotations

import asyncio
import base64
import io
import signal
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from PIL import Image
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, MessageEntity, Update
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError, RetryAfter
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    filters,
)

from demo.botapi import BotApiServer, BotApiState, FakeBotApiRequest, buttons

USER = 42
KEYBOARD = InlineKeyboardMarkup(
    [
        [InlineKeyboardButton("Add account", callback_data="add")],
        [InlineKeyboardButton("Help", callback_data="help")],
    ]
)


def png_bytes(width: int = 120, height: int = 80) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def state() -> BotApiState:
    sim = BotApiState()
    sim.user(USER, "Ann", username="ann", started=True)
    return sim


@pytest.fixture(params=["http", "in-process"])
async def ptb_bot(request: pytest.FixtureRequest, state: BotApiState) -> AsyncIterator[Bot]:
    if request.param == "http":
        async with (
            BotApiServer(state) as server,
            Bot(
                state.token, base_url=server.base_url, base_file_url=server.base_file_url
            ) as ptb_bot,
        ):
            yield ptb_bot
    else:
        async with Bot(
            state.token,
            request=FakeBotApiRequest(state),
            get_updates_request=FakeBotApiRequest(state),
        ) as ptb_bot:
            yield ptb_bot


# ------------------------------------------------------------------------------- Bot API


async def test_get_me(ptb_bot: Bot) -> None:
    me = await ptb_bot.get_me()
    assert (me.id, me.username, me.first_name, me.is_bot) == (
        123456,
        "twofa_desk_bot",
        "2FA Desk",
        True,
    )


async def test_send_message_with_keyboard_and_protect_content(
    ptb_bot: Bot, state: BotApiState
) -> None:
    sent = await ptb_bot.send_message(
        USER, "Pick <b>one</b>", parse_mode="HTML", reply_markup=KEYBOARD, protect_content=True
    )

    assert sent.text == "Pick one"
    assert sent.entities[0].type == "bold"
    assert sent.reply_markup == KEYBOARD
    assert sent.has_protected_content
    stored = state.last_message(USER)
    assert stored is not None
    assert (stored.message_id, stored.text, stored.raw_text) == (
        sent.message_id,
        "Pick one",
        "Pick <b>one</b>",
    )
    assert stored.protect_content and stored.parse_mode == "HTML"
    assert buttons(stored) == [("Add account", "add"), ("Help", "help")]
    assert ("sendMessage", stored.chat_id) == (state.calls[-1][0], USER)
    assert state.calls[-1][1]["protect_content"] == "true"


async def test_send_photo_then_download_identical_bytes(ptb_bot: Bot, state: BotApiState) -> None:
    image = png_bytes(300, 200)

    sent = await ptb_bot.send_photo(USER, image, caption="Scan me", protect_content=True)

    assert sent.caption == "Scan me"
    assert (sent.photo[-1].width, sent.photo[-1].height) == (300, 200)
    assert all(size.file_id and size.file_unique_id for size in sent.photo)
    file = await ptb_bot.get_file(sent.photo[-1].file_id)
    assert file.file_size == len(image)
    assert bytes(await file.download_as_bytearray()) == image
    stored = state.message(USER, sent.message_id)
    assert stored is not None and stored.photo == image and stored.protect_content


async def test_edit_message_text_and_not_modified(ptb_bot: Bot, state: BotApiState) -> None:
    sent = await ptb_bot.send_message(USER, "Code: 123456", reply_markup=KEYBOARD)

    edited = await ptb_bot.edit_message_text(
        "Code: <code>654321</code>",
        chat_id=USER,
        message_id=sent.message_id,
        parse_mode="HTML",
        reply_markup=KEYBOARD,
    )

    assert isinstance(edited, type(sent)) and edited.text == "Code: 654321"
    assert edited.edit_date is not None
    stored = state.message(USER, sent.message_id)
    assert stored is not None and stored.edited and stored.text == "Code: 654321"
    # Same rendered content and keyboard, even written differently: not modified.
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await ptb_bot.edit_message_text(
            "Code: `654321`",
            chat_id=USER,
            message_id=sent.message_id,
            parse_mode="MarkdownV2",
            reply_markup=KEYBOARD,
        )
    # Leaving reply_markup out removes the keyboard, as on Telegram.
    await ptb_bot.edit_message_text("Code: 654321", chat_id=USER, message_id=sent.message_id)
    assert state.message(USER, sent.message_id).reply_markup is None  # type: ignore[union-attr]
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await ptb_bot.edit_message_text("x", chat_id=USER, message_id=999)


async def test_edit_caption_and_reply_markup(ptb_bot: Bot, state: BotApiState) -> None:
    photo = await ptb_bot.send_photo(USER, png_bytes(), caption="QR", reply_markup=KEYBOARD)

    await ptb_bot.edit_message_caption(USER, photo.message_id, caption="QR (expired)")
    await ptb_bot.edit_message_reply_markup(USER, photo.message_id, reply_markup=KEYBOARD)

    stored = state.message(USER, photo.message_id)
    assert stored is not None and stored.caption == "QR (expired)"
    assert stored.reply_markup == KEYBOARD.to_dict()
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await ptb_bot.edit_message_reply_markup(USER, photo.message_id, reply_markup=KEYBOARD)
    with pytest.raises(BadRequest, match="no text in the message"):
        await ptb_bot.edit_message_text("text", chat_id=USER, message_id=photo.message_id)


async def test_delete_message_and_not_found(ptb_bot: Bot, state: BotApiState) -> None:
    sent = await ptb_bot.send_message(USER, "secret")
    typed = state.send_text(USER, "JBSWY3DPEHPK3PXP")["message"]["message_id"]

    assert await ptb_bot.delete_message(USER, sent.message_id) is True
    assert await ptb_bot.delete_message(USER, typed) is True

    assert state.messages(USER) == []
    assert [m.deleted for m in state.messages(USER, include_deleted=True)] == [True]
    assert [(m.text, m.deleted) for m in state.user_messages(USER)] == [("JBSWY3DPEHPK3PXP", True)]
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await ptb_bot.delete_message(USER, sent.message_id)


async def test_answer_callback_query_after_press_button(ptb_bot: Bot, state: BotApiState) -> None:
    sent = await ptb_bot.send_message(USER, "Menu", reply_markup=KEYBOARD)
    update = Update.de_json(state.press_button(USER, sent.message_id, "add"), ptb_bot)

    assert update.callback_query is not None
    assert update.callback_query.data == "add"
    assert update.callback_query.message.message_id == sent.message_id  # type: ignore[union-attr]
    assert await ptb_bot.answer_callback_query(update.callback_query.id, "Added", show_alert=True)
    assert state.callback_answers[update.callback_query.id] == {
        "text": "Added",
        "show_alert": True,
        "url": None,
        "cache_time": None,
    }
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await ptb_bot.answer_callback_query(update.callback_query.id)
    # Forged data is deliverable too: the bot must not trust it.
    forged = state.press_button(USER, sent.message_id, "delete:999")
    assert forged["callback_query"]["data"] == "delete:999"


async def test_get_updates_long_polling(ptb_bot: Bot, state: BotApiState) -> None:
    state.send_text(USER, "earlier")
    earlier = await ptb_bot.get_updates(timeout=0)
    offset = earlier[-1].update_id + 1
    polls_before = len(await state.wait_for_calls("getUpdates", 1))

    poll = asyncio.create_task(ptb_bot.get_updates(offset=offset, timeout=5))
    await state.wait_for_calls("getUpdates", polls_before + 1)  # the poll is now waiting
    started = time.monotonic()
    state.send_text(USER, "/start@twofa_desk_bot JBSWY3DP")
    updates = await poll

    assert time.monotonic() - started < 2
    assert len(updates) == 1
    message = updates[0].message
    assert message is not None and message.text == "/start@twofa_desk_bot JBSWY3DP"
    assert message.entities[0].type == "bot_command" and message.entities[0].length == 21
    assert message.from_user is not None and message.from_user.username == "ann"
    assert filters.COMMAND.check_update(updates[0])
    # Confirming with the next offset drops the update.
    assert await ptb_bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == ()
    assert state.pending_updates() == []


async def test_retry_after_has_no_side_effect(
    ptb_bot: Bot, state: BotApiState, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PTB warns about RetryAfter.retry_after being an int unless opted in to timedelta.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    state.fail_next("sendMessage", 429, retry_after=1)

    with pytest.raises(RetryAfter) as caught:
        await ptb_bot.send_message(USER, "hello")

    assert caught.value.retry_after.total_seconds() == 1  # type: ignore[union-attr]
    assert state.messages(USER) == []
    await ptb_bot.send_message(USER, "hello")  # only the next call failed
    assert [m.text for m in state.messages(USER)] == ["hello"]


async def test_server_errors_are_network_errors(ptb_bot: Bot, state: BotApiState) -> None:
    state.fail_next("sendMessage", 500)
    with pytest.raises(NetworkError, match="Internal Server Error") as caught:
        await ptb_bot.send_message(USER, "hello")
    assert not isinstance(caught.value, BadRequest)

    state.fail_next("*", 502, count=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await ptb_bot.send_chat_action(USER, "typing")
    await ptb_bot.send_chat_action(USER, "typing")

    assert state.messages(USER) == []
    assert state.chat_actions == [(USER, "typing")]


async def test_blocked_user_and_unknown_chat(ptb_bot: Bot, state: BotApiState) -> None:
    update = state.block(USER)
    assert update["my_chat_member"]["new_chat_member"]["status"] == "kicked"

    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await ptb_bot.send_message(USER, "hello")
    state.unblock(USER)
    await ptb_bot.send_message(USER, "hello")

    state.user(7, "Never wrote")
    for chat_id in (7, 999):
        with pytest.raises(BadRequest, match="Chat not found"):
            await ptb_bot.send_message(chat_id, "hello")


async def test_formatting_errors_like_telegram(ptb_bot: Bot) -> None:
    # PTB drops "Bad Request: " and capitalize()s the rest, hence the case-insensitive matches.
    unsupported = r'(?i)unsupported start tag "me@example.com" at byte offset 8'
    with pytest.raises(BadRequest, match=unsupported):
        await ptb_bot.send_message(USER, "Account <me@example.com>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)character '\.' is reserved"):
        await ptb_bot.send_message(USER, "Done.", parse_mode="MarkdownV2")
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        long_data = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="y" * 65)]])
        await ptb_bot.send_message(USER, "hello", reply_markup=long_data)
    with pytest.raises(BadRequest, match="Message is too long"):
        await ptb_bot.send_message(USER, "x" * 4097)
    with pytest.raises(BadRequest, match="Message text is empty"):
        await ptb_bot.send_message(USER, "<b> </b>", parse_mode="HTML")
    explicit = await ptb_bot.send_message(
        USER, "Code 123", entities=[MessageEntity(MessageEntity.CODE, 5, 3)], parse_mode="HTML"
    )
    assert explicit.entities == (MessageEntity(MessageEntity.CODE, 5, 3),)


async def test_commands_chat_and_actions(ptb_bot: Bot, state: BotApiState) -> None:
    await ptb_bot.set_my_commands([("start", "Start"), ("add", "Add an account")])
    assert [c.command for c in await ptb_bot.get_my_commands()] == ["start", "add"]
    assert await ptb_bot.get_my_commands(language_code="de") == ()
    chat = await ptb_bot.get_chat(USER)
    assert (chat.id, chat.type, chat.username) == (USER, "private", "ann")
    assert await ptb_bot.delete_my_commands()
    assert await ptb_bot.get_my_commands() == ()


async def test_user_photo_and_sticker_updates(ptb_bot: Bot, state: BotApiState) -> None:
    image = png_bytes(50, 40)
    photo_update = Update.de_json(state.send_photo_from_user(USER, image=image), ptb_bot)
    sticker_update = Update.de_json(state.send_sticker(USER), ptb_bot)

    assert photo_update.message is not None and photo_update.message.photo[-1].width == 50
    file = await photo_update.message.photo[-1].get_file()
    assert bytes(await file.download_as_bytearray()) == image
    assert sticker_update.message is not None and sticker_update.message.sticker is not None


async def test_group_messages(ptb_bot: Bot, state: BotApiState) -> None:
    state.group(-1001234, "Team")
    update = Update.de_json(
        state.send_text(USER, "/start@twofa_desk_bot", chat_id=-1001234), ptb_bot
    )

    assert update.effective_chat is not None and update.effective_chat.type == "supergroup"
    await ptb_bot.send_message(-1001234, "Please talk to me in private")
    assert state.last_message(-1001234).text == "Please talk to me in private"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- state level


async def test_wait_for_message_counts_sends_and_edits(state: BotApiState) -> None:
    await state.call("sendMessage", {"chat_id": str(USER), "text": "Step 1"}, {})
    first = await state.wait_for_message(USER, timeout=0.1)  # already there: returns at once

    waiter = asyncio.create_task(
        state.wait_for_message(USER, lambda m: "done" in m.content, after_revision=first.revision)
    )
    await asyncio.sleep(0)
    await state.call(
        "editMessageText",
        {"chat_id": str(USER), "message_id": str(first.message_id), "text": "Step 1 done"},
        {},
    )
    edited = await asyncio.wait_for(waiter, 1)

    assert edited.message_id == first.message_id and edited.edited
    with pytest.raises(TimeoutError, match="no matching bot message"):
        await state.wait_for_message(USER, after_message_id=first.message_id, timeout=0.05)


async def test_wait_for_message_defaults_to_after_the_last_user_action(
    state: BotApiState,
) -> None:
    async def reply(text: str) -> None:
        await state.call("sendMessage", {"chat_id": str(USER), "text": text}, {})

    state.send_text(USER, "/start")
    await reply("Welcome")
    assert (await state.wait_for_message(USER, timeout=0.1)).text == "Welcome"

    state.send_text(USER, "/add")
    waiter = asyncio.create_task(state.wait_for_message(USER, timeout=1))
    await asyncio.sleep(0.01)
    assert not waiter.done()  # "Welcome" predates /add
    await reply("Send the secret")
    assert (await waiter).text == "Send the secret"
    assert (await state.wait_for_message(USER, after_revision=0)).text == "Send the secret"
    older = await state.wait_for_message(USER, lambda m: m.text == "Welcome", after_revision=0)
    assert older.message_id == 2


async def test_photo_by_attach_uri_and_by_file_id(state: BotApiState) -> None:
    image = png_bytes(20, 10)
    status, body = await state.call(
        "sendPhoto",
        {"chat_id": str(USER), "photo": "attach://part1"},
        {"part1": ("qr.png", image, "image/png")},
    )
    assert status == 200 and body["result"]["photo"][-1]["width"] == 20
    file_id = body["result"]["photo"][-1]["file_id"]
    status, body = await state.call("sendPhoto", {"chat_id": str(USER), "photo": file_id}, {})
    assert status == 200 and state.last_message(USER).photo == image  # type: ignore[union-attr]
    status, body = await state.call(
        "sendPhoto", {"chat_id": str(USER)}, {"photo": ("x.png", b"not an image", "image/png")}
    )
    assert (status, body["description"]) == (400, "Bad Request: IMAGE_PROCESS_FAILED")


async def test_newer_get_updates_ends_waiting_one_with_conflict(state: BotApiState) -> None:
    first = asyncio.create_task(state.call("getUpdates", {"timeout": "5"}, {}))
    await state.wait_for_calls("getUpdates", 1)
    second = asyncio.create_task(state.call("getUpdates", {"timeout": "5"}, {}))

    status, body = await asyncio.wait_for(first, 1)
    assert status == 409 and body["description"].startswith("Conflict: terminated by other")
    state.release_pollers()
    assert await asyncio.wait_for(second, 1) == (200, {"ok": True, "result": []})


async def test_queue_updates_off_feeds_process_update(state: BotApiState) -> None:
    state.queue_updates = False
    replies: list[str] = []

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        sent = await update.effective_message.reply_text("Welcome")
        replies.append(sent.text or "")

    app = (
        Application.builder()
        .token(state.token)
        .request(FakeBotApiRequest(state))
        .updater(None)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.process_update(Update.de_json(state.send_text(USER, "/start"), app.bot))

    assert replies == ["Welcome"]
    assert state.pending_updates() == []
    assert state.last_message(USER).text == "Welcome"  # type: ignore[union-attr]


@pytest.mark.parametrize("transport", ["http", "in-process"])
async def test_application_polling_end_to_end(state: BotApiState, transport: str) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("Welcome", reply_markup=KEYBOARD)

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("OK")
        await query.edit_message_text(f"Pressed {query.data}")

    server = BotApiServer(state)
    builder = Application.builder().token(state.token)
    if transport == "http":
        await server.start()
        builder = builder.base_url(server.base_url).base_file_url(server.base_file_url)
    else:
        builder = builder.request(FakeBotApiRequest(state)).get_updates_request(
            FakeBotApiRequest(state)
        )
    app = builder.build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    try:
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, timeout=5)

            state.send_text(USER, "/start")
            menu = await state.wait_for_message(USER, lambda m: m.text == "Welcome")
            state.press_button(USER, menu.message_id, "help")
            edited = await state.wait_for_message(USER, lambda m: m.text == "Pressed help")

            await app.updater.stop()
            await app.stop()
    finally:
        await server.stop()

    assert edited.message_id == menu.message_id and edited.reply_markup is None
    assert next(iter(state.callback_answers.values()))["text"] == "OK"
    assert state.pending_updates() == []


# ------------------------------------------------------------------------ HTTP specifics


async def test_http_protocol_details(state: BotApiState) -> None:
    async with BotApiServer(state) as server, aiohttp.ClientSession() as http:
        url = f"{server.origin}/bot{state.token}"
        async with http.post(f"{url}/SENDMESSAGE", json={"chat_id": USER, "text": "json"}) as r:
            assert r.status == 200 and (await r.json())["result"]["text"] == "json"
        async with http.post(f"{url}/sendMessage", data={"chat_id": "42", "text": "form"}) as r:
            assert (await r.json())["result"]["chat"]["id"] == USER
        async with http.get(f"{url}/sendMessage", params={"chat_id": "42", "text": "qs"}) as r:
            assert (await r.json())["result"]["text"] == "qs"
        async with http.post(f"{url}/noSuchMethod") as r:
            assert (r.status, await r.json()) == (
                404,
                {"ok": False, "error_code": 404, "description": "Not Found"},
            )
        async with http.post(f"{server.origin}/bot1:WRONG/getMe") as r:
            assert (r.status, (await r.json())["description"]) == (401, "Unauthorized")
        async with http.get(f"{server.origin}/file/bot{state.token}/photos/nope.jpg") as r:
            assert r.status == 404
        async with http.post(f"{url}/sendMessage", data={"chat_id": "42"}) as r:
            assert (r.status, (await r.json())["description"]) == (
                400,
                "Bad Request: message text is empty",
            )
    assert [m.text for m in state.messages(USER)] == ["json", "form", "qs"]


async def test_control_api_round_trip(state: BotApiState) -> None:
    async with (
        BotApiServer(state) as server,
        aiohttp.ClientSession() as http,
        Bot(state.token, base_url=server.base_url, base_file_url=server.base_file_url) as ptb_bot,
    ):
        control = server.control_url

        async def post(name: str, **body: object) -> tuple[int, dict]:
            async with http.post(f"{control}/{name}", json=body) as response:
                return response.status, await response.json()

        async def get(name: str, **query: str) -> dict:
            async with http.get(f"{control}/{name}", params=query) as response:
                assert response.status == 200
                return await response.json()

        status, sent = await post("send_text", user_id=7, text="/start", first_name="Zed")
        assert status == 200 and sent["result"]["message"]["from"]["first_name"] == "Zed"
        updates = await ptb_bot.get_updates(timeout=1)
        assert updates[-1].message.text == "/start"  # type: ignore[union-attr]

        waiter = asyncio.create_task(
            post("wait_for_message", chat_id=7, after_message_id=1, timeout=5)
        )
        reply = await ptb_bot.send_message(7, "Welcome", reply_markup=KEYBOARD)
        status, waited = await waiter
        assert status == 200 and waited["result"]["message_id"] == reply.message_id
        assert waited["result"]["buttons"] == [["Add account", "add"], ["Help", "help"]]

        # An edit is an event too, selected with after_revision.
        waiter = asyncio.create_task(
            post("wait_for_message", chat_id=7, after_revision=waited["result"]["revision"])
        )
        await ptb_bot.edit_message_text("Edited", chat_id=7, message_id=reply.message_id)
        status, waited = await waiter
        assert (status, waited["result"]["text"], waited["result"]["edited"]) == (
            200,
            "Edited",
            True,
        )

        await ptb_bot.send_photo(7, png_bytes(), caption="QR")
        listed = (await get("messages", chat_id="7"))["result"]
        assert [m["text"] or m["caption"] for m in listed] == ["Edited", "QR"]
        assert base64.b64decode(listed[1]["photo"]) == png_bytes()

        status, pressed = await post(
            "press_button", user_id=7, message_id=reply.message_id, callback_data="x"
        )
        query_id = pressed["result"]["callback_query"]["id"]
        await ptb_bot.answer_callback_query(query_id, "Hi")
        assert (await get("callback_answers"))["result"][query_id]["text"] == "Hi"

        assert (await post("fail_next", method="sendMessage", status=500))[0] == 200
        with pytest.raises(NetworkError):
            await ptb_bot.send_message(7, "lost")
        calls = (await get("calls", method="sendMessage"))["result"]
        assert [c["params"]["text"] for c in calls] == ["Welcome", "lost"]
        assert (await get("stats"))["result"]["bot_messages"] == 2

        status, timed_out = await post(
            "wait_for_message", chat_id=7, after_revision=99, timeout=0.1
        )
        assert status == 408 and timed_out["ok"] is False
        status, bad = await post("press_button", user_id=7, message_id=999, callback_data="x")
        assert status == 400 and "no bot message 999" in bad["description"]
        assert (await post("send_sticker", user_id=7))[0] == 200


async def test_server_runs_standalone() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "demo.botapi",
        "--port",
        "0",
        "--token",
        "999:STANDALONE",
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode().strip()
        assert line.startswith("http://127.0.0.1:") and line.endswith("/bot")
        async with Bot("999:STANDALONE", base_url=line) as ptb_bot:
            assert ptb_bot.username == "twofa_desk_bot" and ptb_bot.id == 999
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0


async def test_conflict_surfaces_in_ptb(state: BotApiState) -> None:
    async with Bot(
        state.token, request=FakeBotApiRequest(state), get_updates_request=FakeBotApiRequest(state)
    ) as ptb_bot:
        poll = asyncio.create_task(ptb_bot.get_updates(timeout=5))
        await state.wait_for_calls("getUpdates", 1)
        await state.call("getUpdates", {"timeout": "0"}, {})
        with pytest.raises(Conflict):
            await poll
