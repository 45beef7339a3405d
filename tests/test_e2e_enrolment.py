"""``python -m bot`` as its own process against the local Bot API test server over HTTP."""

from __future__ import annotations

import time
from pathlib import Path

from demo.botapi import BotApiServer
from tests.e2e import TOKEN, BotProcess, E2EUser, contains, eventually, has_photo, query, scan
from tests.helpers import app_code, decode_qr, parse_key_uri


def qr_recorded(workdir: Path, user_id: int, message_id: int) -> bool:
    rows = query(
        workdir, "SELECT qr_message_id FROM pending_enrolments WHERE telegram_user_id = ?", user_id
    )
    return rows[:1] == [(message_id,)]


async def test_a_user_enrols_end_to_end(server: BotApiServer, bot: BotProcess) -> None:
    user = E2EUser(server, 5001, "Philipp")
    greeting = await user.send("/start")
    assert "two-factor authentication" in greeting.content

    photo, secret = await scan(user)
    assert photo.protect_content
    assert "upload_photo" in {action for chat, action in server.state.chat_actions if chat == 5001}
    key = await user.press(photo, "Show key", contains("manual entry"))
    assert " ".join(secret[i : i + 4] for i in range(0, 32, 4)) in key.content

    wrong = await user.send("12345")
    assert "6 digits" in wrong.content
    ask_name = await user.send(app_code(secret), contains("Code confirmed"))
    assert "name this device" in ask_name.content
    summary = await user.send("Philipp iPhone", contains("Ready to activate"))
    done = await user.press(summary, "Complete activation", contains("2FA is active"))
    assert done.message_id == summary.message_id and done.buttons == []

    await eventually(lambda: server.state.current(photo).deleted)
    assert server.state.current(key).deleted

    status = await user.send("/status")
    assert "2FA is active" in status.content and "Philipp iPhone" in status.content

    assert await bot.terminate() == 0
    log = bot.log()
    assert TOKEN not in log and secret not in log
    assert "Traceback" not in log


async def test_killing_the_bot_mid_enrolment_loses_nothing(
    server: BotApiServer, bot: BotProcess, tmp_path: Path
) -> None:
    user = E2EUser(server, 5002, "Ann")
    # A first device, so the second enrolment is "another device".
    _, first_secret = await scan(user)
    await user.send(app_code(first_secret), contains("Code confirmed"))
    summary = await user.send("Phone", contains("Ready to activate"))
    await user.press(summary, "Complete activation", contains("2FA is active"))

    # Second enrolment (after a code from the first device): killed after the QR code,
    # and again after the code.
    await user.send("/enroll", contains("already has 2FA"))
    photo = await user.send(app_code(first_secret, time.time() + 30), has_photo)
    secret = parse_key_uri(decode_qr(await user.download_photo(photo)))["secret"]
    # The photo reaches the user a moment before the bot has stored its message id
    # (it is only known from Telegram's answer); kill once that is stored.
    await eventually(lambda: qr_recorded(tmp_path, 5002, photo.message_id))
    await bot.kill()
    await bot.start()
    ask_name = await user.send(app_code(secret), contains("Code confirmed"))
    assert "name this device" in ask_name.content
    await bot.kill()
    await bot.start()
    summary = await user.send("Tablet", contains("Ready to activate"))
    await bot.kill()
    await bot.start()
    done = await user.press(summary, "Complete activation", contains("is now active"))
    assert "2 devices" in done.content
    await eventually(lambda: server.state.current(photo).deleted)

    status = await user.send("/status")
    assert "Phone" in status.content and "Tablet" in status.content
    assert await bot.terminate() == 0

    # The database file holds neither secret in the clear.
    db_files = list((tmp_path / "data").iterdir())
    blob = b"".join(path.read_bytes() for path in db_files)
    assert first_secret.encode() not in blob and secret.encode() not in blob
    actions = [row[0] for row in query(tmp_path, "SELECT action FROM audit_log ORDER BY id")]
    assert actions.count("device_activated") == 2


async def test_group_chat_refuses_and_private_chat_only(
    server: BotApiServer, bot: BotProcess
) -> None:
    server.state.user(5003, "Bo", "bo")
    server.state.group(-100555, "Team")
    server.state.send_text(5003, "/enroll@twofa_desk_bot", chat_id=-100555)
    reply = await server.state.wait_for_message(-100555, timeout=20)
    assert "private chat only" in reply.content
    assert all(m.photo is None for m in server.state.messages(-100555, include_deleted=True))


async def test_debug_logs_hold_no_token_code_or_secret(
    server: BotApiServer, tmp_path: Path
) -> None:
    process = BotProcess(server, tmp_path, LOG_LEVEL="DEBUG")
    await process.start()
    try:
        user = E2EUser(server, 5004, "Dee")
        _, secret = await scan(user)
        code = app_code(secret)
        await user.send(code, contains("Code confirmed"))
    finally:
        assert await process.terminate() == 0
    log = process.log()
    assert "DEBUG" in log  # debug logging was really on
    for forbidden in (TOKEN, secret, code, "otpauth://"):
        assert forbidden not in log
