"""End to end, PAM: pamtester, under pam_wrapper, runs the shipped deploy/pam/twofa_desk.py
in Debian's pam_python.so against a real ``python -m bot``.

pam_wrapper (LD_PRELOAD) makes PAM read the service file from a folder of the test's,
so nothing under /etc/pam.d is touched; every module in it is named by absolute path.
pamtester reads the answer to the prompt from stdin.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from demo.botapi import BotApiServer
from tests.e2e import ROOT, BotProcess, E2EUser, enrol, local_bot_api
from tests.helpers import app_code

PAM_MODULE = ROOT / "deploy" / "pam" / "twofa_desk.py"
PAM_PYTHON = next(
    (
        p
        for p in (
            Path("/lib/security/pam_python.so"),
            Path("/lib/x86_64-linux-gnu/security/pam_python.so"),
            Path("/usr/lib/x86_64-linux-gnu/security/pam_python.so"),
        )
        if p.exists()
    ),
    None,
)
PAM_WRAPPER = Path("/usr/lib/x86_64-linux-gnu/libpam_wrapper.so")
PAMTESTER = Path("/usr/bin/pamtester")
MISSING = [
    str(p)
    for p, found in (
        ("pam_python.so (libpam-python)", PAM_PYTHON is not None),
        (PAM_WRAPPER, PAM_WRAPPER.exists()),
        (PAMTESTER, PAMTESTER.exists()),
    )
    if not found
]

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    # One process runs the whole module, so its programs start once (Makefile).
    pytest.mark.xdist_group("pam"),
    pytest.mark.skipif(
        bool(MISSING),
        reason=f"PAM test programs are not installed ({', '.join(MISSING)}): "
        "apt-get install libpam-python pamtester libpam-wrapper (.ci/run does)",
    ),
]

API_TOKEN = "e2e-pam-token-0123456789abcdef-0123456789abc"
TIMEOUT_S = 2


@dataclass(frozen=True)
class Outcome:
    success: bool
    output: str


@dataclass
class Login:
    server: BotApiServer
    bot: BotProcess
    workdir: Path
    api_url: str

    def service(self, name: str, token_file: Path, url: str | None = None) -> Path:
        """A PAM service file (pam_wrapper's folder) with the shipped module in it."""
        folder = self.workdir / "pam.d"
        folder.mkdir(exist_ok=True)
        line = (
            f"auth required {PAM_PYTHON} {PAM_MODULE} url={url or self.api_url} "
            f"token_file={token_file} account=tg:{{user}} timeout={TIMEOUT_S}\n"
        )
        (folder / name).write_text(line)
        return folder

    def token_file(self, name: str, mode: int = 0o600) -> Path:
        path = self.workdir / name
        path.write_text(API_TOKEN + "\n")
        path.chmod(mode)
        return path

    async def authenticate(self, user: str, answer: str, service: str = "twofa") -> Outcome:
        folder = self.workdir / "pam.d"
        env = {
            **os.environ,
            "LD_PRELOAD": str(PAM_WRAPPER),
            "PAM_WRAPPER": "1",
            "PAM_WRAPPER_SERVICE_DIR": str(folder),
        }
        proc = await asyncio.create_subprocess_exec(
            str(PAMTESTER),
            "-v",
            service,
            user,
            "authenticate",
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(proc.communicate(f"{answer}\n".encode()), 30)
        text = output.decode(errors="replace")
        assert "2FA code (Enter: approve in Telegram):" in text, text
        return Outcome(proc.returncode == 0 and "successfully authenticated" in text, text)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def login(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Login]:
    workdir = tmp_path_factory.mktemp("pam")
    port = _free_tcp_port()
    async with local_bot_api() as server:
        bot = BotProcess(server, workdir, API_TOKEN=API_TOKEN, API_PORT=str(port))
        await bot.start()
        login = Login(server, bot, workdir, f"http://127.0.0.1:{port}")
        login.service("twofa", login.token_file("token"))
        try:
            yield login
        finally:
            if bot.proc is not None and bot.proc.returncode is None:
                await bot.terminate()
    assert API_TOKEN not in bot.log() and "Traceback" not in bot.log()


def _free_tcp_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_a_correct_code_logs_in_once(login: Login) -> None:
    secret = await enrol(E2EUser(login.server, 7101, "Ann"), "Phone")
    code = app_code(secret, time.time() + 30)
    assert (await login.authenticate("7101", code)).success
    replayed = await login.authenticate("7101", code)
    assert not replayed.success and "Authentication failure" in replayed.output


async def test_a_wrong_code_is_refused(login: Login) -> None:
    secret = await enrol(E2EUser(login.server, 7102, "Ben"), "Phone")
    wrong = f"{(int(app_code(secret)) + 500_000) % 1_000_000:06d}"
    assert not (await login.authenticate("7102", wrong)).success


async def test_an_account_without_2fa_is_refused_and_told(login: Login) -> None:
    outcome = await login.authenticate("7199", "123456")
    assert not outcome.success and "not set up" in outcome.output


async def test_an_empty_answer_is_approved_by_a_tap_in_telegram(login: Login) -> None:
    user = E2EUser(login.server, 7103, "Cem")
    await enrol(user, "Phone")
    asking = asyncio.ensure_future(login.authenticate("7103", ""))
    message = await login.server.state.wait_for_message(
        7103, lambda m: "Approve" in dict(m.buttons), timeout=20
    )
    assert "Is this you, logging in?" in message.shown_text and "App: twofa" in message.shown_text
    await user.press(message, "Approve", lambda m: "Approved" in m.content)
    outcome = await asyncio.wait_for(asking, 30)
    assert outcome.success, outcome.output


async def test_an_empty_answer_declined_in_telegram_is_refused(login: Login) -> None:
    user = E2EUser(login.server, 7106, "Fay")
    await enrol(user, "Phone")
    asking = asyncio.ensure_future(login.authenticate("7106", ""))
    message = await login.server.state.wait_for_message(
        7106, lambda m: "Approve" in dict(m.buttons), timeout=20
    )
    await user.press(message, "This wasn't me", lambda m: "Reported" in m.content)
    outcome = await asyncio.wait_for(asking, 30)
    assert not outcome.success


async def test_a_token_file_others_may_read_is_refused(login: Login) -> None:
    secret = await enrol(E2EUser(login.server, 7104, "Dora"), "Phone")
    login.service("loose", login.token_file("loose-token", 0o644))
    code = app_code(secret, time.time() + 30)
    assert not (await login.authenticate("7104", code, service="loose")).success
    # The code never reached 2FA Desk: it still works with a proper token file.
    assert (await login.authenticate("7104", code)).success


async def test_a_stopped_or_frozen_2fa_desk_is_refused(login: Login) -> None:
    secret = await enrol(E2EUser(login.server, 7105, "Eva"), "Phone")
    bot = login.bot
    assert bot.proc is not None

    bot.proc.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        assert not (await login.authenticate("7105", "000000")).success
        assert time.monotonic() - started < 3 * TIMEOUT_S + 2
    finally:
        bot.proc.send_signal(signal.SIGCONT)

    assert await bot.terminate() == 0
    code = app_code(secret, time.time() + 30)
    assert not (await login.authenticate("7105", code)).success
    await bot.start()
    assert (await login.authenticate("7105", code)).success
