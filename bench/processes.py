"""What the benchmarks run beside them: the Bot API stand-in of demo/botapi in this process,
and ``python -m bot`` (any role) in a process of its own, configured for it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from core.crypto import generate_key
from demo.botapi import BotApiServer, BotApiState

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:BENCH-LOCAL-TOKEN-abcdefghijklmnopqrs"
BOT_USERNAME = "twofa_desk_bench_bot"


@asynccontextmanager
async def local_bot_api() -> AsyncIterator[BotApiServer]:
    """The stand-in for Telegram, served over HTTP on 127.0.0.1."""
    state = BotApiState(token=TOKEN, bot_id=123456, bot_username=BOT_USERNAME)
    async with BotApiServer(state) as server:
        yield server


class BotProcess:
    """``python -m bot`` with ``command`` (``("api", "--workers", "2")``: a role), talking to
    the stand-in; its SQLite database in ``workdir/data`` unless DATABASE_URL is given, its
    output in ``workdir/<name>.log``."""

    def __init__(
        self,
        server: BotApiServer,
        workdir: Path,
        *,
        command: tuple[str, ...] = (),
        name: str = "bot",
        **extra_env: str,
    ) -> None:
        self.server = server
        self.workdir = workdir
        self.command = command
        self.log_path = workdir / f"{name}.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SECRETS"))},
            "PYTHONPATH": str(ROOT),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_BASE_URL": server.base_url,
            "TELEGRAM_BASE_FILE_URL": server.base_file_url,
            "SECRETS_KEY": generate_key(),
            "DATABASE_URL": f"sqlite:///{workdir / 'data' / 'twofa.sqlite3'}",
            "LOG_LEVEL": "WARNING",
            **extra_env,
        }
        self.proc: asyncio.subprocess.Process | None = None

    async def spawn(self) -> None:
        """Start the process without waiting for it to be ready."""
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                *self.command,
                cwd=self.workdir,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

    async def start(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Start the whole bot and wait until it has set its commands and polls for updates."""
        state = self.server.state
        commands = sum(1 for call in state.calls if call[0] == "setMyCommands")
        polls = sum(1 for call in state.calls if call[0] == "getUpdates")
        await self.spawn()

        async def ready() -> None:
            await state.wait_for_calls("setMyCommands", commands + 1, timeout=timeout)
            await state.wait_for_calls("getUpdates", polls + 1, timeout=timeout)

        await self.until_ready(ready())

    async def until_ready(self, ready: Coroutine[Any, Any, Any]) -> Any:
        """Await ``ready``; a process that exits first ends the benchmark with its log."""
        assert self.proc is not None
        readiness = asyncio.ensure_future(ready)
        exited = asyncio.ensure_future(self.proc.wait())
        await asyncio.wait({readiness, exited}, return_when=asyncio.FIRST_COMPLETED)
        if not readiness.done():
            readiness.cancel()
            raise RuntimeError(
                f"python -m bot {' '.join(self.command)} exited with {exited.result()}:\n"
                f"{self.log()[-3000:]}"
            )
        exited.cancel()
        return readiness.result()

    async def health(self, expected: dict[str, str], timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Wait until ``GET /healthz`` (on API_PORT) answers 200 with ``expected`` in it."""
        url = f"http://127.0.0.1:{self.env['API_PORT']}/healthz"

        async def answers() -> None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            async with aiohttp.ClientSession() as http:
                while not await _healthy(http, url, expected):
                    if loop.time() > deadline:
                        raise TimeoutError(f"{url} did not answer {expected} in {timeout} s")
                    await asyncio.sleep(0.05)

        await self.until_ready(answers())

    async def terminate(self, timeout: float = 20.0) -> int:  # noqa: ASYNC109
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


async def _healthy(http: aiohttp.ClientSession, url: str, expected: dict[str, str]) -> bool:
    try:
        async with http.get(url) as response:
            body = await response.json()
            return response.status == 200 and expected.items() <= body.items()
    except aiohttp.ClientError:
        return False
