"""Sealed values, wherever they are kept: what key rotation counts, reads and re-seals.

``SEALED_COLUMNS`` names every column that holds a value sealed with the keyring
(core/crypto.py), each in a table whose rows have an ``id`` and an ``account_id``: the
two the sealed value's associated data binds it to. A new sealed column is added here,
and ``python -m bot rotate-key``, ``check-key`` and the start check cover it.

The values are read and written as they are: nothing here opens one.
"""

from __future__ import annotations

from dataclasses import dataclass

from storage.repositories.base import Repository


@dataclass(frozen=True)
class SealedColumn:
    table: str
    kind: str  # what a row is, for the operator: "device", "pending enrolment"


SEALED_COLUMNS = (
    # Revoked devices too: their rows stay (the audit trail names them).
    SealedColumn("devices", "device"),
    SealedColumn("pending_enrolments", "pending enrolment"),
    # The keys of recovery codes stored as keyed hashes, kept by rotate-key (account_id
    # '', the row id a key id).
    SealedColumn("recovery_code_keys", "recovery code key"),
    # A webhook endpoint's signing secrets (account_id: "webhook:<endpoint name>").
    SealedColumn("webhook_secrets", "webhook secret"),
)
_TABLES = frozenset(column.table for column in SEALED_COLUMNS)


@dataclass(frozen=True)
class SealedValue:
    table: str
    row_id: str  # the device or enrolment id (the associated data's device id)
    account_id: str
    blob: bytes


def _table(table: str) -> str:
    """Only a table of ``SEALED_COLUMNS`` is ever put into a statement."""
    if table not in _TABLES:
        raise ValueError(f"{table!r} holds no sealed values")
    return table


class SealedRepository(Repository):
    def count_by_prefix(self, table: str, marker: bytes, length: int) -> dict[bytes | None, int]:
        """The sealed values of ``table`` counted by their first ``length`` bytes, for
        those that start with ``marker`` (the format that names its key); the others
        counted under None. Grouped in SQL: no value is read out."""
        name = _table(table)
        counts: dict[bytes | None, int] = {}
        rows = self._all(
            f"SELECT substr(secret_sealed, 1, {int(length)}), COUNT(*) FROM {name}"
            " WHERE substr(secret_sealed, 1, 1) = ? GROUP BY 1",
            (marker,),
        )
        for prefix, count in rows:
            counts[bytes(prefix)] = int(count)
        row = self._one(
            f"SELECT COUNT(*) FROM {name} WHERE substr(secret_sealed, 1, 1) <> ?", (marker,)
        )
        if row and row[0]:
            counts[None] = int(row[0])
        return counts

    def not_starting_with(
        self, table: str, prefix: bytes, after: str, limit: int
    ) -> list[SealedValue]:
        """Up to ``limit`` values of ``table`` that do not start with ``prefix`` (are not
        sealed under that key), in id order after the id ``after``."""
        name = _table(table)
        rows = self._all(
            f"SELECT id, account_id, secret_sealed FROM {name}"
            f" WHERE id > ? AND substr(secret_sealed, 1, {len(prefix)}) <> ?"
            " ORDER BY id LIMIT ?",
            (after, prefix, limit),
        )
        return [SealedValue(name, row[0], row[1], bytes(row[2])) for row in rows]

    def page(self, table: str, after: str, limit: int) -> list[SealedValue]:
        """Up to ``limit`` values of ``table`` in id order after the id ``after``."""
        name = _table(table)
        rows = self._all(
            f"SELECT id, account_id, secret_sealed FROM {name} WHERE id > ? ORDER BY id LIMIT ?",
            (after, limit),
        )
        return [SealedValue(name, row[0], row[1], bytes(row[2])) for row in rows]

    def swap(self, table: str, changes: list[tuple[str, bytes, bytes]]) -> list[str]:
        """Compare and swap: each ``(row id, blob read, new blob)`` is written only where
        the row still holds the blob that was read. The ids that were not written (the
        row changed or went meanwhile): the caller reads them again."""
        name = _table(table)
        lost = []
        for row_id, expected, new in changes:
            written = self._run(
                f"UPDATE {name} SET secret_sealed = ? WHERE id = ? AND secret_sealed = ?",
                (new, row_id, expected),
            )
            if written != 1:
                lost.append(row_id)
        return lost
