"""The append-only audit log, and its chain (core/audit_chain.py).

Writers only append rows without a link. The chain job reads the rows not chained yet and
gives each its link, once (the UPDATE is conditional on a row having none; the schema's
trigger refuses every other change, migration 0014).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from storage.records import (
    AuditEntry,
    ChainedEntry,
    from_ts_required,
    to_ts,
)
from storage.repositories.base import Repository


class AuditRepository(Repository):
    def record(
        self,
        at: datetime,
        actor: str,
        action: str,
        *,
        account_id: str | None = None,
        telegram_user_id: int | None = None,
        **detail: object,
    ) -> None:
        self._run(
            "INSERT INTO audit_log (at, actor, telegram_user_id, account_id, action, detail)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                to_ts(at),
                actor,
                telegram_user_id,
                account_id,
                action,
                json.dumps(detail, default=str),
            ),
        )

    def append(self, at: datetime, actor: str, action: str, **detail: object) -> AuditEntry:
        """``record``, and the row as written (to chain it in the same transaction)."""
        row = self._one(
            "INSERT INTO audit_log (at, actor, telegram_user_id, account_id, action, detail)"
            f" VALUES (?, ?, NULL, NULL, ?, ?) RETURNING {_ENTRY}",
            (to_ts(at), actor, action, json.dumps(detail, default=str)),
        )
        assert row is not None
        return _entry(row)

    def failures_by_user_since(self, telegram_user_id: int, since: datetime) -> int:
        """Failed checks and rejected enrolment codes of one Telegram user since a time."""
        row = self._one(
            "SELECT COUNT(*) FROM audit_log WHERE telegram_user_id = ? AND at >= ? AND ("
            " action = 'enrolment_code_rejected' OR action = 'enrolment_failed' OR"
            " (action = 'code_checked' AND json_extract(detail, '$.result') = 'rejected'))",
            (telegram_user_id, to_ts(since)),
        )
        return int(row[0]) if row else 0

    def failed_checks_since(self, account_id: str, since: datetime) -> int:
        row = self._one(
            "SELECT COUNT(*) FROM audit_log WHERE account_id = ? AND action = 'code_checked'"
            " AND at >= ? AND json_extract(detail, '$.result') IN ('rejected', 'locked')",
            (account_id, to_ts(since)),
        )
        return int(row[0]) if row else 0

    def recent_checks(self, account_id: str, limit: int) -> list[AuditEntry]:
        """The account's last code checks (from the chat and the API), newest first."""
        rows = self._all(
            f"SELECT {_ENTRY} FROM audit_log WHERE account_id = ? AND action = 'code_checked'"
            " ORDER BY at DESC, id DESC LIMIT ?",
            (account_id, limit),
        )
        return [_entry(row) for row in rows]

    def entries(self, account_id: str | None = None) -> list[AuditEntry]:
        if account_id is None:
            rows = self._all(f"SELECT {_ENTRY} FROM audit_log ORDER BY id")
        else:
            rows = self._all(
                f"SELECT {_ENTRY} FROM audit_log WHERE account_id = ? ORDER BY id", (account_id,)
            )
        return [_entry(row) for row in rows]

    # ------------------------------------------------------------------ the chain

    def unchained(self, limit: int) -> list[AuditEntry]:
        """Rows without a link yet, oldest id first (an index holds only these)."""
        rows = self._all(
            f"SELECT {_ENTRY} FROM audit_log WHERE chain_mac IS NULL AND chain_seq IS NULL"
            " ORDER BY id LIMIT ?",
            (limit,),
        )
        return [_entry(row) for row in rows]

    def unchained_count(self) -> int:
        row = self._one(
            "SELECT COUNT(*) FROM audit_log WHERE chain_mac IS NULL AND chain_seq IS NULL"
        )
        return int(row[0]) if row else 0

    def first_half_chained(self) -> int | None:
        """The first row with part of a link only (a place without a link, or a link
        without a place): the chain job never writes one; an INSERT by hand can."""
        row = self._one(
            "SELECT MIN(id) FROM audit_log WHERE (chain_seq IS NULL) <> (chain_mac IS NULL)"
            " OR (chain_seq IS NULL) <> (chain_key_id IS NULL)"
        )
        return None if row is None or row[0] is None else int(row[0])

    def set_link(self, entry_id: int, seq: int, key_id: str, mac: bytes) -> bool:
        """Give a row its link; False when it has one already (nothing changes then)."""
        return self.set_links(key_id, [(entry_id, seq, mac)]) == 1

    def set_links(self, key_id: str, links: Sequence[tuple[int, int, bytes]]) -> int:
        """Give rows their links, ``(id, seq, mac)`` under ``key_id``, each only if it has
        none yet: how many were set. A few statements for the lot (one per power of two
        in their number): a statement each would cost a round trip per row."""
        done = start = 0
        while start < len(links):
            size = min(_MOST_LINKS, 1 << ((len(links) - start).bit_length() - 1))
            chunk = links[start : start + size]
            ids = [row[0] for row in chunk]
            params = (key_id, *(value for row in chunk for value in row), min(ids), max(ids))
            done += self._run(_set_links_sql(size), params)
            start += size
        return done

    def chain_head(self) -> ChainedEntry | None:
        """The last link of the chain (the highest chain_seq), if any row is chained."""
        row = self._one(
            f"SELECT {_CHAINED} FROM audit_log WHERE chain_seq IS NOT NULL"
            " ORDER BY chain_seq DESC LIMIT 1"
        )
        return None if row is None else _chained(row)

    def last_anchor(self) -> ChainedEntry | None:
        """The chain's last anchor (core/audit_chain.py), through its own index (migration
        0018; the action is written out so that the index applies)."""
        row = self._one(
            f"SELECT {_CHAINED} FROM audit_log WHERE action = '{ANCHOR_ACTION}'"
            " AND chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1"
        )
        return None if row is None else _chained(row)

    def chained_at(self, seq: int) -> ChainedEntry | None:
        row = self._one(f"SELECT {_CHAINED} FROM audit_log WHERE chain_seq = ?", (seq,))
        return None if row is None else _chained(row)

    def chained(self, after_seq: int, limit: int) -> list[ChainedEntry]:
        """Chained rows in chain order, from the first after ``after_seq`` (for walking)."""
        rows = self._all(
            f"SELECT {_CHAINED} FROM audit_log WHERE chain_seq > ? ORDER BY chain_seq LIMIT ?",
            (after_seq, limit),
        )
        return [_chained(row) for row in rows]

    def chained_for_export(
        self, since: datetime, account_id: str | None, after_seq: int, limit: int
    ) -> list[tuple[ChainedEntry, bytes | None]]:
        """Chained rows written at or after ``since`` (of one account, or all), in chain
        order from the first after ``after_seq``, each with the link before it (None when
        that row is not there)."""
        query = (
            f"SELECT {_CHAINED_AS_A}, p.chain_mac FROM audit_log a"
            " LEFT JOIN audit_log p ON p.chain_seq = a.chain_seq - 1"
            " WHERE a.chain_seq > ? AND a.at >= ?"
        )
        params: tuple[Any, ...] = (after_seq, to_ts(since))
        if account_id is not None:
            query += " AND a.account_id = ?"
            params += (account_id,)
        rows = self._all(query + " ORDER BY a.chain_seq LIMIT ?", (*params, limit))
        return [(_chained(row), None if row[10] is None else bytes(row[10])) for row in rows]


# The action of an anchor: a row rotate-key chains under the new key over the whole chain
# before it (core/audit_chain.py).
ANCHOR_ACTION = "audit_chain_anchored"
_MOST_LINKS = 256  # rows per statement (SQLite allows 32,766 parameters)


@cache
def _set_links_sql(rows: int) -> str:
    """One UPDATE for ``rows`` links (a VALUES list's columns are column1, column2, ...
    in both SQLite and PostgreSQL). The range of their ids bounds what the database
    looks at, whichever join it picks: never every row not chained yet."""
    values = ", ".join(["(?, ?, ?)"] * rows)
    return (
        "UPDATE audit_log SET chain_key_id = ?, chain_seq = v.column2, chain_mac = v.column3"
        f" FROM (VALUES {values}) AS v"
        " WHERE audit_log.id = v.column1 AND audit_log.chain_mac IS NULL"
        " AND audit_log.id BETWEEN ? AND ?"
    )


_ENTRY = "id, at, actor, telegram_user_id, account_id, action, detail"
_CHAINED = _ENTRY + ", chain_seq, chain_key_id, chain_mac"
_CHAINED_AS_A = ", ".join(f"a.{column.strip()}" for column in _CHAINED.split(","))


def _entry(row: tuple[Any, ...]) -> AuditEntry:
    return AuditEntry(row[0], from_ts_required(row[1]), row[2], row[3], row[4], row[5], row[6])


def _chained(row: tuple[Any, ...]) -> ChainedEntry:
    """(A row given a place by hand may lack a key id or link: empty, it verifies not.)"""
    return ChainedEntry(_entry(row), row[7], row[8] or "", bytes(row[9] or b""))
