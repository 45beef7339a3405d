"""Devices (authenticators) of an account."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.records import (
    Device,
    from_ts,
    from_ts_required,
    to_ts,
)
from storage.repositories.base import Repository

DEVICE_COLUMNS = "id, account_id, name, secret_sealed, created_at, last_used_at, last_used_step"


def device_from_row(row: tuple[Any, ...]) -> Device:
    return Device(
        id=row[0],
        account_id=row[1],
        name=row[2],
        secret_sealed=bytes(row[3]),
        created_at=from_ts_required(row[4]),
        last_used_at=from_ts(row[5]),
        last_used_step=row[6],
    )


class DeviceRepository(Repository):
    def add(
        self,
        device_id: str,
        account_id: str,
        name: str,
        secret_sealed: bytes,
        created_by_user_id: int | None,
        last_used_step: int | None,
        now: datetime,
    ) -> Device:
        self._run(
            "INSERT INTO devices (id, account_id, name, secret_sealed, created_at,"
            " created_by_user_id, last_used_step) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                device_id,
                account_id,
                name,
                secret_sealed,
                to_ts(now),
                created_by_user_id,
                last_used_step,
            ),
        )
        device = self.get(device_id)
        assert device is not None
        return device

    def get(self, device_id: str) -> Device | None:
        row = self._one(f"SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?", (device_id,))
        return None if row is None else device_from_row(row)

    def spend_step(self, device_id: str, step: int) -> bool:
        """Count a time step as used without a login (its code was seen where others can
        read it): only a later step than the last used one moves it; False if none did."""
        return (
            self._run(
                "UPDATE devices SET last_used_step = ?"
                " WHERE id = ? AND (last_used_step IS NULL OR last_used_step < ?)",
                (step, device_id, step),
            )
            == 1
        )

    def mark_used(self, device_id: str, step: int, now: datetime) -> None:
        """Spend a time step: only a later step than the last accepted one moves it.

        Its row count is not asked for, so on PostgreSQL the statement travels with the
        next one (storage/pg_pipeline.py): the caller read the device in the same
        transaction, and a concurrent spend makes the transaction fail, never the UPDATE
        quietly change nothing."""
        self._conn.execute(
            "UPDATE devices SET last_used_step = ?, last_used_at = ?"
            " WHERE id = ? AND (last_used_step IS NULL OR last_used_step < ?)",
            (step, to_ts(now), device_id, step),
        )

    def revoke(self, device_id: str, now: datetime) -> bool:
        return (
            self._run(
                "UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (to_ts(now), device_id),
            )
            == 1
        )

    def rename(self, device_id: str, name: str) -> bool:
        return (
            self._run(
                "UPDATE devices SET name = ? WHERE id = ? AND revoked_at IS NULL", (name, device_id)
            )
            == 1
        )

    def revoked_at(self, account_id: str, moment: datetime) -> list[Device]:
        """The devices revoked at that moment (e.g. by an approved deactivation)."""
        rows = self._all(
            f"SELECT {DEVICE_COLUMNS} FROM devices WHERE account_id = ? AND revoked_at = ?"
            " ORDER BY created_at, id",
            (account_id, to_ts(moment)),
        )
        return [device_from_row(row) for row in rows]

    def revoke_all(self, account_id: str, now: datetime) -> list[Device]:
        """Revoke every active device of the account; returns them."""
        devices = self.active_for(account_id)
        self._run(
            "UPDATE devices SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL",
            (to_ts(now), account_id),
        )
        return devices

    def active_for(self, account_id: str) -> list[Device]:
        rows = self._all(
            f"SELECT {DEVICE_COLUMNS} FROM devices"
            " WHERE account_id = ? AND revoked_at IS NULL ORDER BY created_at, id",
            (account_id,),
        )
        return [device_from_row(row) for row in rows]
