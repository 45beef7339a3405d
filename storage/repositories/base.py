"""Shared plumbing of the repositories."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from storage.records import (
    to_ts,
)


class Cursor(Protocol):
    """What a statement hands back: a ``sqlite3.Cursor``, or the PostgreSQL adaptor's
    ``Rows``."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """Runs one statement with qmark (``?``) placeholders: an ``sqlite3.Connection``, or
    ``storage.pg_pipeline.PostgresConnection``, which translates (``storage/dialect.py``)."""

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor: ...


class Repository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        return self._conn.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()

    def _run(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return self._conn.execute(sql, params).rowcount


def ts_or_none(moment: datetime | None) -> int | None:
    return None if moment is None else to_ts(moment)
