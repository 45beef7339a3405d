"""End to end: the real ``python -m bot clients`` command, and a revocation that two
``python -m bot api`` processes on PostgreSQL both honour at once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bench._postgres import PostgresServer
from core.clients import ClientRegistry, Scope
from core.clock import SystemClock
from demo.botapi import BotApiServer
from storage.db import Database, open_database
from tests.e2e import BOT_USERNAME, ROOT, BotProcess


def clients_command(url: str, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("API_", "DATABASE_"))},
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": url,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", "clients", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def run_command(url: str, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(clients_command, url, workdir, *args)


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    """An SQLite database the bot has created (the command refuses to create one)."""
    url = f"sqlite:///{tmp_path / 'data' / 'twofa.sqlite3'}"
    await (await open_database(url)).close()
    return url


async def test_add_list_and_revoke_through_the_command(sqlite_url: str, tmp_path: Path) -> None:
    added = await run_command(sqlite_url, tmp_path, "add", "vpn", "--scopes", "verify,accounts")
    assert added.returncode == 0, added.stderr
    (token,) = added.stdout.splitlines()  # the token alone, printed once
    assert token.startswith("twofa_") and "shown this once" in added.stderr
    assert token not in added.stderr
    files = (tmp_path / "data").iterdir()
    assert not any(token.encode() in path.read_bytes() for path in files)

    listed = await run_command(sqlite_url, tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()
    assert header.split() == ["name", "scopes", "created", "last", "used"]
    assert row.split()[:2] == ["vpn", "verify,accounts"] and row.endswith("never")
    assert token not in listed.stdout

    db = await Database.open(sqlite_url)
    try:
        clients = ClientRegistry(db, SystemClock())
        assert await clients.authenticate(token) is not None
        revoked = await run_command(sqlite_url, tmp_path, "revoke", "vpn")
        assert revoked.returncode == 0 and "revoked client vpn" in revoked.stdout
        assert await clients.authenticate(token) is None  # this process sees it at once
        assert await clients.clients() == []
    finally:
        await db.close()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("add", "portal", "--scopes", "verify,admin"), "unknown scope 'admin'"),
        (("add", "", "--scopes", "verify"), "a client name is 1 to 64"),
        (("add", "vpn", "--scopes", "links"), "a client named 'vpn' exists already"),
        (("add", "portal"), "--scopes"),
        (("revoke", "nobody"), "there is no client named 'nobody'"),
    ],
)
async def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    sqlite_url: str, tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    db = await Database.open(sqlite_url)
    try:
        clients = ClientRegistry(db, SystemClock())
        await clients.add("vpn", frozenset({Scope.VERIFY}))
        before = await db.run(lambda tx: (tx.clients.all_active(), tx.audit.entries()))
        refused = await run_command(sqlite_url, tmp_path, *args)
        assert refused.returncode == 2
        (line,) = refused.stderr.splitlines()
        assert line.startswith("error: ") and says in line, line
        assert refused.stdout == ""
        assert await db.run(lambda tx: (tx.clients.all_active(), tx.audit.entries())) == before
    finally:
        await db.close()


async def test_the_command_refuses_a_database_that_is_not_there(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nowhere.sqlite3'}"
    refused = await run_command(url, tmp_path, "add", "vpn", "--scopes", "verify")
    assert refused.returncode == 2 and "there is no SQLite database" in refused.stderr
    assert not (tmp_path / "nowhere.sqlite3").exists()


# ------------------------------------------------------------------ PostgreSQL


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> Iterator[str]:
    with postgres_server.database() as url:
        yield url


async def accounts_status(http: aiohttp.ClientSession, port: int, token: str) -> int:
    async with http.get(
        f"http://127.0.0.1:{port}/v1/accounts/anna@example.com",
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        return response.status


async def test_two_api_processes_refuse_a_revoked_token_at_once(
    server: BotApiServer, tmp_path: Path, database_url: str, unused_tcp_port_factory: Any
) -> None:
    """No API_TOKEN: the processes start because a client exists, and serve it."""
    added = await run_command(database_url, tmp_path, "add", "sso", "--scopes", "accounts")
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()
    processes = [
        BotProcess(
            server,
            tmp_path,
            command=("api",),
            name=f"api-{n}",
            DATABASE_URL=database_url,
            API_PORT=str(unused_tcp_port_factory()),
            TELEGRAM_BOT_USERNAME=BOT_USERNAME,
        )
        for n in (1, 2)
    ]
    ports = [int(p.env["API_PORT"]) for p in processes]
    try:
        await asyncio.gather(*(p.spawn() for p in processes))
        await asyncio.gather(*(p.health({"status": "ok", "role": "api"}) for p in processes))
        async with aiohttp.ClientSession() as http:
            assert [await accounts_status(http, port, token) for port in ports] == [200, 200]
            revoked = await run_command(database_url, tmp_path, "revoke", "sso")
            assert revoked.returncode == 0, revoked.stderr
            assert [await accounts_status(http, port, token) for port in ports] == [401, 401]
    finally:
        for process in processes:
            if process.proc is not None and process.proc.returncode is None:
                assert await process.terminate() == 0, process.log()[-2000:]
