"""Recovery codes (salted hashes; keyed hashes from before), and the keys rotate-key keeps
for the keyed ones (core/recovery.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from storage.records import (
    to_ts,
)
from storage.repositories.base import Repository


class RecoveryCodeRepository(Repository):
    def replace_set(
        self, account_id: str, hashes: Sequence[bytes], now: datetime, *, salt: bytes
    ) -> None:
        """A new set (salted hashes, one salt for the set) voids every unused code of the
        old one."""
        self._run(
            "UPDATE recovery_codes SET voided_at = ? WHERE account_id = ?"
            " AND used_at IS NULL AND voided_at IS NULL",
            (to_ts(now), account_id),
        )
        for code_hash in hashes:
            self._run(
                "INSERT INTO recovery_codes (account_id, code_hash, created_at, salt)"
                " VALUES (?, ?, ?, ?)",
                (account_id, code_hash, to_ts(now), salt),
            )

    def live_salts(self, account_id: str) -> set[bytes | None]:
        """The salts of the account's unused codes (one per set; None: a set stored as
        keyed hashes, from before salted ones)."""
        rows = self._all(
            "SELECT DISTINCT salt FROM recovery_codes WHERE account_id = ?"
            " AND used_at IS NULL AND voided_at IS NULL",
            (account_id,),
        )
        return {None if row[0] is None else bytes(row[0]) for row in rows}

    def use(self, account_id: str, code_hashes: list[bytes], now: datetime) -> bool:
        """Spend a code once (``code_hashes``: the hashes it may be stored under): False
        when it is unknown, used, voided or another account's."""
        return self._close("used_at", account_id, code_hashes, now)

    def void(self, account_id: str, code_hashes: list[bytes], now: datetime) -> bool:
        """Void one unused code of the account (``code_hashes``: the hashes it may be
        stored under): False when it is unknown, used, voided or another account's."""
        return self._close("voided_at", account_id, code_hashes, now)

    def _close(self, column: str, account_id: str, code_hashes: list[bytes], now: datetime) -> bool:
        """Mark one live code used or voided (``column``, a constant of this module)."""
        if not code_hashes:  # no live set: nothing to match (and IN () is no SQL)
            return False
        marks = ", ".join("?" for _ in code_hashes)
        return (
            self._run(
                f"UPDATE recovery_codes SET {column} = ? WHERE account_id = ?"
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

    def legacy_live_by_key(self) -> dict[str | None, int]:
        """Unused codes stored as keyed hashes (from before salted ones), counted by the
        key their hash was made under; None: issued before key ids were recorded."""
        rows = self._all(
            "SELECT key_id, COUNT(*) FROM recovery_codes"
            " WHERE used_at IS NULL AND voided_at IS NULL AND salt IS NULL GROUP BY key_id"
        )
        return {row[0]: int(row[1]) for row in rows}

    def salted_live(self) -> int:
        """Unused codes stored as salted hashes: they need no key."""
        row = self._one(
            "SELECT COUNT(*) FROM recovery_codes"
            " WHERE used_at IS NULL AND voided_at IS NULL AND salt IS NOT NULL"
        )
        return int(row[0]) if row else 0

    # ------------------------------------------------- keys kept for keyed hashes

    def kept_keys(self) -> dict[str, bytes]:
        """Key id -> that key, sealed (the keys of keyed hashes that rotate-key kept)."""
        rows = self._all("SELECT id, secret_sealed FROM recovery_code_keys ORDER BY id")
        return {row[0]: bytes(row[1]) for row in rows}

    def keep_key(self, key_id: str, sealed: bytes, now: datetime) -> None:
        self._run(
            "INSERT INTO recovery_code_keys (id, secret_sealed, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (id) DO NOTHING",
            (key_id, sealed, to_ts(now)),
        )

    def drop_kept_keys(self, key_ids: Sequence[str]) -> int:
        """Drop kept keys that no unused code needs any more: how many."""
        return sum(
            self._run("DELETE FROM recovery_code_keys WHERE id = ?", (kid,)) for kid in key_ids
        )

    def void_all(self, account_id: str, now: datetime) -> int:
        """Void the account's unused recovery codes; how many."""
        return self._run(
            "UPDATE recovery_codes SET voided_at = ? WHERE account_id = ?"
            " AND used_at IS NULL AND voided_at IS NULL",
            (to_ts(now), account_id),
        )
