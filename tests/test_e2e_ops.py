"""End to end: ``python -m bot`` delivers its alerts to the ops chat through a Bot API that
fails (5xx, then 429) and recovers; the stop alert goes out on SIGTERM; JSON logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from demo.botapi import BotApiServer
from tests.e2e import BotProcess

OPS = -100800


@pytest.fixture
def server(server: BotApiServer) -> BotApiServer:
    """The shared test server (tests/conftest.py), with the ops group in it."""
    server.state.group(OPS, "Ops")
    return server


async def test_alerts_survive_a_failing_bot_api(server: BotApiServer, tmp_path: Path) -> None:
    server.state.fail_next("sendMessage", status=502, count=1)  # the start alert fails once
    bot = BotProcess(server, tmp_path, OPS_CHAT_ID=str(OPS), LOG_FORMAT="json")
    await bot.start()
    try:
        started = await server.state.wait_for_message(
            OPS, lambda m: "Bot started" in m.content, timeout=30, after_revision=0
        )
        assert "INFO" in started.content
        server.state.fail_next("sendMessage", status=429, retry_after=1)
    finally:
        assert await bot.terminate() == 0
    texts = [m.content for m in server.state.messages(OPS)]
    assert sum("Bot started" in t for t in texts) == 1  # retried, not duplicated
    assert sum("Bot stopped" in t for t in texts) == 1  # the 429 was waited out
    lines = [line for line in bot.log().splitlines() if line.strip()]
    assert lines and all(json.loads(line)["level"] for line in lines)
