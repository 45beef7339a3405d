"""Keys in use: what each key still holds, re-sealing under the current key, and a check
that every sealed value opens.

The keyring (core/crypto.py) seals with SECRETS_KEY and opens with it or with a key in
SECRETS_KEYS_PREVIOUS; every sealed value names its key (a key id in its first bytes).

- ``key_usage`` counts, per key id, the sealed values (grouped by the blobs' prefix in
  SQL: none is opened) and the recovery codes that still work (by their recorded key).
- ``check_keys_at_start`` runs in every process before it serves (``Services.open``): a
  value under a key that is not configured stops the start, in one line (it could never
  be opened); values still under a previous key are a warning.
- ``rotate`` (``python -m bot rotate-key``, bot/commands/keys.py) re-seals every value
  that is not under the current key, online, beside the running bot and API: in
  batches, each read in one short transaction, opened and sealed again in memory only,
  and written back in another with a compare-and-swap (only where the row still holds
  the blob that was read). A concurrent change wins; the row is read again on a later
  pass. An interrupted run is simply started again: it continues with what is not under
  the current key yet.
- ``check`` (``python -m bot check-key``, bot/commands/keys.py) opens every sealed value
  and names, by account and row id, those that do not open.

Recovery codes are keyed hashes, not sealed values. Their codes are not kept, so they
cannot be hashed again: each keeps working while its key is configured, and moves to the
current key with the account's next new set.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from core.audit_chain import Anchored, AuditChain, Walk
from core.clock import Clock, SystemClock
from core.config import ConfigError
from core.crypto import (
    FORMAT_V2,
    KEY_ID_BYTES,
    LEGACY_KEY_ID,
    SealError,
    SecretBox,
    UnknownKeyError,
    key_id,
    sealed_key_id,
)
from core.recovery import keep_legacy_keys
from storage.db import Database
from storage.repositories import Transaction
from storage.repositories.sealed import SEALED_COLUMNS, SealedColumn, SealedValue

logger = logging.getLogger(__name__)

BATCH_ROWS = 100  # values per transaction: short ones, so the bot and the API keep serving
CHECK_BATCH_ROWS = 500
# Passes over the tables while rows change under the rotation (each pass reads again
# only what is still not under the current key).
MAX_PASSES = 5
ROTATION_ACTOR = "operator"

Progress = Callable[[int], object]


def _prefix(kid: str) -> bytes:
    """How a value sealed under the key ``kid`` begins (core/crypto.py's format v2)."""
    return FORMAT_V2 + bytes.fromhex(kid)


@dataclass(frozen=True)
class KeyUsage:
    """What each key holds. ``sealed``: values by key id (``v1``: from before key ids,
    their key not named); ``recovery_codes``: unused codes stored as keyed hashes (from
    before salted ones) by the key their hash was made under (None: issued before key ids
    were recorded); ``recovery_codes_keyless``: unused codes stored as salted hashes,
    which need no key; ``recovery_keys_kept``: the keys of keyed hashes that rotate-key
    keeps sealed under the current key (core/recovery.py), so those codes do not need
    their SECRETS_KEY any more."""

    sealed: dict[str, int]
    recovery_codes: dict[str | None, int]
    recovery_codes_keyless: int = 0
    recovery_keys_kept: frozenset[str] = frozenset()

    def sealed_not_under(self, kid: str) -> int:
        return sum(count for key, count in self.sealed.items() if key != kid)

    def codes_needing(self, kid: str) -> int:
        """Unused recovery codes that stop working without the SECRETS_KEY ``kid``:
        those hashed under it (and those from before key ids, which may be), unless
        rotate-key keeps their key."""
        if kid in self.recovery_keys_kept:
            return 0
        return self.recovery_codes.get(kid, 0) + self.recovery_codes.get(None, 0)


def _usage(tx: Transaction) -> KeyUsage:
    sealed: Counter[str] = Counter()
    for column in SEALED_COLUMNS:
        counts = tx.sealed.count_by_prefix(column.table, FORMAT_V2, 1 + KEY_ID_BYTES)
        for prefix, count in counts.items():
            kid = LEGACY_KEY_ID if prefix is None else prefix[1:].hex()
            sealed[kid] += count
    return KeyUsage(
        dict(sealed),
        tx.recovery.legacy_live_by_key(),
        tx.recovery.salted_live(),
        frozenset(tx.recovery.kept_keys()),
    )


async def key_usage(db: Database) -> KeyUsage:
    """Counted in one transaction, without opening a value."""
    return await db.run(_usage)


# ------------------------------------------------------------------------ at start


def previous_places(previous: Sequence[bytes]) -> dict[str, int]:
    """Key id -> its place in SECRETS_KEYS_PREVIOUS (1 for the first)."""
    places: dict[str, int] = {}
    for place, key in enumerate(previous, 1):
        places.setdefault(key_id(key), place)
    return places


def missing_keys_line(missing: dict[str, int]) -> str:
    """One line for values under keys that are not configured."""
    named = ", ".join(f"key {kid}: {count:,} values" for kid, count in sorted(missing.items()))
    return (
        f"sealed values name a key that is neither SECRETS_KEY nor in SECRETS_KEYS_PREVIOUS "
        f"({named}): they cannot be opened; add the key to SECRETS_KEYS_PREVIOUS or restore it"
    )


async def check_keys_at_start(
    db: Database, box: SecretBox, previous: Sequence[bytes] = ()
) -> KeyUsage:
    """Refuse (ConfigError) when a sealed value names a key that is not configured; warn
    about values still under a previous key. Cheap: one grouped count, nothing opened."""
    usage = await key_usage(db)
    configured = set(box.key_ids)
    missing = {
        kid: count
        for kid, count in usage.sealed.items()
        if kid != LEGACY_KEY_ID and kid not in configured
    }
    if missing:
        raise ConfigError(missing_keys_line(missing))
    places = previous_places(previous)
    # Counts are written with thousands separators and a key's place beside its id: the
    # log's redaction takes any six digits in a row for a code.
    for kid, count in sorted(usage.sealed.items()):
        if kid == box.current_id:
            continue
        if kid == LEGACY_KEY_ID:
            logger.warning(
                "%s sealed values date from before key ids (their key is not recorded): "
                "python -m bot rotate-key re-seals them under SECRETS_KEY",
                f"{count:,}",
            )
        else:
            logger.warning(
                "the previous key %s (SECRETS_KEYS_PREVIOUS entry %d) still seals %s values: "
                "run python -m bot rotate-key, then check-key, before removing it",
                kid,
                places.get(kid, 0),
                f"{count:,}",
            )
    for code_kid, count in sorted(usage.recovery_codes.items(), key=lambda i: i[0] or ""):
        if code_kid is None or code_kid == box.current_id or code_kid in usage.recovery_keys_kept:
            continue
        if code_kid in configured:
            logger.info(
                "%s recovery codes are hashed under the previous key %s "
                "(SECRETS_KEYS_PREVIOUS entry %d): python -m bot rotate-key keeps the key "
                "they need, so that they outlive it",
                f"{count:,}",
                code_kid,
                places.get(code_kid, 0),
            )
        else:
            logger.warning(
                "%s unused recovery codes were hashed under the key %s, which is not "
                "configured: they no longer work (users get a new set with /recovery)",
                f"{count:,}",
                code_kid,
            )
    return usage


# ------------------------------------------------------------------- opening values


@dataclass(frozen=True)
class Unopened:
    """A sealed value that does not open: where it is and why, never what it holds."""

    kind: str  # "device", "pending enrolment"
    row_id: str
    account_id: str
    key_id: str
    reason: str

    def describe(self) -> str:
        if not self.account_id:  # a kept recovery code key: bound to its key id alone
            return f"{self.kind} {self.row_id}: {self.reason}"
        return f"{self.kind} {self.row_id} of account {self.account_id}: {self.reason}"


_KINDS = {column.table: column.kind for column in SEALED_COLUMNS}


def _open(box: SecretBox, value: SealedValue) -> str | Unopened:
    """The secret (kept in memory only), or why it does not open."""
    try:
        return box.open(value.blob, account_id=value.account_id, device_id=value.row_id)
    except UnknownKeyError as exc:
        reason = f"sealed under key {exc.key_id}, which is not configured"
    except SealError:
        reason = "does not open (changed, copied from another row, or under another key)"
    return Unopened(
        _KINDS[value.table], value.row_id, value.account_id, sealed_key_id(value.blob), reason
    )


# ------------------------------------------------------------------------- rotation


@dataclass
class RotationReport:
    current_id: str
    resealed: int = 0
    batches: int = 0
    raced: int = 0  # rows that changed between the read and the swap: read again
    unopened: list[Unopened] = field(default_factory=list)
    usage: KeyUsage = field(default_factory=lambda: KeyUsage({}, {}))
    anchored: Anchored = field(default_factory=lambda: Anchored(None, 0))

    @property
    def complete(self) -> bool:
        """Every sealed value is under the current key."""
        return self.usage.sealed_not_under(self.current_id) == 0


async def rotate(
    db: Database,
    box: SecretBox,
    *,
    batch_rows: int = BATCH_ROWS,
    progress: Progress | None = None,
    clock: Clock | None = None,
) -> RotationReport:
    """Re-seal every value not under the current key (see the module docstring).
    ``progress`` is called after each batch with how many values it settled (re-sealed,
    or found not to open)."""
    report = RotationReport(box.current_id)
    now = (clock or SystemClock()).now()
    # First the keys that recovery codes from before salted hashes need, sealed under the
    # current key (and so not re-sealed below), before the old key may go.
    await db.run(partial(keep_legacy_keys, box=box, now=now))
    unopened: dict[tuple[str, str], Unopened] = {}
    for _ in range(MAX_PASSES):
        raced = 0
        for column in SEALED_COLUMNS:
            raced += await _rotate_column(db, box, column, batch_rows, report, unopened, progress)
        report.raced += raced
        if raced == 0:
            break
    report.unopened = list(unopened.values())
    report.usage = await key_usage(db)
    if report.resealed:
        await db.run(
            partial(
                _audit_rotation,
                now=now,
                current_id=box.current_id,
                resealed=report.resealed,
                remaining=report.usage.sealed_not_under(box.current_id),
            )
        )
    # Last the audit chain: verified with every configured key, then anchored under the
    # current one, so that it verifies without the others.
    report.anchored = await AuditChain(db, clock or SystemClock(), box).anchor()
    return report


async def _rotate_column(
    db: Database,
    box: SecretBox,
    column: SealedColumn,
    batch_rows: int,
    report: RotationReport,
    unopened: dict[tuple[str, str], Unopened],
    progress: Progress | None,
) -> int:
    """One pass over one table; how many rows changed under it (read again next pass)."""
    prefix = _prefix(box.current_id)
    after = ""
    raced = 0
    while True:
        batch = await db.run(
            partial(_not_under, table=column.table, prefix=prefix, after=after, limit=batch_rows)
        )
        if not batch:
            return raced
        after = batch[-1].row_id
        changes: list[tuple[str, bytes, bytes]] = []
        settled = 0
        for value in batch:
            opened = _open(box, value)
            if isinstance(opened, Unopened):
                if (value.table, value.row_id) not in unopened:
                    unopened[value.table, value.row_id] = opened
                    settled += 1
                continue
            sealed = box.seal(opened, account_id=value.account_id, device_id=value.row_id)
            changes.append((value.row_id, value.blob, sealed))
        lost = await db.run(partial(_swap, table=column.table, changes=changes)) if changes else []
        report.resealed += len(changes) - len(lost)
        report.batches += 1
        raced += len(lost)
        if progress is not None:
            progress(settled + len(changes) - len(lost))


def _not_under(
    tx: Transaction, *, table: str, prefix: bytes, after: str, limit: int
) -> list[SealedValue]:
    return tx.sealed.not_starting_with(table, prefix, after, limit)


def _swap(tx: Transaction, *, table: str, changes: list[tuple[str, bytes, bytes]]) -> list[str]:
    return tx.sealed.swap(table, changes)


def _audit_rotation(
    tx: Transaction, *, now: datetime, current_id: str, resealed: int, remaining: int
) -> None:
    tx.audit.record(
        now,
        ROTATION_ACTOR,
        "secrets_resealed",
        key_id=current_id,
        resealed=resealed,
        remaining=remaining,
    )


# ---------------------------------------------------------------------------- check


@dataclass
class CheckReport:
    opened: Counter[str] = field(default_factory=Counter)  # by key id
    unopened: list[Unopened] = field(default_factory=list)
    usage: KeyUsage = field(default_factory=lambda: KeyUsage({}, {}))
    chain: Walk = field(default_factory=lambda: Walk(0, 0, None, None))

    @property
    def ok(self) -> bool:
        """Every sealed value opens, and the audit chain verifies, with the keys
        configured."""
        return not self.unopened and self.chain.broken is None


async def check(
    db: Database,
    box: SecretBox,
    *,
    batch_rows: int = CHECK_BATCH_ROWS,
    progress: Progress | None = None,
) -> CheckReport:
    """Open every sealed value (in memory, one batch at a time); name those that do not."""
    report = CheckReport()
    for column in SEALED_COLUMNS:
        after = ""
        while True:
            batch = await db.run(partial(_page, table=column.table, after=after, limit=batch_rows))
            if not batch:
                break
            after = batch[-1].row_id
            for value in batch:
                opened = _open(box, value)
                if isinstance(opened, Unopened):
                    report.unopened.append(opened)
                else:
                    report.opened[sealed_key_id(value.blob)] += 1
            if progress is not None:
                progress(len(batch))
    report.usage = await key_usage(db)
    report.chain = await AuditChain(db, SystemClock(), box).walk()
    return report


def _page(tx: Transaction, *, table: str, after: str, limit: int) -> list[SealedValue]:
    return tx.sealed.page(table, after, limit)
