"""Moving up: copy an SQLite database into an empty PostgreSQL one.

``copy_sqlite_to_postgresql(source_url, target_url, progress=...)`` copies every table
as it is (sealed secrets, hashed recovery codes, the audit log: values are copied, never
opened, so the same ``SECRETS_KEY`` opens them on the other side), ids preserved, and
the identity columns advanced past the copied ids so that new rows continue after them.

- The source is brought up to date first (its pending migrations applied, as a start of
  the bot would), then read in one read transaction: a consistent snapshot, even if a
  bot still writes to it (stop it first all the same: what it writes later stays behind).
- The target is migrated (under the migration lock) and must be empty: a copy into a
  database that holds data is refused, and nothing is written.
- Everything lands in one PostgreSQL transaction, table by table in batches (``COPY``),
  reporting progress through the callback after each batch; at the end the rows of
  every table are counted on both sides, and a difference is an error: then nothing
  lands at all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from storage import postgresql
from storage.db import backend_of, redact_url, sqlite_path
from storage.sqlite import data_tables, migrate_file, row_count

BATCH_ROWS = 5000


class CopyError(RuntimeError):
    """The copy cannot be made (or did not add up); nothing was written."""


@dataclass(frozen=True)
class CopyProgress:
    """Where the copy stands, after each batch."""

    table: str
    table_rows_done: int
    table_rows: int
    rows_done: int
    rows: int  # in all tables


@dataclass(frozen=True)
class CopyReport:
    rows: dict[str, int]  # per table, as counted on both sides

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def copy_sqlite_to_postgresql(
    source_url: str,
    target_url: str,
    *,
    progress: Callable[[CopyProgress], None] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> CopyReport:
    """Copy the SQLite database ``source_url`` into the empty PostgreSQL database
    ``target_url`` (see the module docstring). Raises ``CopyError`` with a message for
    the operator; ``DatabaseUnavailableError`` when the target cannot be reached."""
    if backend_of(source_url) != "sqlite" or backend_of(target_url) != "postgresql":
        raise CopyError(
            "copy from an sqlite:/// URL to a postgresql:// URL, got "
            f"{redact_url(source_url)} to {redact_url(target_url)}"
        )
    path = sqlite_path(source_url)
    if not path.is_file():
        raise CopyError(f"no SQLite database at {path}")
    migrate_file(path)
    source = sqlite3.connect(path, isolation_level=None)
    try:
        source.execute("BEGIN")  # one snapshot for the counts and every row
        with postgresql.connect(target_url, application_name="2fa-desk (copy)") as target:
            postgresql.migrate(target)
            tables = _tables(source)
            _check_same_schema(source, target, tables, target_url)
            _refuse_non_empty(target, tables, target_url)
            counts = {table: row_count(source, table) for table in tables}
            with target.transaction():
                done = 0
                for table in tables:
                    done = _copy_table(source, target, table, counts, done, batch_rows, progress)
                _advance_identities(target)
                _check_counts(target, counts)
        return CopyReport(counts)
    finally:
        source.close()


def _tables(source: sqlite3.Connection) -> list[str]:
    """Every table of the schema, each after the tables it refers to."""
    names = data_tables(source)
    refers = {
        name: {row[2] for row in source.execute(f'PRAGMA foreign_key_list("{name}")')} - {name}
        for name in names
    }
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and refers[n] <= set(ordered)]
        if not ready:
            raise CopyError(f"circular references between tables: {sorted(refers)}")
        ordered += ready
    return ordered


def _columns_sqlite(source: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in source.execute(f'PRAGMA table_info("{table}")')]


def _columns_postgresql(target: psycopg.Connection[Any], table: str) -> list[str]:
    rows = target.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [row[0] for row in rows]


def _check_same_schema(
    source: sqlite3.Connection, target: psycopg.Connection[Any], tables: list[str], url: str
) -> None:
    versions = [row[0] for row in source.execute("SELECT version FROM schema_migrations")]
    target_versions = [
        row[0] for row in target.execute("SELECT version FROM schema_migrations").fetchall()
    ]
    if sorted(versions) != sorted(target_versions):
        raise CopyError(
            f"the schemas differ: the SQLite database is at migration {max(versions)}, "
            f"{redact_url(url)} at {max(target_versions)}; run the same version of 2FA Desk"
        )
    for table in tables:
        if _columns_sqlite(source, table) != _columns_postgresql(target, table):
            raise CopyError(f"table {table} has other columns in {redact_url(url)}")


def _count_postgresql(target: psycopg.Connection[Any], table: str) -> int:
    query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
    row = target.execute(query).fetchone()
    return 0 if row is None else int(row[0])


def _refuse_non_empty(target: psycopg.Connection[Any], tables: list[str], url: str) -> None:
    counts = {table: _count_postgresql(target, table) for table in tables}
    holding = [f"{table}: {count}" for table, count in counts.items() if count]
    if holding:
        raise CopyError(
            f"{redact_url(url)} already holds data ({', '.join(holding)} rows): "
            "copy into an empty database (create a new one, or drop and recreate this one)"
        )


def _copy_table(
    source: sqlite3.Connection,
    target: psycopg.Connection[Any],
    table: str,
    counts: dict[str, int],
    done: int,
    batch_rows: int,
    progress: Callable[[CopyProgress], None] | None,
) -> int:
    columns = _columns_sqlite(source, table)
    names = ", ".join(f'"{c}"' for c in columns)
    rows = source.execute(f'SELECT {names} FROM "{table}" ORDER BY rowid')
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    total = sum(counts.values())
    table_done = 0
    if progress is not None:
        progress(CopyProgress(table, 0, counts[table], done, total))
    with target.cursor() as cursor, cursor.copy(statement) as copy:
        while batch := rows.fetchmany(batch_rows):
            for row in batch:
                copy.write_row(row)
            table_done += len(batch)
            done += len(batch)
            if progress is not None:
                progress(CopyProgress(table, table_done, counts[table], done, total))
    return done


def _advance_identities(target: psycopg.Connection[Any]) -> None:
    """New rows continue after the copied ids (an identity column starts at 1 otherwise)."""
    columns = target.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES'"
    ).fetchall()
    for table, column in columns:
        target.execute(
            sql.SQL(
                "SELECT setval(pg_get_serial_sequence({table}, {column}), max({ident}))"
                " FROM {tbl} HAVING max({ident}) IS NOT NULL"
            ).format(
                table=sql.Literal(table),
                column=sql.Literal(column),
                ident=sql.Identifier(column),
                tbl=sql.Identifier(table),
            )
        )


def _check_counts(target: psycopg.Connection[Any], counts: dict[str, int]) -> None:
    wrong = []
    for table, expected in counts.items():
        copied = _count_postgresql(target, table)
        if copied != expected:
            wrong.append(f"{table}: {expected} in SQLite, {copied} copied")
    if wrong:
        raise CopyError(f"the copy does not add up ({'; '.join(wrong)}); nothing was written")
