"""Recovery codes (keyed hashes)."""

from __future__ import annotations

from datetime import datetime

from storage.records import (
    to_ts,
)
from storage.repositories.base import Repository


class RecoveryCodeRepository(Repository):
    def replace_set(
        self, account_id: str, hashes: list[bytes], now: datetime, *, key_id: str
    ) -> None:
        """A new set voids every unused code of the old one. ``key_id``: the key the
        hashes were made under (``RecoveryHasher.key_id``), counted by rotate-key."""
        self._run(
            "UPDATE recovery_codes SET voided_at = ? WHERE account_id = ?"
            " AND used_at IS NULL AND voided_at IS NULL",
            (to_ts(now), account_id),
        )
        for code_hash in hashes:
            self._run(
                "INSERT INTO recovery_codes (account_id, code_hash, created_at, key_id)"
                " VALUES (?, ?, ?, ?)",
                (account_id, code_hash, to_ts(now), key_id),
            )

    def use(self, account_id: str, code_hashes: list[bytes], now: datetime) -> bool:
        """Spend a code once (``code_hashes``: its hash under each configured key): False
        when it is unknown, used, voided or another account's."""
        marks = ", ".join("?" for _ in code_hashes)
        return (
            self._run(
                "UPDATE recovery_codes SET used_at = ? WHERE account_id = ?"
                f" AND code_hash IN ({marks}) AND used_at IS NULL AND voided_at IS NULL",
                (to_ts(now), account_id, *code_hashes),
            )
            == 1
        )

    def void(self, account_id: str, code_hashes: list[bytes], now: datetime) -> bool:
        """Void one unused code of the account (``code_hashes``: its hash under each
        configured key): False when it is unknown, used, voided or another account's."""
        marks = ", ".join("?" for _ in code_hashes)
        return (
            self._run(
                "UPDATE recovery_codes SET voided_at = ? WHERE account_id = ?"
                f" AND code_hash IN ({marks}) AND used_at IS NULL AND voided_at IS NULL",
                (to_ts(now), account_id, *code_hashes),
            )
            == 1
        )

    def remaining(self, account_id: str) -> int:
        row = self._one(
            "SELECT COUNT(*) FROM recovery_codes WHERE account_id = ?"
            " AND used_at IS NULL AND voided_at IS NULL",
            (account_id,),
        )
        return int(row[0]) if row else 0

    def live_by_key(self) -> dict[str | None, int]:
        """Codes that still work (unused, not voided), counted by the key their hash was
        made under; None: issued before key ids were recorded."""
        rows = self._all(
            "SELECT key_id, COUNT(*) FROM recovery_codes"
            " WHERE used_at IS NULL AND voided_at IS NULL GROUP BY key_id"
        )
        return {row[0]: int(row[1]) for row in rows}

    def void_all(self, account_id: str, now: datetime) -> int:
        """Void the account's unused recovery codes; how many."""
        return self._run(
            "UPDATE recovery_codes SET voided_at = ? WHERE account_id = ?"
            " AND used_at IS NULL AND voided_at IS NULL",
            (to_ts(now), account_id),
        )
