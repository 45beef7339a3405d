"""The audit chain's links: what a row's keyed hash covers (``canonical``, ``link``), the
chain key under every configured key (``ChainKeys``), the keyless digest an anchor holds
(``fold``), and the walk along the chain that checks each link and names the first break
(``Walker``). Plain functions and values, no database: ``core/audit_chain.py`` feeds them
rows; the module docstring there says what the chain protects, and how anchors retire a
key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from core.crypto import SecretBox
from storage.records import AuditEntry, ChainedEntry, to_ts
from storage.repositories.audit import ANCHOR_ACTION

PURPOSE = b"2fa-desk/audit-chain/v1"
GENESIS = bytes(32)  # the "previous link" of the first row
DIGEST_PURPOSE = b"2fa-desk/audit-digest/v1"


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
    # "changed", "missing", "inserted", "unknown_key", "retired_key", "not_as_anchored",
    # "not_as_posted", or "stray" (a row with part of a link only, outside the chain;
    # ``seq`` 0)
    reason: str
    key_id: str | None = None  # for "unknown_key" and "retired_key": the key the row names
    anchor: int | None = None  # for "retired_key": the anchor that retired it


class ChainKeys:
    """The chain's key under every configured key of the keyring, by key id."""

    def __init__(self, box: SecretBox) -> None:
        self.current_id = box.current_id
        self._keys = box.derived(PURPOSE)
        self.ids = frozenset(self._keys)

    @property
    def current(self) -> bytes:
        return self._keys[self.current_id]

    def get(self, key_id: str) -> bytes | None:
        return self._keys.get(key_id)


def link_holds(keys: ChainKeys, previous: bytes, item: ChainedEntry, seq: int) -> bool | None:
    """Whether ``item``'s link is right at place ``seq`` after ``previous`` (None: its
    key is not configured)."""
    key = keys.get(item.key_id)
    if key is None:
        return None
    return hmac.compare_digest(link(key, previous, item.entry, seq), item.mac)


def fold(digest: bytes, item: ChainedEntry) -> bytes:
    """The keyless digest of the chain up to ``item``, from the digest before it."""
    return hashlib.sha256(
        DIGEST_PURPOSE
        + digest
        + canonical(item.entry, item.seq)
        + b"\x00"
        + item.key_id.encode("ascii", "replace")
        + b"\x00"
        + item.mac
    ).digest()


@dataclass(frozen=True)
class Anchor:
    """What an anchor row says: the place of the row before it, the digest of the chain up
    to there, and the keys it retires."""

    covers: int
    digest: bytes
    retires: frozenset[str]


def anchor_of(entry: AuditEntry) -> Anchor | None:
    """The anchor an audit row is, if it is one."""
    if entry.action != ANCHOR_ACTION:
        return None
    try:
        detail = json.loads(entry.detail)
        return Anchor(
            int(detail["covers"]), bytes.fromhex(detail["digest"]), frozenset(detail["retires"])
        )
    except (ValueError, KeyError, TypeError):
        return None


@dataclass
class Walker:
    """The state of a walk along the chain, fed rows in order (``feed``); a copy goes on
    from where it is (``copy``), so the anchor's transaction can catch up with what was
    chained meanwhile without changing the walk it started from."""

    keys: ChainKeys
    seq: int = 0  # the last place walked
    previous: bytes = GENESIS  # its link
    digest: bytes = GENESIS  # the keyless digest up to it
    retired: dict[str, int] = field(default_factory=dict)  # key id -> the anchor's place
    seen: set[str] = field(default_factory=set)  # the keys of every row walked
    since_anchor: set[str] = field(default_factory=set)  # ... since the last anchor
    uncovered: Break | None = None  # the first row under a key not configured, no anchor yet
    unvouched: int = 0  # rows under a key not configured since the last anchor
    vouched: int = 0  # rows under a key not configured that an anchor vouches for
    vouched_keys: set[str] = field(default_factory=set)
    last_anchor: int | None = None

    def copy(self) -> Walker:
        return replace(
            self,
            retired=dict(self.retired),
            seen=set(self.seen),
            since_anchor=set(self.since_anchor),
            vouched_keys=set(self.vouched_keys),
        )

    @property
    def needs(self) -> frozenset[str]:
        """The keys other than the current one that the chain still needs: those of rows
        after the last anchor (all rows, without one). Empty: nothing to anchor."""
        return frozenset(self.since_anchor - {self.keys.current_id})

    def feed(self, links: Sequence[ChainedEntry], following: ChainedEntry | None) -> Break | None:
        """Walk ``links`` (``following``: the row after them, if any, to tell an inserted
        row from a changed one): the first break, or None."""
        for index, item in enumerate(links):
            after = links[index + 1] if index + 1 < len(links) else following
            broken = self._step(item, after)
            if broken is not None:
                return broken
        return None

    def finish(self) -> Break | None:
        """At the end of the chain: a row under a key not configured, that no anchor
        under a configured key vouches for, is a break."""
        return self.uncovered

    def _step(self, item: ChainedEntry, after: ChainedEntry | None) -> Break | None:
        """A row whose link is wrong is "inserted" when the row after it links to the one
        before it, as if it were not there (it was put in and the later places
        renumbered), else "changed" (its content or its link was edited, or it was added
        with a forged link)."""
        expected = self.seq + 1
        entry_id = item.entry.id
        if item.seq > expected:
            return Break(expected, entry_id, "missing")
        if item.seq < expected:  # a second row at a place already taken
            return Break(item.seq, entry_id, "inserted")
        kid = item.key_id
        if kid in self.retired:
            return Break(item.seq, entry_id, "retired_key", kid, self.retired[kid])
        holds = link_holds(self.keys, self.previous, item, item.seq) if kid and item.mac else False
        if holds is False:
            if after is not None and link_holds(self.keys, self.previous, after, item.seq):
                return Break(item.seq, entry_id, "inserted")
            return Break(item.seq, entry_id, "changed")
        if holds is None:  # under a key not configured: an anchor after it must vouch
            if self.uncovered is None:
                self.uncovered = Break(item.seq, entry_id, "unknown_key", kid)
            self.unvouched += 1
            self.vouched_keys.add(kid)
        anchor = anchor_of(item.entry) if holds else None
        if anchor is not None:
            if anchor.covers != item.seq - 1 or anchor.digest != self.digest:
                return Break(item.seq, entry_id, "not_as_anchored")
            self.uncovered = None
            self.vouched += self.unvouched
            self.unvouched = 0
            self.last_anchor = item.seq
            for old in (self.seen | anchor.retires) - {kid}:
                self.retired.setdefault(old, item.seq)
            self.since_anchor = set()
        self.digest = fold(self.digest, item)
        self.seen.add(kid)
        self.since_anchor.add(kid)
        self.previous, self.seq = item.mac, item.seq
        return None
