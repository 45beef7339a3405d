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

Keys, and retiring one: a row is chained under the keyring's current key and keeps that
key's id. ``python -m bot rotate-key`` then re-anchors the chain (``AuditChain.anchor``):
it verifies the whole chain with every configured key, and chains one more row, the
anchor, under the new key. The anchor holds a keyless digest (SHA-256, folded row by row)
of every row before it, its link and its key id, and names the keys it retires (every
other key seen in the chain or configured). From then on:
- a row before the anchor whose key is no longer configured is checked against the digest,
  which the new key vouches for: its own link cannot be checked any more, but a changed,
  added or removed row changes the digest;
- a row after the anchor chained under a retired key is refused (``retired_key``), even
  with that key configured: whoever still holds the old key (a leak) cannot add a row
  that verifies, nor rewrite one before the anchor;
- a process still running with a retired SECRETS_KEY does not chain (its rows would be
  refused): it leaves them to a process with the new key, and says so in its log.
So after rotate-key the old key can go: ``audit verify`` holds over the whole log with the
new key alone.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from core.audit_export import to_record
from core.audit_links import GENESIS, Break, ChainKeys, Walker, anchor_of, link
from core.clock import Clock
from core.crypto import SecretBox
from core.leadership import Leadership
from storage.db import Database
from storage.records import ChainedEntry
from storage.repositories import Transaction
from storage.repositories.audit import ANCHOR_ACTION

logger = logging.getLogger(__name__)

CHAIN_BATCH = 500  # rows chained per transaction
PASS_SECONDS = 3.0  # a pass chains for this long at most (the job's next run goes on)
WALK_BATCH = 1000  # rows read per transaction by verify and export
LATE_AFTER = timedelta(minutes=1)  # a row chained later than this after its time: alert
ANCHOR_ACTOR = "operator"
CATCH_UP = 1000  # rows chained meanwhile that the anchor's transaction verifies itself
ANCHOR_ATTEMPTS = 10


@dataclass(frozen=True)
class Batch:
    chained: int
    late: int
    retired: bool = False  # an anchor retired this process's key: it chained nothing


def retired_by(tx: Transaction, keys: ChainKeys) -> int | None:
    """The place of the last anchor, if it retired this process's current key (it runs
    with an old SECRETS_KEY: whatever it chained would be refused). Not checked against
    its link, which this process may not be able to: a forged anchor only stops chaining
    here, for a process with the new key to do."""
    last = tx.audit.last_anchor()
    if last is None:
        return None
    anchor = anchor_of(last.entry)
    if anchor is not None and keys.current_id in anchor.retires:
        return last.seq
    return None


def chain_batch(
    tx: Transaction, keys: ChainKeys, now: datetime, limit: int, *, alert_late: bool
) -> Batch:
    """Chain up to ``limit`` rows, oldest id first, after the head: one transaction. Rows
    older than LATE_AFTER raise one ``audit_row_late`` alert (when ``alert_late``). None
    when an anchor retired this process's current key (``retired_by``)."""
    if retired_by(tx, keys) is not None:
        return Batch(0, 0, retired=True)
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
    """What ``verify`` found: rows checked, rows not chained yet, the head, a break; the
    keys other than the current one that the chain still needs (``Walker.needs``: while
    there are any, rotate-key anchors), and the rows under keys not configured that an
    anchor vouches for (how many, their keys, the last anchor)."""

    chained: int
    unchained: int
    head: ChainedEntry | None
    broken: Break | None
    needs: frozenset[str] = frozenset()
    vouched: int = 0
    vouched_keys: frozenset[str] = frozenset()
    last_anchor: int | None = None


@dataclass(frozen=True)
class Anchored:
    """What ``anchor`` did: the anchor's place (None: none was needed, or the chain does
    not hold: ``broken``), and how many rows it verified first."""

    seq: int | None
    verified: int
    broken: Break | None = None
    needs: frozenset[str] = frozenset()


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
                if batch.retired:
                    logger.warning(
                        "audit log: not chained here: this process's SECRETS_KEY (key %s) "
                        "was retired by rotate-key; restart it with the new SECRETS_KEY",
                        self.keys.current_id,
                    )
                    break
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
        walker, broken = await self._walk_on(Walker(self.keys), batch)
        broken = broken or walker.finish()
        head = (
            await self._db.run(lambda tx: tx.audit.chained_at(walker.seq)) if walker.seq else None
        )
        if broken is not None:
            return Walk(max(broken.seq - 1, 0), 0, head, broken, walker.needs)
        stray = await self._db.run(lambda tx: tx.audit.first_half_chained())
        if stray is not None:
            return Walk(walker.seq, 0, head, Break(0, stray, "stray"), walker.needs)
        return Walk(
            walker.seq,
            await self.unchained(),
            head,
            None,
            walker.needs,
            walker.vouched,
            frozenset(walker.vouched_keys),
            walker.last_anchor,
        )

    async def _walk_on(
        self, walker: Walker, batch: int = WALK_BATCH
    ) -> tuple[Walker, Break | None]:
        """Walk on from where ``walker`` is to the end of the chain (changing it): the
        first break, if any."""
        while True:
            # One row more than the batch: the next batch's first row, to look ahead at.
            links = await self._chained(walker.seq, batch + 1)
            following = links[batch] if len(links) > batch else None
            broken = walker.feed(links[:batch], following)
            if broken is not None or following is None:
                return walker, broken

    async def anchor(self) -> Anchored:
        """Re-anchor the chain under the current key (rotate-key): verify it all with the
        configured keys, then chain an anchor over it under the current key, retiring
        every other key. Nothing when the chain needs no other key, or does not hold."""
        async with self._lock:
            walker = Walker(self.keys)
            for _ in range(ANCHOR_ATTEMPTS):
                walker, broken = await self._walk_on(walker)
                broken = broken or walker.finish()
                if broken is not None:
                    return Anchored(None, walker.seq, broken, walker.needs)
                if not walker.needs:
                    return Anchored(None, walker.seq)
                now = self._clock.now()
                placed = await self._db.run(partial(self._anchor_in, walker=walker, now=now))
                if isinstance(placed, Break):
                    return Anchored(None, walker.seq, placed, walker.needs)
                if placed is not None:
                    return Anchored(placed, placed - 1)
                # More was chained meanwhile than the transaction verifies: walk on.
        raise ChainConflictError("the chain grew faster than it could be anchored; run again")

    def _anchor_in(self, tx: Transaction, *, walker: Walker, now: datetime) -> int | Break | None:
        """In one transaction: verify what was chained since the walk, then chain the
        anchor after it; its place (None: too much to catch up with here)."""
        walker = walker.copy()  # this work may run again: the walk it starts from stays
        rest = tx.audit.chained(walker.seq, CATCH_UP + 1)
        if len(rest) > CATCH_UP:
            return None
        broken = walker.feed(rest, None) or walker.finish()
        if broken is not None:
            return broken
        retires = sorted((walker.seen | self.keys.ids) - {self.keys.current_id})
        entry = tx.audit.append(
            now,
            ANCHOR_ACTOR,
            ANCHOR_ACTION,
            covers=walker.seq,
            digest=walker.digest.hex(),
            retires=retires,
        )
        seq = walker.seq + 1
        mac = link(self.keys.current, walker.previous, entry, seq)
        if not tx.audit.set_link(entry.id, seq, self.keys.current_id, mac):
            raise ChainConflictError("the anchor row was chained by another chainer")
        return seq

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
