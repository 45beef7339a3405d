"""Shared plumbing of the repositories."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from storage.records import (
    to_ts,
)


class Repository:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        return self._conn.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return self._conn.execute(sql, params).rowcount


def ts_or_none(moment: datetime | None) -> int | None:
    return None if moment is None else to_ts(moment)
