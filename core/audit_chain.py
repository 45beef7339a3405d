"""A tamper-evident audit log: every row, once chained, carries a keyed hash (HMAC-SHA256
under a key derived from the keyring) over its content, its place and the previous row's
hash.

Editing, deleting or inserting a chained row breaks the chain at that row, and
``python -m bot audit verify`` names it. The head (the last link) is posted to the ops
chat once a day, so a rewrite of the whole chain, by someone who also holds the key,
shows against those posts.

Rows are chained after the fact, in batches, by the active bot's job, in the order the
job finds them committed. Writers (every verification, in every API process) only append
a row, as before: chaining at insert time would make every transaction of every process
wait for the one before it (the previous link), a single queue for all logins. What this
leaves open: a row is protected once chained (seconds, normally), and a row that is
committed late (or slipped in directly with an old time) is chained where the job finds
it; such a row is chained with a warning alert, so it shows.

One chainer at a time: the job runs on the active bot only. Should a second one ever run
(a standby taking over while the old bot still finishes a batch), it cannot fork the
chain: a batch reads the head and writes its links in one transaction, ``chain_seq`` is
unique and a link is only written on a row that has none, so one of the two fails and
nothing of it lands.

Keys: a row is chained under the keyring's current key and keeps that key's id, so after
a rotation the older rows verify while the old key is in SECRETS_KEYS_PREVIOUS.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from core.clock import Clock
from core.crypto import SecretBox
from core.leadership import Leadership
from storage.db import Database
from storage.records import AuditEntry, ChainedEntry, from_ts_required, to_ts
from storage.repositories import Transaction

logger = logging.getLogger(__name__)

PURPOSE = b"2fa-desk/audit-chain/v1"
GENESIS = bytes(32)  # the "previous link" of the first row
CHAIN_BATCH = 500  # rows chained per transaction
PASS_SECONDS = 3.0  # a pass chains for this long at most (the job's next run goes on)
WALK_BATCH = 1000  # rows read per transaction by verify and export
LATE_AFTER = timedelta(minutes=1)  # a row chained later than this after its time: alert


def canonical(entry: AuditEntry, seq: int) -> bytes:
    """The bytes a row's hash covers: every column it was written with, and its place."""
    return json.dumps(
        [
            seq,
            entry.id,
            to_ts(entry.at),
            entry.actor,
            entry.telegram_user_id,
            entry.account_id,
            entry.action,
            entry.detail,
        ],
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")


def link(key: bytes, previous: bytes, entry: AuditEntry, seq: int) -> bytes:
    return hmac.new(key, previous + canonical(entry, seq), hashlib.sha256).digest()


@dataclass(frozen=True)
class Break:
    """The first place where the chain does not hold, and why."""

    seq: int
    entry_id: int | None  # the row there; for "missing", the row the chain goes on with
    # "changed", "missing", "inserted", "unknown_key", "not_as_posted", or "stray" (a row
    # with part of a link only, outside the chain; ``seq`` 0)
    reason: str
    key_id: str | None = None  # for "unknown_key": the key the row names


class ChainKeys:
    """The chain's key under every configured key of the keyring, by key id."""

    def __init__(self, box: SecretBox) -> None:
        self.current_id = box.current_id
        self._keys = box.derived(PURPOSE)

    @property
    def current(self) -> bytes:
        return self._keys[self.current_id]

    def get(self, key_id: str) -> bytes | None:
        return self._keys.get(key_id)


def _holds(keys: ChainKeys, previous: bytes, item: ChainedEntry, seq: int) -> bool | None:
    """Whether ``item``'s link is right at place ``seq`` after ``previous`` (None: its
    key is not configured)."""
    key = keys.get(item.key_id)
    if key is None:
        return None
    return hmac.compare_digest(link(key, previous, item.entry, seq), item.mac)


def verify(
    links: Sequence[ChainedEntry], keys: ChainKeys, previous: bytes = GENESIS, start: int = 1
) -> Break | None:
    """Walk chained rows in order (``seq`` from ``start``, ``previous`` the link before):
    the first break, or None when every row holds.

    A row whose link is wrong is "inserted" when the row after it links to the one before
    it, as if it were not there (it was put in and the later places renumbered), else
    "changed" (its content or its link was edited, or it was added with a forged link)."""
    expected = start
    for index, item in enumerate(links):
        if item.seq > expected:
            return Break(expected, item.entry.id, "missing")
        if item.seq < expected:  # a second row at a place already taken
            return Break(item.seq, item.entry.id, "inserted")
        holds = _holds(keys, previous, item, item.seq) if item.key_id and item.mac else False
        if holds is None:
            return Break(item.seq, item.entry.id, "unknown_key", item.key_id)
        if not holds:
            following = links[index + 1] if index + 1 < len(links) else None
            if following is not None and _holds(keys, previous, following, item.seq):
                return Break(item.seq, item.entry.id, "inserted")
            return Break(item.seq, item.entry.id, "changed")
        previous = item.mac
        expected += 1
    return None


# ---------------------------------------------------------------------- export


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
        holds = _holds(keys, previous, item, item.seq)
        if holds is None:
            return Break(item.seq, item.entry.id, "unknown_key", item.key_id)
        if not holds:
            return Break(item.seq, item.entry.id, "changed")
        last = item
    return None


# ---------------------------------------------------------------------- chaining


@dataclass(frozen=True)
class Batch:
    chained: int
    late: int


def chain_batch(
    tx: Transaction, keys: ChainKeys, now: datetime, limit: int, *, alert_late: bool
) -> Batch:
    """Chain up to ``limit`` rows, oldest id first, after the head: one transaction. Rows
    older than LATE_AFTER raise one ``audit_row_late`` alert (when ``alert_late``)."""
    head = tx.audit.chain_head()
    previous, seq = (GENESIS, 0) if head is None else (head.mac, head.seq)
    rows = tx.audit.unchained(limit)
    links = []
    for entry in rows:
        seq += 1
        previous = link(keys.current, previous, entry, seq)
        links.append((entry.id, seq, previous))
    if tx.audit.set_links(keys.current_id, links) != len(links):
        # A row was chained meanwhile by someone else: nothing of this batch may land.
        raise ChainConflictError("audit rows of this batch were chained by another chainer")
    late = [entry for entry in rows if now - entry.at > LATE_AFTER]
    if late and alert_late:
        oldest = min(entry.at for entry in late)
        tx.alerts.raise_event(
            now,
            "audit_row_late",
            "warning",
            rows=len(late),
            first_row=late[0].id,
            minutes=int((now - oldest).total_seconds() // 60),
        )
    return Batch(len(rows), len(late))


class ChainConflictError(RuntimeError):
    """Another chainer chained a row of this batch: the batch rolls back."""


@dataclass(frozen=True)
class Walk:
    """What ``verify`` found: rows checked, rows not chained yet, the head, a break."""

    chained: int
    unchained: int
    head: ChainedEntry | None
    broken: Break | None


class AuditChain:
    """Chains the audit log (the active bot's job), posts its head, walks it, exports it."""

    def __init__(
        self, db: Database, clock: Clock, box: SecretBox, leadership: Leadership | None = None
    ) -> None:
        self._db = db
        self._clock = clock
        # The daily head goes to the ops chat: raised only while this bot may send.
        self._sending = leadership or Leadership(db)
        self.keys = ChainKeys(box)
        # One pass at a time in this process (the job, the daily head, the stop).
        self._lock = asyncio.Lock()

    async def chain_pending(self) -> Batch:
        """Chain every row not chained yet (for PASS_SECONDS at most): how many, and how
        many of them late. One late alert per pass at most."""
        async with self._lock:
            chained = late = 0
            deadline = time.monotonic() + PASS_SECONDS
            while time.monotonic() < deadline:
                batch = await self._chain_batch(alert_late=late == 0)
                chained += batch.chained
                late += batch.late
                if batch.chained < CHAIN_BATCH:
                    break
        if late:
            logger.warning(
                "audit log: %d of %d rows chained more than %d s after they were written",
                late,
                chained,
                LATE_AFTER.total_seconds(),
            )
        return Batch(chained, late)

    async def post_head(self) -> ChainedEntry | None:
        """Chain what waits, then raise the ``audit_head`` alert: the head's place, key id
        and link, for the ops chat's record (None, and no alert, while nothing is chained)."""
        await self.chain_pending()
        now = self._clock.now()

        def work(tx: Transaction) -> ChainedEntry | None:
            head = tx.audit.chain_head()
            if head is not None:
                tx.alerts.raise_event(
                    now,
                    "audit_head",
                    "info",
                    seq=head.seq,
                    key_id=head.key_id,
                    mac=head.mac.hex(),
                )
            return head

        return await self._sending.run(work)

    async def walk(self, batch: int = WALK_BATCH) -> Walk:
        """Verify the whole chain, ``batch`` rows per transaction: the first break, or the
        count and the head when it holds."""
        previous, start, count = GENESIS, 1, 0
        head: ChainedEntry | None = None
        while True:
            # One row more than the batch: the next batch's first row, to look ahead at.
            links = await self._chained(start - 1, batch + 1)
            more = len(links) > batch
            checked = links[:batch]
            broken = verify(links, self.keys, previous, start)
            if broken is not None and not (more and broken.seq > checked[-1].seq):
                return Walk(count + broken.seq - start, 0, head, broken)
            if not checked:
                break
            count += len(checked)
            head = checked[-1]
            previous, start = head.mac, head.seq + 1
            if not more:
                break
        stray = await self._db.run(lambda tx: tx.audit.first_half_chained())
        if stray is not None:
            return Walk(count, 0, head, Break(0, stray, "stray"))
        return Walk(count, await self.unchained(), head, None)

    async def check_posted(self, seq: int, mac: bytes) -> Break | None:
        """Whether the row at ``seq`` still carries the link an ``audit_head`` post named."""
        item = await self._db.run(lambda tx: tx.audit.chained_at(seq))
        if item is None:
            return Break(seq, None, "missing")
        if not hmac.compare_digest(item.mac, mac):
            return Break(seq, item.entry.id, "not_as_posted")
        return None

    async def export(
        self, since: datetime, account_id: str | None = None, batch: int = WALK_BATCH
    ) -> AsyncIterator[dict[str, Any]]:
        """The chained rows written since ``since`` (of one account, or all) in chain
        order, as records (``to_record``), ``batch`` rows per transaction."""
        after = 0
        while True:
            rows = await self._for_export(since, account_id, after, batch)
            for item, previous in rows:
                yield to_record(item, GENESIS if item.seq == 1 else previous)
            if len(rows) < batch:
                return
            after = rows[-1][0].seq

    async def unchained(self) -> int:
        return await self._db.run(lambda tx: tx.audit.unchained_count())

    async def _chain_batch(self, *, alert_late: bool) -> Batch:
        now = self._clock.now()
        return await self._db.run(
            lambda tx: chain_batch(tx, self.keys, now, CHAIN_BATCH, alert_late=alert_late)
        )

    async def _chained(self, after: int, limit: int) -> list[ChainedEntry]:
        return await self._db.run(lambda tx: tx.audit.chained(after, limit))

    async def _for_export(
        self, since: datetime, account_id: str | None, after: int, limit: int
    ) -> list[tuple[ChainedEntry, bytes | None]]:
        return await self._db.run(
            lambda tx: tx.audit.chained_for_export(since, account_id, after, limit)
        )
