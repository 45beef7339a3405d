"""Account ids as stored: read them all, and give one account another spelling in every
table that holds its id (core/account_ids.py decides which, and re-seals its secrets).

``ACCOUNT_ID_COLUMNS`` names every column that holds an account id besides ``accounts.id``
(tests/test_account_ids_core.py checks the schema for more). The audit log's
``account_id`` is not among them on purpose: its rows are append-only and chained over
every column as written, so they keep the spelling they were written with.
"""

from __future__ import annotations

from storage.repositories.base import Repository
from storage.repositories.sealed import SEALED_COLUMNS, SealedValue

ACCOUNT_ID_COLUMNS = (
    ("account_security", "account_id"),
    ("alert_events", "account_id"),
    ("challenges", "account_id"),
    ("deactivation_requests", "account_id"),
    ("devices", "account_id"),
    ("enrollment_links", "account_id"),
    ("grants", "account_id"),
    ("pending_enrolments", "account_id"),
    ("recovery_codes", "account_id"),
    ("telegram_users", "account_id"),
    ("user_notices", "account_id"),
    ("webhook_events", "account_id"),
)

# Columns named account_id that hold no account: what a sealed value is bound to
# ("webhook:<endpoint>" for a webhook secret, "" for a kept recovery-code key).
NOT_ACCOUNT_IDS = (("recovery_code_keys", "account_id"), ("webhook_secrets", "account_id"))


class AccountIdRepository(Repository):
    def page(self, after: str, limit: int) -> list[str]:
        """Up to ``limit`` account ids in id order after ``after``."""
        rows = self._all("SELECT id FROM accounts WHERE id > ? ORDER BY id LIMIT ?", (after, limit))
        return [row[0] for row in rows]

    def exists(self, account_id: str) -> bool:
        return self._one("SELECT 1 FROM accounts WHERE id = ?", (account_id,)) is not None

    def sealed_of(self, account_id: str) -> list[SealedValue]:
        """Every sealed value bound to the account (revoked devices' too)."""
        values = []
        for column in SEALED_COLUMNS:
            if (column.table, "account_id") in NOT_ACCOUNT_IDS:
                continue  # bound to an endpoint or a key, never to an account
            rows = self._all(
                f"SELECT id, secret_sealed FROM {column.table} WHERE account_id = ? ORDER BY id",
                (account_id,),
            )
            values += [SealedValue(column.table, r[0], account_id, bytes(r[1])) for r in rows]
        return values

    def respell(self, old: str, new: str, sealed: list[SealedValue]) -> None:
        """The account ``old`` becomes ``new`` (which must not exist) in every table, its
        sealed values replaced by ``sealed`` (sealed for the new id). The new row first
        and the old one last, so every reference holds throughout."""
        self._run(
            "INSERT INTO accounts (id, created_at) SELECT ?, created_at FROM accounts WHERE id = ?",
            (new, old),
        )
        for table, column in ACCOUNT_ID_COLUMNS:
            self._run(f"UPDATE {table} SET {column} = ? WHERE {column} = ?", (new, old))
        tables = {column.table for column in SEALED_COLUMNS}
        for value in sealed:
            if value.table not in tables:  # only those tables ever go into a statement
                raise ValueError(f"{value.table!r} holds no sealed values")
            self._run(
                f"UPDATE {value.table} SET secret_sealed = ? WHERE id = ? AND account_id = ?",
                (value.blob, value.row_id, new),
            )
        self._run("DELETE FROM accounts WHERE id = ?", (old,))
