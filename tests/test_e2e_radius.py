"""End to end, RADIUS: a VPN (radclient) asks FreeRADIUS, which asks ``python -m bot``.

One real ``python -m bot`` (API on) and one real ``freeradius -f`` with the shipped
deploy/freeradius files serve the whole module. Users enrol through the chat, as in the
other end-to-end tests; the VPN sends the account id as User-Name and the code as
User-Password.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from demo.botapi import BotApiServer
from tests.e2e import SUPPORT, BotProcess, E2EUser, contains, enrol, local_bot_api, press_in_support
from tests.helpers import CODE, app_code
from tests.radius import (
    FreeRadius,
    Reply,
    build_raddb,
    missing_programs,
    radclient,
    send_raw,
)

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    # One process runs the whole module, so its programs start once (Makefile).
    pytest.mark.xdist_group("radius"),
    pytest.mark.skipif(
        bool(missing_programs()),
        reason=f"FreeRADIUS is not installed ({', '.join(missing_programs())}): "
        "apt-get install freeradius freeradius-rest freeradius-utils (.ci/run does)",
    ),
]

API_TOKEN = "e2e-radius-token-0123456789abcdef-0123456789"
AGENT = 9701


@dataclass
class Deployment:
    server: BotApiServer
    bot: BotProcess
    radius: FreeRadius
    workdir: Path

    async def ask(self, user: str, password: str) -> Reply:
        return await radclient(self.radius.port, user, password)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def deployment(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Deployment]:
    workdir = tmp_path_factory.mktemp("radius")
    api_port = _free_tcp_port()
    async with local_bot_api() as server:
        server.state.group(SUPPORT, "Support")
        server.state.user(AGENT, "Agnes")
        bot = BotProcess(
            server,
            workdir,
            API_TOKEN=API_TOKEN,
            API_PORT=str(api_port),
            SUPPORT_CHAT_ID=str(SUPPORT),
            SUPPORT_AGENT_IDS=str(AGENT),
        )
        await bot.start()
        raddb = build_raddb(workdir / "raddb")
        radius = FreeRadius(
            raddb, f"http://127.0.0.1:{api_port}", API_TOKEN, workdir / "radiusd.log"
        )
        try:
            await radius.start()
            yield Deployment(server, bot, radius, workdir)
        finally:
            await radius.stop()
            if bot.proc is not None and bot.proc.returncode is None:
                await bot.terminate()
    # Never a code or the token in either log; never an API error behind a Reject.
    assert API_TOKEN not in bot.log()
    assert "API error" not in bot.log() and "Traceback" not in bot.log()


def _free_tcp_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_a_correct_code_is_accepted_once(deployment: Deployment) -> None:
    user = E2EUser(deployment.server, 7001, "Ann")
    secret = await enrol(user, "Phone")
    code = app_code(secret, time.time() + 30)  # the enrolment spent the current step

    assert await deployment.ask("tg:7001", code) == Reply(True, "2FA: code accepted")
    replayed = await deployment.ask("tg:7001", code)
    assert replayed.accept is False
    assert replayed.message == "2FA: wrong or already used code (4 tries left before a lock)"


async def test_a_wrong_code_is_rejected(deployment: Deployment) -> None:
    user = E2EUser(deployment.server, 7002, "Ben")
    secret = await enrol(user, "Phone")
    wrong = f"{(int(app_code(secret)) + 500_000) % 1_000_000:06d}"

    reply = await deployment.ask("tg:7002", wrong)
    assert reply == Reply(False, "2FA: wrong or already used code (4 tries left before a lock)")
    # Not a code at all: refused, and not counted.
    reply = await deployment.ask("tg:7002", "letmein")
    assert reply.accept is False and "6-digit code" in (reply.message or "")


async def test_a_recovery_code_is_accepted(deployment: Deployment) -> None:
    user = E2EUser(deployment.server, 7003, "Cem")
    await enrol(user, "Phone")
    shown = await deployment.server.state.wait_for_message(
        7003, contains("Your recovery codes"), timeout=20, after_revision=0
    )
    codes = CODE.findall(shown.content)

    reply = await deployment.ask("tg:7003", codes[0])
    assert reply == Reply(True, "2FA: recovery code accepted (9 left)")
    assert (await deployment.ask("tg:7003", codes[0])).accept is False


async def test_five_wrong_codes_lock_and_the_reply_says_until_when(
    deployment: Deployment,
) -> None:
    user = E2EUser(deployment.server, 7004, "Dora")
    secret = await enrol(user, "Phone")
    wrong = f"{(int(app_code(secret)) + 500_000) % 1_000_000:06d}"
    for _ in range(4):
        assert (await deployment.ask("tg:7004", wrong)).accept is False

    locked = await deployment.ask("tg:7004", wrong)
    assert locked.accept is False and locked.message is not None
    assert locked.message.startswith("2FA: locked after too many wrong codes until 20")
    assert locked.message.endswith("Z")
    # A correct code during the lock is refused too, with the same message.
    still = await deployment.ask("tg:7004", app_code(secret, time.time() + 30))
    assert still == locked


async def test_an_account_without_2fa_is_rejected_as_not_set_up(deployment: Deployment) -> None:
    reply = await deployment.ask("nobody@example.com", "123456")
    assert reply == Reply(False, "2FA is not set up for this account: set it up in Telegram first")


async def test_a_deactivated_account_is_accepted_with_the_password_alone(
    deployment: Deployment,
) -> None:
    server = deployment.server
    user = E2EUser(server, 7005, "Eva")
    await enrol(user, "Phone")
    choice = await user.send("/lost", contains("Lost access"))
    await user.press(choice, "Ask support", contains("Support can turn 2FA off"))
    preview = await user.send("Phone fell into the lake", contains("Send it?"))
    await user.press(preview, "Send to support", contains("is with support"))
    posted = await server.state.wait_for_message(
        SUPPORT, contains("Deactivation request"), timeout=20, after_revision=0
    )
    await press_in_support(server, AGENT, posted, "Approve")
    choices = await server.state.wait_for_message(
        SUPPORT, contains("for how long"), timeout=20, after_revision=0
    )
    await press_in_support(server, AGENT, choices, "24 h")
    await server.state.wait_for_message(7005, contains("approved"), timeout=20, after_revision=0)

    reply = await deployment.ask("tg:7005", "000000")
    assert reply.accept is True and reply.message is not None
    assert reply.message.startswith("2FA is deactivated by support until 20")
    assert reply.message.endswith(": login with the password alone")


async def test_push_is_accepted_by_a_tap_in_the_chat(deployment: Deployment) -> None:
    user = E2EUser(deployment.server, 7006, "Finn")
    await enrol(user, "Phone")
    state = deployment.server.state
    # radclient leaves an empty User-Password out; a VPN may send one, or none.
    asks = [
        lambda: radclient(deployment.radius.port, "tg:7006", "push", timeout=30),
        lambda: send_raw(deployment.radius.port, b"tg:7006", b"", timeout=30),
        lambda: send_raw(deployment.radius.port, b"tg:7006", None, timeout=30),
    ]
    for ask in asks:
        asking = asyncio.ensure_future(ask())
        message = await state.wait_for_message(
            7006, lambda m: "Approve" in dict(m.buttons), timeout=20
        )
        assert "Is this you, logging in?" in message.shown_text and "RADIUS" in message.shown_text
        await user.press(message, "Approve", contains("Approved"))
        reply = await asyncio.wait_for(asking, 30)
        assert reply.accept is True and reply.message == "2FA: approved in Telegram"


async def test_push_declined_with_this_wasnt_me_is_a_reject(deployment: Deployment) -> None:
    user = E2EUser(deployment.server, 7020, "Gus")
    await enrol(user, "Phone")
    asking = asyncio.ensure_future(radclient(deployment.radius.port, "tg:7020", "push", timeout=30))
    message = await deployment.server.state.wait_for_message(
        7020, lambda m: "Approve" in dict(m.buttons), timeout=20
    )
    await user.press(message, "This wasn't me", contains("Change your password now"))
    reply = await asyncio.wait_for(asking, 30)
    assert reply.accept is False and reply.message == "2FA: declined in Telegram"


@pytest.mark.parametrize(
    ("user", "password"),
    [
        (b"\xff\xfe\x00anna", b"123456"),  # not UTF-8, a NUL inside
        ("é".encode() * 126 + b"\xc3", b"123456"),  # 253 bytes, the last character cut
        (b" anna@example.com", b"123456"),  # not a valid account id (leading space)
        (b"anna\nRoot: yes", b"123456"),  # a control character
        (b"tg:7001", b"\xff\xfe12345"),  # a password that is not UTF-8
        (b"tg:7001", b"%{User-Name}"),  # FreeRADIUS expansion syntax, sent as text
        (b"", b"123456"),  # an empty User-Name
        (None, b"123456"),  # no User-Name at all
    ],
)
async def test_bad_input_is_rejected_never_an_error(
    deployment: Deployment, user: bytes | None, password: bytes
) -> None:
    reply = await send_raw(deployment.radius.port, user, password)
    assert reply.accept is False


async def test_an_over_long_user_name_from_radclient_is_rejected(
    deployment: Deployment,
) -> None:
    # radclient cuts User-Name at 253 bytes (here inside a two-byte character).
    reply = await deployment.ask("é" * 200, "123456")
    assert reply == Reply(False, "2FA: the user name is not a valid account")


async def test_a_stopped_or_frozen_2fa_desk_is_a_reject(deployment: Deployment) -> None:
    user = E2EUser(deployment.server, 7007, "Gus")
    secret = await enrol(user, "Phone")
    bot = deployment.bot
    assert bot.proc is not None

    # Frozen: rlm_rest gives up after its timeout (3 s), FreeRADIUS answers Reject.
    bot.proc.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        frozen = await deployment.ask("tg:7007", "000000")
        assert frozen == Reply(False, None)
        assert time.monotonic() - started < 8
    finally:
        bot.proc.send_signal(signal.SIGCONT)

    # Stopped: FreeRADIUS answers Reject, never Accept, and one started now starts.
    assert await bot.terminate() == 0
    code = app_code(secret, time.time() + 30)
    assert (await deployment.ask("tg:7007", code)).accept is False
    late = FreeRadius(
        build_raddb(deployment.workdir / "raddb-late"),
        deployment.radius.env["TWOFA_DESK_URL"],
        API_TOKEN,
        deployment.workdir / "radiusd-late.log",
    )
    await late.start()
    try:
        assert (await radclient(late.port, "tg:7007", code)).accept is False

        await bot.start()
        # Back: both serve again (rlm_rest retries a failed connection after a second).
        reply = await _eventually_answered(late.port, "tg:7007", code)
        assert reply == Reply(True, "2FA: code accepted")
    finally:
        await late.stop()


async def _eventually_answered(port: int, user: str, code: str) -> Reply:
    """The first answer that is not the "2FA Desk is down" Reject (no Reply-Message)."""
    for _ in range(50):
        reply = await radclient(port, user, code)
        if reply.message is not None:
            return reply
        await asyncio.sleep(0.2)
    raise AssertionError("FreeRADIUS did not reach 2FA Desk again")
