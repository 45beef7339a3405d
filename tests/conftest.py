"""Shared fixtures: a moved clock, a fresh database file, the core services."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import FakeClock
from bot.config import Settings
from bot.crypto import SecretBox, decode_key, generate_key
from bot.enrolment import EnrolmentService
from storage.db import Database

# Opt in to python-telegram-bot's timedelta durations (RetryAfter.retry_after), as
# ``python -m bot`` does, so reading them raises no deprecation warning.
os.environ.setdefault("PTB_TIMEDELTA", "1")

TEST_TOKEN = "123456:TEST-TOKEN-abcdefghijklmnopqrstuvwxyz"


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
async def db(db_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(f"sqlite:///{db_path}")
    yield database
    await database.close()


@pytest.fixture
def enrolment(db: Database, box: SecretBox, clock: FakeClock) -> EnrolmentService:
    return EnrolmentService(db, box, clock, issuer="2FA Desk")


@pytest.fixture
def settings(db_path: Path, secrets_key: bytes) -> Settings:
    return Settings(
        telegram_bot_token=TEST_TOKEN,
        secrets_key=secrets_key,
        database_url=f"sqlite:///{db_path}",
    )
