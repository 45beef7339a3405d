"""End to end on SQLite: one bot process only, its health, and webhook mode.

``python -m bot`` runs as its own process against the local Bot API test server.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from demo.botapi import BotApiServer
from tests.e2e import REPLY_TIMEOUT, BotProcess, E2EUser, contains, eventually

API_TOKEN = "e2e-roles-token-0123456789abcdef-0123456789"
WEBHOOK_SECRET = "e2e-webhook-secret_0123456789abcdef"


def error_lines(process: BotProcess) -> list[str]:
    return [line for line in process.log().splitlines() if line.strip()]


async def exit_status(process: BotProcess, timeout: float = 30.0) -> int:  # noqa: ASYNC109
    assert process.proc is not None
    return await asyncio.wait_for(process.proc.wait(), timeout)


async def test_sqlite_runs_one_bot_and_no_api_role(
    server: BotApiServer, tmp_path: Path, unused_tcp_port: int
) -> None:
    bot = BotProcess(server, tmp_path, API_TOKEN=API_TOKEN, API_PORT=str(unused_tcp_port))
    await bot.start()
    try:
        await bot.health({"status": "ok", "role": "bot", "state": "active"})

        second = BotProcess(server, tmp_path, name="second")
        second.env.update(bot_env(bot))
        await second.spawn()
        assert await exit_status(second) == 2
        [line] = error_lines(second)
        assert line.startswith("error: another python -m bot already runs on sqlite:///")
        assert "twofa.sqlite3.lock" in line and "PostgreSQL" in line

        api = BotProcess(server, tmp_path, command=("api",), name="api")
        api.env.update(bot_env(bot))
        await api.spawn()
        assert await exit_status(api) == 2
        [line] = error_lines(api)
        assert line.startswith("error: python -m bot api needs PostgreSQL")
        # The refused processes left the running bot alone.
        await bot.health({"state": "active"})
    finally:
        assert await bot.terminate() == 0


def bot_env(bot: BotProcess) -> dict[str, str]:
    """The settings of ``bot`` (same database, same key) for another process."""
    names = ("DATABASE_URL", "SECRETS_KEY", "API_TOKEN", "API_PORT")
    return {name: bot.env[name] for name in names if name in bot.env}


async def test_webhook_mode_takes_updates_with_the_secret_only(
    server: BotApiServer, tmp_path: Path, unused_tcp_port_factory: object
) -> None:
    [api_port, webhook_port] = [unused_tcp_port_factory() for _ in range(2)]  # type: ignore[operator]
    url = f"http://127.0.0.1:{webhook_port}/telegram/webhook"
    bot = BotProcess(
        server,
        tmp_path,
        API_TOKEN=API_TOKEN,
        API_PORT=str(api_port),
        TELEGRAM_WEBHOOK_URL=url,
        TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
        WEBHOOK_PORT=str(webhook_port),
    )
    await bot.start()
    try:
        hook = server.state.webhook
        assert hook is not None and (hook.url, hook.secret_token) == (url, WEBHOOK_SECRET)
        assert hook.allowed_updates == ["message", "callback_query"]

        # Telegram's delivery carries the secret: the bot answers.
        user = E2EUser(server, 7301, "Wanda")
        await user.send("/start", contains("/enroll"))
        assert not server.state.pending_updates()

        # The same kind of update without the secret, or with a wrong one, is refused.
        server.state.queue_updates = False  # made here, posted by hand below
        forged = server.state.send_text(7301, "/status")
        server.state.queue_updates = True
        assert await server.post_to_webhook(forged, None) == 403
        assert await server.post_to_webhook(forged, "not-the-secret") == 403
        # A later real update is answered, and nothing answered the forged ones.
        answers_before = len(server.state.messages(7301))
        await user.send("/help", contains("/enroll"))
        assert len(server.state.messages(7301)) == answers_before + 1
        assert not [c for c in server.state.calls if c[0] == "getUpdates"]
    finally:
        assert await bot.terminate() == 0
    assert WEBHOOK_SECRET not in bot.log()
    # Only a running bot listens on the webhook port.
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.post(url, json={})


def webhook_bot(server: BotApiServer, tmp_path: Path, port: int) -> BotProcess:
    return BotProcess(
        server,
        tmp_path,
        TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram/webhook",
        TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
        WEBHOOK_PORT=str(port),
    )


async def test_a_webhook_update_posted_again_is_answered_once(
    server: BotApiServer, tmp_path: Path, unused_tcp_port: int
) -> None:
    bot = webhook_bot(server, tmp_path, unused_tcp_port)
    await bot.start()
    state = server.state
    user = E2EUser(server, 7302, "Xena")
    try:
        await user.send("/language", contains("Which language"))  # the webhook listens
        # The same update posted twice (Telegram retrying a delivery whose answer it
        # missed, the proxy trying the other host, a replay) is answered once.
        state.queue_updates = False
        update = state.send_text(7302, "/help")
        state.queue_updates = True
        assert await server.post_to_webhook(update, WEBHOOK_SECRET) == 200
        await state.wait_for_message(7302, contains("/enroll"), timeout=REPLY_TIMEOUT)
        assert await server.post_to_webhook(update, WEBHOOK_SECRET) == 200
        await user.send("/language", contains("Which language"))  # after the repeat's turn
        answers = [m.content[:20] for m in state.messages(7302)]
        assert len(answers) == 3, answers
    finally:
        assert await bot.terminate() == 0


async def test_a_webhook_update_acknowledged_before_a_crash_is_answered_after_it(
    server: BotApiServer, tmp_path: Path, unused_tcp_port: int
) -> None:
    bot = webhook_bot(server, tmp_path, unused_tcp_port)
    await bot.start()
    state = server.state
    user = E2EUser(server, 7303, "Yuri")
    try:
        await user.send("/language", contains("Which language"))
        # Telegram hears 200 for an update, and the bot dies while answering it (Telegram
        # holds the answer back for a minute): the next start answers it.
        state.fail_next("sendMessage", 429, retry_after=60)
        sent_before = len([c for c in state.calls if c[0] == "sendMessage"])
        state.send_text(7303, "/help")
        await state.wait_for_calls("sendMessage", sent_before + 1, timeout=REPLY_TIMEOUT)
        assert not state.pending_updates()  # acknowledged: Telegram will not send it again
        await bot.kill()
        await bot.start()
        await state.wait_for_message(7303, contains("/enroll"), timeout=REPLY_TIMEOUT)
        assert len(state.messages(7303)) == 2
    finally:
        assert await bot.terminate() == 0


async def test_a_polled_update_confirmed_before_a_crash_is_answered_after_it(
    server: BotApiServer, bot: BotProcess
) -> None:
    """Long polling confirms what it fetched with its next getUpdates, before the answer
    is sent: the update is stored first, so a bot killed meanwhile answers it at the next
    start (or the standby does, on taking over)."""
    state = server.state
    user = E2EUser(server, 7304, "Zoe")
    await user.send("/language", contains("Which language"))
    state.fail_next("sendMessage", 429, retry_after=60)
    sent_before = len([c for c in state.calls if c[0] == "sendMessage"])
    state.send_text(7304, "/help")
    await state.wait_for_calls("sendMessage", sent_before + 1, timeout=REPLY_TIMEOUT)
    await eventually(lambda: not state.pending_updates())  # confirmed by the next poll
    await bot.kill()
    await bot.start()
    await state.wait_for_message(7304, contains("/enroll"), timeout=REPLY_TIMEOUT)
    assert len(state.messages(7304)) == 2


async def test_a_webhook_port_in_use_stops_the_start_with_one_line(
    server: BotApiServer, tmp_path: Path
) -> None:
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    try:
        bot = BotProcess(
            server,
            tmp_path,
            TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
            WEBHOOK_PORT=str(port),
        )
        await bot.spawn()
        assert await exit_status(bot) == 2
    finally:
        blocker.close()
        await blocker.wait_closed()
    lines = [line for line in bot.log().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "WEBHOOK_HOST/WEBHOOK_PORT" in lines[0], bot.log()
    assert "Traceback" not in bot.log()
