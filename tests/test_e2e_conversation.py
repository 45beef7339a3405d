"""End to end: a flow waiting in the conversation slot survives the bot being killed.

``python -m bot`` runs as its own process against the local Bot API test server; it is
killed with SIGKILL (no goodbye, as in a crash) and started again on the same database.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from demo.botapi import BotApiServer
from tests.e2e import BotProcess, E2EUser, contains, eventually, query, scan
from tests.helpers import app_code

USER = 5101


def slot(workdir: Path) -> list[tuple[Any, ...]]:
    """The user's conversation slot: (flow, step), or nothing."""
    return query(workdir, "SELECT flow, step FROM conversations WHERE telegram_user_id = ?", USER)


def rename_grants(workdir: Path) -> list[tuple[Any, ...]]:
    """(subject, used) of each rename grant the user was given."""
    return query(
        workdir,
        "SELECT subject, used_at IS NOT NULL FROM grants"
        " WHERE telegram_user_id = ? AND kind = 'rename' ORDER BY id",
        USER,
    )


async def crash_and_restart(server: BotApiServer, bot: BotProcess) -> None:
    # The reply is sent after the change is committed; Telegram would hand an update the
    # bot never confirmed out again, so wait until the last one is confirmed, then kill.
    await eventually(lambda: not server.state.pending_updates())
    await bot.kill()
    await bot.start()


async def test_a_rename_waiting_for_its_code_survives_kills(
    server: BotApiServer, bot: BotProcess, tmp_path: Path
) -> None:
    user = E2EUser(server, USER, "Ann")
    _, secret = await scan(user)
    await user.send(app_code(secret), contains("Code confirmed"))
    summary = await user.send("Phone", contains("Ready to activate"))
    await user.press(summary, "Complete activation", contains("2FA is active"))
    [(device_id,)] = query(tmp_path, "SELECT id FROM devices WHERE revoked_at IS NULL")

    listing = await user.send("/devices", contains("Your devices"))
    assert "Phone" in listing.content
    ask_code = await user.press(listing, "Rename Phone", contains("To rename"))
    assert ask_code.content == (
        "To rename Phone, first send a current 6-digit code from any device."
    )
    assert slot(tmp_path) == [("rename", "proof")]

    await crash_and_restart(server, bot)
    assert slot(tmp_path) == [("rename", "proof")]
    # A code of the next 30-second step (still current: the window allows one step of
    # drift) so it cannot be the step the enrolment already spent.
    code = app_code(secret, time.time() + 30)
    ask_name = await user.send(code, contains("Code accepted"))
    assert "Send the new name for Phone" in ask_name.content
    # The code leaves the chat.
    [sent] = [m for m in server.state.user_messages(USER) if m.content == code]
    await eventually(lambda: sent.deleted)
    assert slot(tmp_path) == [("rename", "name")]
    assert rename_grants(tmp_path) == [(device_id, 0)]

    await crash_and_restart(server, bot)
    assert slot(tmp_path) == [("rename", "name")]
    assert rename_grants(tmp_path) == [(device_id, 0)]
    renamed = await user.send("Work phone", contains("Renamed"))
    assert renamed.content == "Renamed to Work phone."
    assert slot(tmp_path) == []
    assert rename_grants(tmp_path) == [(device_id, 1)]
    assert query(tmp_path, "SELECT name FROM devices WHERE id = ?", device_id) == [("Work phone",)]

    listing = await user.send("/devices", contains("Your devices"))
    assert "Work phone" in listing.content
    assert [label for label, _ in listing.buttons] == ["Rename Work phone", "Remove Work phone"]

    assert await bot.terminate() == 0
    assert bot.starts == 3
    assert "Traceback" not in bot.log()
    actions = [row[0] for row in query(tmp_path, "SELECT action FROM audit_log ORDER BY id")]
    assert actions.count("device_renamed") == 1
