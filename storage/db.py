"""The database: connection, migrations and the one way to run a transaction.

SQLite is the embedded default. The bot, the jobs and the HTTP API share one
event loop and one connection; an ``asyncio.Lock`` makes every transaction
exclusive on that connection, so two coroutines never interleave statements
inside one transaction (a COMMIT by one would otherwise commit the other's
half-done work).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

import aiosqlite

from storage.repositories import Transaction

SQLITE_PREFIX = "sqlite:///"
BUSY_TIMEOUT_MS = 5000


class DatabaseUrlError(ValueError):
    """DATABASE_URL names something this build cannot open."""


def sqlite_path(url: str) -> Path:
    """``sqlite:///data/x.sqlite3`` is relative, ``sqlite:////var/x.sqlite3`` absolute."""
    if not url.startswith(SQLITE_PREFIX) or len(url) == len(SQLITE_PREFIX):
        raise DatabaseUrlError(
            f"unsupported DATABASE_URL {url!r}: use sqlite:///relative/path.sqlite3 "
            "or sqlite:////absolute/path.sqlite3"
        )
    return Path(url[len(SQLITE_PREFIX) :])


def migration_scripts() -> list[tuple[int, str, str]]:
    """The numbered SQL files shipped in ``storage/migrations``, in order."""
    folder = resources.files("storage").joinpath("migrations")
    scripts = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            scripts.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return sorted(scripts)


def split_statements(script: str) -> list[str]:
    """Split a script into statements; trigger bodies keep their inner semicolons."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        if not current and (not line.strip() or line.lstrip().startswith("--")):
            continue
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip():
        raise ValueError(f"incomplete SQL statement at the end of a migration: {current!r}")
    return statements


class Database:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, url: str) -> Database:
        path = sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves.
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL is durable against a crash of the process in WAL mode.
            await conn.execute("PRAGMA synchronous = NORMAL")
            await conn.execute("PRAGMA foreign_keys = ON")
            db = cls(conn)
            await db.migrate()
        except BaseException:
            await conn.close()
            raise
        return db

    async def migrate(self) -> list[str]:
        """Apply the migrations not applied yet, each in its own transaction."""
        async with self._lock:
            await self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
            )
            async with self._conn.execute("SELECT version FROM schema_migrations") as cur:
                done = {row[0] for row in await cur.fetchall()}
            applied = []
            for version, name, script in migration_scripts():
                if version in done:
                    continue
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    for statement in split_statements(script):
                        await self._conn.execute(statement)
                    await self._conn.execute(
                        "INSERT INTO schema_migrations (version, name, applied_at)"
                        " VALUES (?, ?, CAST(strftime('%s', 'now') AS INTEGER))",
                        (version, name),
                    )
                except BaseException:
                    await self._conn.rollback()
                    raise
                await self._conn.commit()
                applied.append(name)
            return applied

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Run the block as one transaction: committed on success, rolled back on error."""
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self._conn)
            except BaseException:
                await asyncio.shield(self._conn.rollback())
                raise
            await self._conn.commit()

    async def ping(self) -> bool:
        """True when the database answers a query."""
        try:
            async with self._lock, self._conn.execute("SELECT 1") as cur:
                return (await cur.fetchone()) == (1,)
        except (sqlite3.Error, ValueError):
            return False

    async def close(self) -> None:
        async with self._lock:
            await self._conn.close()
