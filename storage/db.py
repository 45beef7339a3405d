"""The database: what callers see, whichever backend holds the data.

A transaction is a plain function ``work(tx) -> result`` over the repositories of one
``Transaction``; ``await db.run(work)`` runs it and hands back its result after COMMIT.
Every rule that checks and then acts (a code used once, a lock after five failures, the
first decision wins) is written as one such function, so it is atomic on every backend:

- SQLite (``storage/sqlite.py``): one connection on one thread runs the work functions
  one after the other, with group commit. One process.
- PostgreSQL (``storage/postgresql.py``): a pool of connections, each work function on
  one of them in a worker thread, at SERIALIZABLE isolation; when PostgreSQL cannot
  serialise two transactions it aborts one, which runs again. Any number of processes.

So a work function may run more than once and must have no effect outside the database
(no messages sent, no counters moved, nothing appended to a list it did not create).

``open_database(url)`` picks the backend by the URL's scheme.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

from storage.repositories import Transaction

SQLITE_PREFIX = "sqlite:///"
POSTGRESQL_PREFIXES = ("postgresql://", "postgres://")

Backend = Literal["sqlite", "postgresql"]

T = TypeVar("T")


class DatabaseUrlError(ValueError):
    """DATABASE_URL names something this build cannot open."""


class DatabaseClosedError(RuntimeError):
    """The database was closed; no more work is accepted."""


class DatabaseUnavailableError(ConnectionError):
    """The database server cannot be reached or refuses us (wrong password, no such
    database). The message names the server without the password."""


class CommitOutcomeUnknownError(ConnectionError):
    """The connection to the database was lost during COMMIT: the transaction may have
    landed or not. It is not run again (it could then act twice: a code accepted twice);
    the caller gets this error instead."""


def backend_of(url: str) -> Backend:
    if url.startswith(POSTGRESQL_PREFIXES):
        return "postgresql"
    if url.startswith(SQLITE_PREFIX):
        return "sqlite"
    raise DatabaseUrlError(
        f"unsupported DATABASE_URL {redact_url(url)!r}: use sqlite:///relative/path.sqlite3, "
        "sqlite:////absolute/path.sqlite3 or postgresql://user:password@host:5432/database"
    )


def sqlite_path(url: str) -> Path:
    """``sqlite:///data/x.sqlite3`` is relative, ``sqlite:////var/x.sqlite3`` absolute."""
    if not url.startswith(SQLITE_PREFIX) or len(url) == len(SQLITE_PREFIX):
        raise DatabaseUrlError(
            f"unsupported DATABASE_URL {redact_url(url)!r}: use sqlite:///relative/path.sqlite3 "
            "or sqlite:////absolute/path.sqlite3"
        )
    return Path(url[len(SQLITE_PREFIX) :])


def redact_url(url: str) -> str:
    """The URL as it may be shown or logged: the password replaced by ``***``."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{parts.username or ''}:***@{host}"
        if parts.port is not None:
            netloc += f":{parts.port}"
    except ValueError:  # not even a URL (a bad port, a stray bracket): show its scheme only
        return url.split("://", 1)[0] + "://***"
    return urlunsplit(parts._replace(netloc=netloc))


def migration_scripts(backend: Backend = "sqlite") -> list[tuple[int, str, str]]:
    """The numbered SQL files of a backend (``storage/migrations/<backend>``), in order.

    Both folders hold the same numbers and names: one schema, written in each dialect."""
    folder = resources.files("storage").joinpath("migrations", backend)
    scripts = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            scripts.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return sorted(scripts)


def pending_migrations(
    backend: Backend, applied: Iterable[tuple[int]]
) -> list[tuple[int, str, str]]:
    """Those of ``migration_scripts(backend)`` whose version is not among ``applied``
    (the rows of ``SELECT version FROM schema_migrations``), in order."""
    done = {row[0] for row in applied}
    return [script for script in migration_scripts(backend) if script[0] not in done]


class Database(ABC):
    """One database, open: hand it whole transactions (see the module docstring)."""

    backend: Backend
    commits: int  # how many COMMITs ran (SQLite folds several works into one)

    @classmethod
    async def open(cls, url: str) -> Database:
        """Open (and migrate) the database ``url`` names: ``open_database``."""
        return await open_database(url)

    @abstractmethod
    async def run(self, work: Callable[[Transaction], T]) -> T:
        """Run ``work`` as one transaction; its result after COMMIT. ``work`` may run more
        than once: it must have no effect outside the database."""

    @abstractmethod
    async def migrate(self) -> list[str]:
        """Apply pending migrations (``open`` already did; a no-op then): their names."""

    @abstractmethod
    async def ping(self) -> bool:
        """True when the database answers a query (soon: a health check waits for it)."""

    @abstractmethod
    async def close(self) -> None:
        """Finish the work under way, then release the connections. Idempotent."""


async def open_database(url: str) -> Database:
    """The backend the URL's scheme names, open and migrated."""
    if backend_of(url) == "postgresql":
        from storage.postgresql import PostgresDatabase

        return await PostgresDatabase.open(url)
    from storage.sqlite import SqliteDatabase

    return await SqliteDatabase.open(url)
