"""``python -m demo`` (``make demo``): the bot, its HTTP API and a stand-in for Telegram on this
machine, and a chat page to try them in the browser.

Everything is throwaway: a fresh SQLite database and key in a temporary folder (removed at
the end), a made-up bot token, a random API token. The bot is the real ``python -m bot`` in a
process of its own, talking to the stand-in (demo.botapi) as it would to Telegram; the page
is served by the stand-in, on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path

from demo.botapi import BotApiServer, BotApiState
from demo.web import DemoPage, DemoSetup, GroupChat

HOST = "127.0.0.1"
DEFAULT_PORT = 8088
#: Made up, and shaped so that the bot accepts it (digits:letters) while the stand-in does
#: not take it for a real one.
TOKEN = "123456:DEMO-LOCAL-ONLY-not-a-real-bot-token"  # noqa: S105
BOT_ID = 123456
BOT_USERNAME = "twofa_desk_demo_bot"
SUPPORT_CHAT_ID = -1001000000001
OPS_CHAT_ID = -1001000000002
AGENT = (7001, "Sam")  # a support agent
OPERATOR = (7002, "Olga")  # on call, and an admin
#: The users with a private chat at the start: (id, first name, language of their app).
USERS = ((1001, "Anna", "en"), (1002, "Jonas", "de"))
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
# The bot's settings that a real .env or environment may hold; the demo sets its own.
_BOT_SETTINGS_PREFIXES = (
    "TELEGRAM_",
    "SECRETS_KEY",
    "DATABASE_URL",
    "API_",
    "WEBHOOK_",
    "SUPPORT_",
    "OPS_",
    "ADMIN_",
)


def populate(state: BotApiState) -> tuple[GroupChat, ...]:
    """The demo's people and groups: users with a private chat, the support group with its
    agent, the ops chat with the person on call (also an admin)."""
    for user_id, name, language in USERS:
        state.user(user_id, name, name.lower(), language_code=language)
    for user_id, name in (AGENT, OPERATOR):
        state.user(user_id, name, name.lower())
    groups = (
        GroupChat(SUPPORT_CHAT_ID, "Support desk", (AGENT[0],), "support"),
        GroupChat(OPS_CHAT_ID, "Ops on call", (OPERATOR[0],), "ops"),
    )
    for group in groups:
        state.group(group.chat_id, group.title)
    return groups


def bot_environment(server: BotApiServer, workdir: Path, api_port: int, api_token: str) -> dict:
    """What ``python -m bot`` gets: the stand-in for Telegram, a throwaway database and key."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(_BOT_SETTINGS_PREFIXES)}
    return {
        **kept,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_BASE_URL": server.base_url,
        "TELEGRAM_BASE_FILE_URL": server.base_file_url,
        "TELEGRAM_BOT_USERNAME": BOT_USERNAME,
        # URL-safe base64 of 32 random bytes, as `python -m bot genkey` makes one.
        "SECRETS_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "DATABASE_URL": f"sqlite:///{workdir / 'data' / 'twofa.sqlite3'}",
        "API_TOKEN": api_token,
        "API_HOST": HOST,
        "API_PORT": str(api_port),
        "SUPPORT_CHAT_ID": str(SUPPORT_CHAT_ID),
        "SUPPORT_AGENT_IDS": str(AGENT[0]),
        "OPS_CHAT_ID": str(OPS_CHAT_ID),
        "ADMIN_USER_IDS": str(OPERATOR[0]),
        "LOG_LEVEL": "INFO",
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


async def run(port: int, api_port: int) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="twofa-desk-demo-"))
    state = BotApiState(
        token=TOKEN, bot_id=BOT_ID, bot_username=BOT_USERNAME, bot_name="2FA Desk (demo)"
    )
    groups = populate(state)
    api_token = secrets.token_hex(32)
    setup = DemoSetup(BOT_USERNAME, f"http://{HOST}:{api_port}", api_token, groups)
    page = DemoPage(state, setup)
    server = BotApiServer(state, setup=page.install)
    try:
        await server.start(HOST, port)
    except OSError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"demo: cannot listen on {HOST}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    log_path = workdir / "bot.log"
    try:
        with log_path.open("ab") as log:
            bot = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                cwd=workdir,  # no .env of a real deployment is read
                env=bot_environment(server, workdir, api_port, api_token),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                # Ctrl+C reaches the demo only; the demo then stops the bot with SIGTERM.
                start_new_session=True,
            )
        return await _serve(server, bot, log_path)
    finally:
        await server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def _serve(server: BotApiServer, bot: asyncio.subprocess.Process, log_path: Path) -> int:
    """Wait for the bot to poll, say where the page is, run until a signal or the bot's end."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    exited = asyncio.ensure_future(bot.wait())
    ready = asyncio.ensure_future(_polling(server.state))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({exited, ready, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if ready.done() and ready.exception() is None and not exited.done():
            print(
                f"2FA Desk demo: open {server.origin} (bot log: {log_path}; Ctrl+C stops it)",
                flush=True,
            )
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if exited.done() and not stopping.done():
            tail = log_path.read_text(errors="replace")[-3000:]  # noqa: ASYNC240 - once, at the end
            print(f"demo: the bot stopped ({exited.result()}):\n{tail}", file=sys.stderr)
            return 1
        if not stopping.done():
            print("demo: the bot did not start in time", file=sys.stderr)
        if bot.returncode is None:
            bot.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(exited), STOP_TIMEOUT_S)
        except TimeoutError:
            bot.kill()
            await exited
        return 0 if stopping.done() else 1
    finally:
        for task in (ready, stopping):
            task.cancel()


async def _polling(state: BotApiState) -> None:
    """The bot has set its command menu and asks for updates: it answers from now on."""
    await state.wait_for_calls("setMyCommands", timeout=READY_TIMEOUT_S)
    await state.wait_for_calls("getUpdates", timeout=READY_TIMEOUT_S)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m demo", description="Try 2FA Desk in the browser, without Telegram."
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="the page (default 8088; 0: any free one)"
    )
    parser.add_argument("--api-port", type=int, default=0, help="the bot's API (default: free)")
    args = parser.parse_args(argv)
    api_port = args.api_port or free_port()
    sys.exit(asyncio.run(run(args.port, api_port)))
