"""``python -m bot`` in its own process, a German user end to end: the Telegram app says
``language_code="de"`` (set through the test server's control API), and the whole
enrolment reads German, the QR code decoded as an authenticator app would."""

from __future__ import annotations

from datetime import UTC, datetime

import aiohttp

from demo.botapi import BotApiServer
from tests.e2e import BotProcess, E2EUser, contains, eventually
from tests.helpers import MONTHS, app_code, decode_qr, parse_key_uri


def german_day(moment: datetime) -> str:
    return f"{moment.day}. {MONTHS['de'][moment.month - 1]} {moment.year}"


async def test_a_german_user_enrols_end_to_end(server: BotApiServer, bot: BotProcess) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.control_url}/user",
            json={"user_id": 5101, "first_name": "Jonas", "language_code": "de"},
        ) as response,
    ):
        assert response.status == 200
        assert (await response.json())["result"]["language_code"] == "de"
    user = E2EUser(server, 5101, "Jonas")

    greeting = await user.send("/start")
    assert "Zwei-Faktor-Authentisierung" in greeting.content
    assert [label for label, _ in greeting.buttons] == ["2FA einrichten", "Authenticator verloren"]

    photo = await user.send("/enroll", lambda m: m.photo is not None)
    assert "Scannen Sie diesen QR-Code" in photo.content
    assert [label for label, _ in photo.buttons] == ["Schlüssel anzeigen", "Abbrechen"]
    secret = parse_key_uri(decode_qr(await user.download_photo(photo)))["secret"]
    key = await user.press(photo, "Schlüssel anzeigen", contains("manuellen Eingabe"))
    assert " ".join(secret[i : i + 4] for i in range(0, 32, 4)) in key.content

    wrong = await user.send("12345")
    assert "Ein Code hat 6 Ziffern" in wrong.content
    ask_name = await user.send(app_code(secret), contains("Code bestätigt"))
    assert "Benennen Sie dieses Gerät" in ask_name.content
    summary = await user.send("Jonas iPhone", contains("Bereit zur Aktivierung"))
    assert [label for label, _ in summary.buttons] == ["Aktivierung abschließen", "Abbrechen"]
    done = await user.press(summary, "Aktivierung abschließen", contains("2FA ist aktiv"))
    assert done.message_id == summary.message_id and "Jonas iPhone" in done.content
    await eventually(lambda: server.state.current(photo).deleted)

    status = await user.send("/status", contains("2FA ist aktiv"))
    days = {german_day(datetime.now(UTC)), german_day(datetime.fromtimestamp(photo.date, UTC))}
    assert any(f"Jonas iPhone, hinzugefügt am {day}" in status.content for day in days)

    assert await bot.terminate() == 0
    assert "Traceback" not in bot.log()
