"""A webhook receiver on 127.0.0.1 (aiohttp) that verifies each POST with the
``standardwebhooks`` library, as a login system or a SIEM would, and records it."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

from tests.e2e import BotProcess


@dataclass
class Received:
    message_id: str
    body: str
    payload: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.payload["type"])

    @property
    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.payload["data"]
        return data


@dataclass(frozen=True)
class Attempt:
    """One POST: its webhook-id, what it was answered, who sent it (``identify``), when
    it came (``time.monotonic()``)."""

    message_id: str
    status: int
    sender: str
    at: float


@dataclass
class Receiver:
    secret: str = ""
    status: int = 204
    delay: float = 0.0  # seconds before answering
    verified: list[Received] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)  # webhook-id of every POST
    refused: int = 0  # bodies whose signature did not verify
    bodies: list[str] = field(default_factory=list)  # every body, verified or not
    log: list[Attempt] = field(default_factory=list)  # every POST, as answered
    identify: Callable[[web.Request], str] | None = None  # names the sender of a POST
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        came = time.monotonic()
        sender = self.identify(request) if self.identify is not None else ""
        response = await self._answer(request)
        message_id = request.headers.get("webhook-id", "")
        self.log.append(Attempt(message_id, response.status, sender, came))
        return response

    async def _answer(self, request: web.Request) -> web.Response:
        body = await request.text()
        self.bodies.append(body)
        self.attempts.append(request.headers.get("webhook-id", ""))
        if self.delay:
            await asyncio.sleep(self.delay)
        if not 200 <= self.status < 300:
            return web.Response(status=self.status, headers={"Location": "http://127.0.0.1:1/"})
        try:
            payload = Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.refused += 1
            return web.Response(status=400)
        self.verified.append(Received(request.headers["webhook-id"], body, payload))
        self.arrived.set()
        return web.Response(status=self.status)

    def types(self) -> list[str]:
        return [r.type for r in self.verified]

    def of_type(self, event_type: str) -> list[Received]:
        return [r for r in self.verified if r.type == event_type]


class RunningReceiver:
    """``Receiver`` served on 127.0.0.1:port; ``stop`` and ``start`` again on the same port
    (a receiver that is down for a while)."""

    def __init__(self, receiver: Receiver, port: int) -> None:
        self.receiver = receiver
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks", self.receiver.handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def payloads(bodies: list[str]) -> list[dict[str, Any]]:
    return [json.loads(b) for b in bodies]


async def add_webhook(bot: BotProcess, url: str) -> str:
    """``python -m bot webhooks add`` on the bot's database; the secret it printed."""
    (bot.workdir / "data").mkdir(exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "webhooks",
        "add",
        "siem",
        url,
        "--allow-private",
        cwd=bot.workdir,
        env=bot.env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    found = re.search(r"whsec_\S+", out.decode())
    assert found is not None
    return found[0]
