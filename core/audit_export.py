"""The audit log as exported for a SIEM (``python -m bot audit export``): one record per
chained row, with every column, its place, key id and link and the link before it, so
that a row verifies alone; and the check an auditor runs on such lines with the chain key
(``verify_records``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from core.audit_links import GENESIS, Break, ChainKeys, link_holds
from storage.records import AuditEntry, ChainedEntry, from_ts_required, to_ts


def to_record(item: ChainedEntry, previous: bytes | None) -> dict[str, Any]:
    """One exported line: every column, the row's place, key id and link, and the link
    before it (``prev_mac``; None when that row is not there), so a row verifies alone."""
    entry = item.entry
    return {
        "seq": item.seq,
        "id": entry.id,
        "at": entry.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "actor": entry.actor,
        "telegram_user_id": entry.telegram_user_id,
        "account_id": entry.account_id,
        "action": entry.action,
        "detail": entry.detail,  # the JSON text as stored: what the link covers
        "key_id": item.key_id,
        "mac": item.mac.hex(),
        "prev_mac": None if previous is None else previous.hex(),
    }


def from_record(record: Mapping[str, Any]) -> tuple[ChainedEntry, bytes | None]:
    """The row and the link before it, as an exported line holds them."""
    at = datetime.fromisoformat(record["at"])
    entry = AuditEntry(
        record["id"],
        from_ts_required(to_ts(at)),
        record["actor"],
        record["telegram_user_id"],
        record["account_id"],
        record["action"],
        record["detail"],
    )
    previous = record["prev_mac"]
    item = ChainedEntry(entry, record["seq"], record["key_id"], bytes.fromhex(record["mac"]))
    return item, None if previous is None else bytes.fromhex(previous)


def verify_records(
    records: Iterable[Mapping[str, Any]], keys: ChainKeys, *, whole: bool = False
) -> Break | None:
    """Check exported lines as an auditor would, with the chain key: each row against its
    link and the link before it, and, where rows follow each other, that each names the
    one before. An export filtered by time or account has gaps; ``whole``: the lines are
    the whole chain, from seq 1 without a gap."""
    last: ChainedEntry | None = None
    for record in records:
        item, previous = from_record(record)
        expected = 1 if last is None else last.seq + 1
        if item.seq < expected:
            return Break(item.seq, item.entry.id, "inserted")
        if item.seq > expected and whole:
            return Break(expected, item.entry.id, "missing")
        if previous is None:
            return Break(item.seq - 1, item.entry.id, "missing")
        if item.seq == expected and last is not None and previous != last.mac:
            return Break(item.seq, item.entry.id, "changed")
        if item.seq == 1 and previous != GENESIS:
            return Break(item.seq, item.entry.id, "changed")
        holds = link_holds(keys, previous, item, item.seq)
        if holds is None:
            return Break(item.seq, item.entry.id, "unknown_key", item.key_id)
        if not holds:
            return Break(item.seq, item.entry.id, "changed")
        last = item
    return None
