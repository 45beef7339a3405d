"""One-time enrolment links."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.records import (
    EnrollmentLink,
    from_ts,
    from_ts_required,
    to_ts,
)
from storage.repositories.base import Repository

_LINK_COLUMNS = "id, account_id, created_at, expires_at, opened_by_user_id, used_at, voided_at"


def _link(row: tuple[Any, ...]) -> EnrollmentLink:
    return EnrollmentLink(
        row[0],
        row[1],
        from_ts_required(row[2]),
        from_ts_required(row[3]),
        row[4],
        from_ts(row[5]),
        from_ts(row[6]),
    )


class LinkRepository(Repository):
    def create(
        self, link_id: str, token_hash: bytes, account_id: str, now: datetime, expires_at: datetime
    ) -> None:
        self._run(
            "INSERT INTO enrollment_links (id, token_hash, account_id, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (link_id, token_hash, account_id, to_ts(now), to_ts(expires_at)),
        )

    def by_token_hash(self, token_hash: bytes) -> EnrollmentLink | None:
        row = self._one(
            f"SELECT {_LINK_COLUMNS} FROM enrollment_links WHERE token_hash = ?", (token_hash,)
        )
        return None if row is None else _link(row)

    def get(self, link_id: str) -> EnrollmentLink | None:
        row = self._one(f"SELECT {_LINK_COLUMNS} FROM enrollment_links WHERE id = ?", (link_id,))
        return None if row is None else _link(row)

    def mark_opened(self, link_id: str, user_id: int) -> None:
        self._run(
            "UPDATE enrollment_links SET opened_by_user_id = ?"
            " WHERE id = ? AND used_at IS NULL AND voided_at IS NULL",
            (user_id, link_id),
        )

    def mark_used(self, link_id: str, user_id: int, now: datetime) -> bool:
        """Use the link once: False when it was used (or voided) already."""
        return (
            self._run(
                "UPDATE enrollment_links SET used_at = ?, used_by_user_id = ?"
                " WHERE id = ? AND used_at IS NULL AND voided_at IS NULL",
                (to_ts(now), user_id, link_id),
            )
            == 1
        )

    def void(self, link_id: str, now: datetime) -> bool:
        """The link never binds anyone from now on: False when it was used or void already."""
        return (
            self._run(
                "UPDATE enrollment_links SET voided_at = ?"
                " WHERE id = ? AND used_at IS NULL AND voided_at IS NULL",
                (to_ts(now), link_id),
            )
            == 1
        )
