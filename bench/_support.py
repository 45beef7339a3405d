"""What the benchmarks (and the end-to-end tests, through tests/e2e.py and tests/helpers.py)
need besides the product: ``python -m bot`` started in its own process against the local
Bot API stand-in (demo.botapi), and an authenticator app (read the QR code, parse the key
URI, compute the code with a TOTP written out independently of ``core.totp``)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import os
import signal
import struct
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import aiohttp
import zxingcpp
from PIL import Image

from core.crypto import generate_key
from demo.botapi import BotApiServer, BotApiState

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456:E2E-TEST-TOKEN-abcdefghijklmnopqrstuv"
BOT_USERNAME = "twofa_desk_bot"


def database_path(workdir: Path) -> Path:
    """The SQLite database of a ``BotProcess`` started in ``workdir``."""
    return workdir / "data" / "twofa.sqlite3"


class BotProcess:
    """``python -m bot`` as a separate process, configured for the local test server.

    ``command`` picks the role (``("api", "--workers", "2")``); ``name`` tells the log
    files of several processes in one folder apart."""

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
            "DATABASE_URL": f"sqlite:///{database_path(workdir)}",
            "LOG_LEVEL": "INFO",
            **extra_env,
        }
        self.proc: asyncio.subprocess.Process | None = None
        self.starts = 0

    async def spawn(self) -> None:
        """Start the process without waiting for it to be ready."""
        self.starts += 1
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

    async def start(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Start and wait until it has set its commands and is polling for updates.

        A bot that exits instead fails the test at once, with the end of its log.
        """
        commands_before = self._calls("setMyCommands")
        await self.spawn()
        assert self.proc is not None
        state = self.server.state

        # Polling: a getUpdates; webhook mode: its setWebhook.
        receiving = "setWebhook" if "TELEGRAM_WEBHOOK_URL" in self.env else "getUpdates"
        receiving_before = self._calls(receiving)

        async def ready() -> None:
            await state.wait_for_calls("setMyCommands", commands_before + 1, timeout=timeout)
            await state.wait_for_calls(receiving, receiving_before + 1, timeout=timeout)

        await self.until_ready(ready())

    async def until_ready(self, ready: Coroutine[Any, Any, Any]) -> Any:
        """Await ``ready``; a process that exits first fails the test with its log's end."""
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

    async def health(self, expected: dict[str, str], timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Wait until ``GET /healthz`` (on API_PORT) answers 200 with ``expected`` in it."""
        url = f"http://127.0.0.1:{self.env['API_PORT']}/healthz"

        async def answers() -> None:
            async with aiohttp.ClientSession() as http:
                await eventually_async(lambda: _healthy(http, url, expected), timeout)

        await self.until_ready(answers())

    def _calls(self, method: str) -> int:
        return len([c for c in self.server.state.calls if c[0] == method])

    async def kill(self) -> None:
        """SIGKILL: no chance to flush or say goodbye, as in a crash."""
        assert self.proc is not None
        self.proc.kill()
        await self.proc.wait()

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


async def eventually_async(
    condition: Callable[[], Awaitable[bool]],
    timeout: float = 10.0,  # noqa: ASYNC109
) -> None:
    """``eventually`` for a condition that must be awaited (an HTTP request...)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():
        if loop.time() > deadline:
            raise TimeoutError("condition did not hold in time")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def local_bot_api() -> AsyncIterator[BotApiServer]:
    state = BotApiState(token=TOKEN, bot_id=123456, bot_username=BOT_USERNAME)
    async with BotApiServer(state) as server:
        yield server


# ------------------------------------------------------------ the authenticator app


def independent_totp(secret_b32: str, unix_time: float) -> str:
    """RFC 4226/6238 written out with hmac alone, to check pyotp's use in ``core.totp``."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = struct.pack(">Q", int(unix_time) // 30)
    digest = hmac.new(key, counter, hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def decode_qr(png: bytes) -> str:
    """Read a QR code with zxing-cpp, a decoder independent of the library that drew it."""
    # Only QR codes: in about one image in 10,000 zxing also "sees" a 1-D barcode (ITF)
    # in the modules of a valid QR code.
    results = zxingcpp.read_barcodes(
        Image.open(io.BytesIO(png)), formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    assert len(results) == 1, f"expected one QR code, found {len(results)}"
    return results[0].text


def parse_key_uri(uri: str) -> dict[str, str]:
    """The parts of an ``otpauth://totp/<issuer>:<account>?secret=...`` URI."""
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    label = unquote(parsed.path.lstrip("/"))
    issuer, _, account = label.partition(":")
    query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    return {"label_issuer": issuer, "account": account, **query}


def app_code(secret: str, at: float | None = None) -> str:
    """The code the authenticator app shows now (or at ``at``), computed independently."""
    return independent_totp(secret, time.time() if at is None else at)
