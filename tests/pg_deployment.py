"""Several real processes of one deployment on one PostgreSQL database, for the
end-to-end tests that need them (tests/test_e2e_postgres.py and the take-over tests)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp

from core.crypto import generate_key
from demo.botapi import BotApiServer
from tests.e2e import BotProcess
from tests.helpers import app_code

API_TOKEN = "e2e-postgres-token-0123456789abcdef-012345"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
OPS = -100900
TAKEOVER_S = 10.0  # the standby's promise


class Deployment:
    """Processes of one deployment: one database, one SECRETS_KEY, one API token."""

    def __init__(self, server: BotApiServer, workdir: Path, database_url: str) -> None:
        self.server = server
        self.workdir = workdir
        self.env = {
            "DATABASE_URL": database_url,
            "SECRETS_KEY": generate_key(),
            "API_TOKEN": API_TOKEN,
            "OPS_CHAT_ID": str(OPS),
        }
        self.processes: list[BotProcess] = []

    def process(self, name: str, port: int, *command: str) -> BotProcess:
        process = BotProcess(
            self.server, self.workdir, command=command, name=name, API_PORT=str(port), **self.env
        )
        self.processes.append(process)
        return process

    async def stop(self) -> None:
        """SIGTERM to every process still running: each stops cleanly (0)."""
        running = [p for p in self.processes if p.proc and p.proc.returncode is None]
        statuses = await asyncio.gather(*(p.terminate() for p in running))
        assert statuses == [0] * len(running), [p.log()[-2000:] for p in running]


async def verify(http: aiohttp.ClientSession, port: int, account: str, code: str) -> str:
    async with http.post(
        f"http://127.0.0.1:{port}/v1/verify", json={"account": account, "code": code}, headers=AUTH
    ) as response:
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return str(body["result"])


def wrong_code(secret: str) -> str:
    """A six-digit code that no step of the window accepts."""
    now = time.time()
    valid = {app_code(secret, now + 30 * step) for step in range(-2, 3)}
    return next(code for code in ("000000", "111111", "222222") if code not in valid)
