"""Shared fixtures: a moved clock, a fresh database, the core services, and the bots.

Two kinds of bot: ``chat_bot`` is the bot in the test's process with the Bot API
simulated in memory (tests/harness.py, the handler tests); ``bot`` is ``python -m bot``
in a process of its own against the local Bot API test server ``server`` (tests/e2e.py,
the end-to-end tests).

The storage, core and API tests (the modules ``ON_BOTH_DATABASES`` names) run twice,
``[sqlite]`` and ``[postgresql]``: their ``db``, ``database_url`` and ``settings``
fixtures follow the ``backend`` parameter. The others (handlers, end to end) run on
SQLite. PostgreSQL is a throwaway server of the session (bench/_postgres.py), each test a
fresh database in it; if no server can be started, those tests fail and say why.
"""

from __future__ import annotations

import base64
import dataclasses
import fnmatch
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import psycopg
import pytest
from psycopg import sql

from bench._postgres import PostgresServer, PostgresUnavailable
from bot.logs import QUIETED_LOGGERS
from core.clock import FakeClock
from core.config import Settings
from core.crypto import SecretBox, decode_key, generate_key
from core.enrolment import EnrolmentService
from demo.botapi import BotApiServer
from storage.db import Backend, Database, open_database
from tests.e2e import BotProcess, local_bot_api
from tests.harness import API_TOKEN, Api, Harness, running_bot

# Opt in to python-telegram-bot's timedelta durations (RetryAfter.retry_after), as
# ``python -m bot`` does, so reading them raises no deprecation warning.
os.environ.setdefault("PTB_TIMEDELTA", "1")

TEST_TOKEN = "123456:TEST-TOKEN-abcdefghijklmnopqrstuvwxyz"

ON_BOTH_DATABASES = (
    "test_storage*.py",
    "test_*_core.py",
    "test_api*.py",
    "test_retention.py",
    "test_free_text.py",
)
BACKENDS: tuple[Backend, ...] = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    module = Path(str(metafunc.module.__file__)).name
    if any(fnmatch.fnmatch(module, pattern) for pattern in ON_BOTH_DATABASES):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> Backend:
    backend: Backend = getattr(request, "param", "sqlite")
    return backend


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as exc:
        unavailable = str(exc)
    else:
        try:
            yield server
        finally:
            server.stop()
        return
    pytest.fail(f"the PostgreSQL tests need a PostgreSQL server: {unavailable}", pytrace=False)


@pytest.fixture
def clock() -> FakeClock:
    # Mid-step, so that the previous and next 30-second steps are both whole.
    return FakeClock(datetime(2026, 3, 1, 9, 0, 10, tzinfo=UTC))


@pytest.fixture
def secrets_key() -> bytes:
    return decode_key(generate_key())


@pytest.fixture
def box(secrets_key: bytes) -> SecretBox:
    return SecretBox(secrets_key)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "twofa.sqlite3"


@pytest.fixture
def database_url(backend: Backend, db_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database of the test's backend (migrated on PostgreSQL)."""
    if backend == "sqlite":
        yield f"sqlite:///{db_path}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    with server.database() as url:
        yield url


@pytest.fixture
def stored_bytes(database_url: str, db_path: Path) -> Callable[[], bytes]:
    """What the database holds, as bytes: SQLite's files (the database, its WAL), or
    every value of every table on PostgreSQL (bytea as it is stored)."""

    def read() -> bytes:
        if database_url.startswith("sqlite:"):
            files = [p for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)]
            return b"".join(path.read_bytes() for path in files)
        with psycopg.connect(database_url) as conn:
            tables = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchall()
            values = [
                value
                for (table,) in tables
                for row in conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
                for value in row
            ]
        return b"\0".join(v if isinstance(v, bytes) else str(v).encode() for v in values)

    return read


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await open_database(database_url)
    yield database
    await database.close()


@pytest.fixture
def enrolment(db: Database, box: SecretBox, clock: FakeClock) -> EnrolmentService:
    return EnrolmentService(db, box, clock, issuer="2FA Desk")


@pytest.fixture
def settings(database_url: str, secrets_key: bytes) -> Settings:
    return Settings(
        telegram_bot_token=TEST_TOKEN,
        secrets_key=secrets_key,
        database_url=database_url,
    )


@pytest.fixture
async def server() -> AsyncIterator[BotApiServer]:
    """The local Bot API test server of the end-to-end tests (a module that needs a
    group in it, or another state, defines its own)."""
    async with local_bot_api() as running:
        yield running


@pytest.fixture
async def bot(server: BotApiServer, tmp_path: Path) -> AsyncIterator[BotProcess]:
    """``python -m bot`` started against ``server``, stopped with SIGTERM at the end (the
    handler tests use ``chat_bot``, the bot in the test's process)."""
    process = BotProcess(server, tmp_path)
    await process.start()
    yield process
    if process.proc is not None and process.proc.returncode is None:
        process.proc.send_signal(signal.SIGTERM)
        await process.proc.wait()


@pytest.fixture
def chat_settings(settings: Settings) -> Settings:
    """The settings ``chat_bot`` runs with: a module whose bot needs a support or an ops
    chat, agents or admins overrides this fixture."""
    return settings


@pytest.fixture
async def chat_bot(chat_settings: Settings, clock: FakeClock) -> AsyncIterator[Harness]:
    """The bot as ``python -m bot`` builds it, in the test's process, the Bot API simulated
    in memory (tests/harness.py); its support and ops chats exist as groups."""
    async with running_bot(chat_settings, clock) as harness:
        if chat_settings.support_chat_id is not None:
            harness.state.group(chat_settings.support_chat_id, "Support")
        if chat_settings.ops_chat_id is not None:
            harness.state.group(chat_settings.ops_chat_id, "Ops")
        yield harness


@pytest.fixture
async def api(settings: Settings, clock: FakeClock, unused_tcp_port: int) -> AsyncIterator[Api]:
    """The HTTP API of the bot in the test's process, over real HTTP (token API_TOKEN)."""
    with_api = dataclasses.replace(settings, api_token=API_TOKEN, api_port=unused_tcp_port)
    async with running_bot(with_api, clock) as harness, aiohttp.ClientSession() as http:
        yield Api(harness, f"http://127.0.0.1:{unused_tcp_port}", http)


@pytest.fixture
def command_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str, secrets_key: bytes
) -> Iterator[pytest.MonkeyPatch]:
    """``python -m bot`` in this process (``main([...])``): its working directory, its
    variables (the test's database and key, a Bot API on a closed local port: never the
    internet), and the loggers as they were before (``main`` configures logging)."""
    monkeypatch.chdir(tmp_path)
    for name in ("SECRETS_KEYS_PREVIOUS", "API_TOKEN", "TELEGRAM_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TEST_TOKEN)
    monkeypatch.setenv("TELEGRAM_BASE_URL", "http://127.0.0.1:9/bot")
    monkeypatch.setenv("TELEGRAM_BASE_FILE_URL", "http://127.0.0.1:9/file/bot")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SECRETS_KEY", base64.urlsafe_b64encode(secrets_key).decode())
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quieted = {name: logging.getLogger(name).level for name in QUIETED_LOGGERS}
    try:
        yield monkeypatch
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, was in quieted.items():
            logging.getLogger(name).setLevel(was)
