"""Per-account verification state: failures, locks, deactivation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.records import (
    AccountSecurity,
    Device,
    from_ts,
    to_ts,
)
from storage.repositories.base import Repository, ts_or_none
from storage.repositories.devices import DEVICE_COLUMNS, device_from_row

_SECURITY_WITH_DEVICES = (
    "SELECT s.consecutive_failures, s.locked_until, s.hard_locked_at, s.deactivated_until,"
    " s.two_factor_required, "
    + ", ".join(f"d.{column.strip()}" for column in DEVICE_COLUMNS.split(","))
    + " FROM (SELECT ? AS account_id) AS a"
    " LEFT JOIN account_security AS s ON s.account_id = a.account_id"
    " LEFT JOIN devices AS d ON d.account_id = a.account_id AND d.revoked_at IS NULL"
    " ORDER BY d.created_at, d.id"
)


def _security(account_id: str, row: tuple[Any, ...] | None) -> AccountSecurity:
    """The state from (consecutive_failures, locked_until, hard_locked_at,
    deactivated_until, two_factor_required, ...); no row (or a NULL count: no row joined)
    is a clean state."""
    if row is None or row[0] is None:
        return AccountSecurity(account_id)
    return AccountSecurity(
        account_id, row[0], from_ts(row[1]), from_ts(row[2]), from_ts(row[3]), bool(row[4])
    )


class SecurityRepository(Repository):
    def get(self, account_id: str) -> AccountSecurity:
        row = self._one(
            "SELECT consecutive_failures, locked_until, hard_locked_at, deactivated_until,"
            " two_factor_required FROM account_security WHERE account_id = ?",
            (account_id,),
        )
        return _security(account_id, row)

    def with_devices(self, account_id: str) -> tuple[AccountSecurity, list[Device]]:
        """The account's lock state and active devices in one statement (the hot path of
        every verification)."""
        rows = self._all(_SECURITY_WITH_DEVICES, (account_id,))
        state = _security(account_id, rows[0])
        return state, [device_from_row(row[5:]) for row in rows if row[5] is not None]

    def ensure(self, account_id: str, now: datetime) -> None:
        """The account's row exists (no failures, no lock, as no row means too)."""
        self._run(
            "INSERT INTO account_security (account_id, updated_at) VALUES (?, ?)"
            " ON CONFLICT (account_id) DO NOTHING",
            (account_id, to_ts(now)),
        )

    def save(self, state: AccountSecurity, now: datetime) -> None:
        # (No row count asked for: on PostgreSQL it travels with the next statement.)
        self._conn.execute(
            "INSERT INTO account_security (account_id, consecutive_failures, locked_until,"
            " hard_locked_at, deactivated_until, two_factor_required, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (account_id) DO UPDATE SET"
            " consecutive_failures = excluded.consecutive_failures,"
            " locked_until = excluded.locked_until, hard_locked_at = excluded.hard_locked_at,"
            " deactivated_until = excluded.deactivated_until,"
            " two_factor_required = excluded.two_factor_required,"
            " updated_at = excluded.updated_at",
            (
                state.account_id,
                state.consecutive_failures,
                ts_or_none(state.locked_until),
                ts_or_none(state.hard_locked_at),
                ts_or_none(state.deactivated_until),
                int(state.two_factor_required),
                to_ts(now),
            ),
        )
