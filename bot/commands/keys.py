"""``python -m bot rotate-key`` and ``python -m bot check-key``: the key rotation and its
check, with a progress bar, and what each key holds (and whether a previous key can go)
printed for the operator. The work is the core's (``core/keys.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter

from tqdm import tqdm

from bot.commands.parsing import Subcommands
from core.audit_chain import Anchored, Walk
from core.audit_links import Break
from core.config import Settings
from core.crypto import LEGACY_KEY_ID, SecretBox
from core.keys import (
    BATCH_ROWS,
    CheckReport,
    KeyUsage,
    RotationReport,
    check,
    key_usage,
    previous_places,
    rotate,
)
from storage.db import open_database

MAX_BATCH = 10_000
LISTED_PROBLEMS = 20  # rotate-key names this many values that do not open; check-key all


def _role(kid: str | None, box: SecretBox, places: dict[str, int]) -> str:
    """What a key id in a report is, for the operator."""
    if kid is None or kid == LEGACY_KEY_ID:
        return "from before key ids"
    if kid == box.current_id:
        return "SECRETS_KEY (current)"
    if kid in places:
        return f"SECRETS_KEYS_PREVIOUS entry {places[kid]}"
    return "not configured"


def _key_table(
    box: SecretBox, places: dict[str, int], columns: dict[str, dict[str | None, int]]
) -> list[str]:
    """One line per key: the current key, the previous keys in their order, any other key
    that counts name, then what dates from before key ids; a column per ``columns``."""
    order = [box.current_id, *(kid for kid in places if kid != box.current_id)]
    for counts in columns.values():
        order += sorted(k for k in counts if k not in (None, LEGACY_KEY_ID) and k not in order)
    rows: list[tuple[str, list[int], str]] = [
        (kid, [counts.get(kid, 0) for counts in columns.values()], _role(kid, box, places))
        for kid in order
    ]
    legacy = [counts.get(None, 0) + counts.get(LEGACY_KEY_ID, 0) for counts in columns.values()]
    if any(legacy):
        rows.append(("-", legacy, _role(None, box, places)))
    lines = ["  " + f"{'key':<10}" + "".join(f"{head:>16}" for head in columns)]
    for label, cells, role in rows:
        lines.append(f"  {label:<10}" + "".join(f"{n:>16,}" for n in cells) + f"   {role}")
    return lines


def _recovery_note(usage: KeyUsage, box: SecretBox) -> list[str]:
    """What the recovery codes need: salted ones nothing; keyed ones (from before) their
    key, which rotate-key keeps."""
    lines = []
    if usage.recovery_codes_keyless:
        lines.append(
            f"{usage.recovery_codes_keyless:,} recovery codes are salted hashes: they need no key."
        )
    keyed = sum(usage.recovery_codes.values())
    if not keyed:
        return lines
    kept = ", ".join(sorted(usage.recovery_keys_kept)) or "none yet"
    by_key = ", ".join(
        f"{count:,} under {kid or 'a key from before key ids'}"
        for kid, count in sorted(usage.recovery_codes.items(), key=lambda i: i[0] or "")
    )
    lines.append(
        f"{keyed:,} recovery codes date from before salted hashes (keyed hashes: {by_key}). "
        f"rotate-key keeps the key they need sealed under SECRETS_KEY (kept: {kept}), so "
        "they work without their SECRETS_KEY; they become salted hashes with each "
        "account's next new set."
    )
    usable = set(box.key_ids) | usage.recovery_keys_kept
    dead = sum(
        count
        for kid, count in usage.recovery_codes.items()
        if kid is not None and kid not in usable
    )
    if dead:
        lines.append(
            f"{dead:,} of them were hashed under a key that is neither configured nor kept: "
            "they no longer work (users get a new set with /recovery)."
        )
    return lines


def _chain_line(walk: Walk | None, anchored: Anchored | None, box: SecretBox) -> str:
    """One line on what the audit chain needs (rotate-key: ``anchored``; check-key:
    ``walk``)."""
    broken: Break | None = anchored.broken if anchored is not None else None
    if walk is not None:
        broken = walk.broken
    if broken is not None:
        where = f"broken at seq {broken.seq}: {broken.reason}"
        if broken.reason == "unknown_key":
            return (
                f"audit log: does not verify ({where}: chained under key {broken.key_id}, "
                "which is not configured): add that key to SECRETS_KEYS_PREVIOUS and run "
                "python -m bot rotate-key, which re-anchors the log under SECRETS_KEY."
            )
        return (
            f"audit log: does not verify ({where}; python -m bot audit verify names the "
            "row): it was not re-anchored, and the keys it was chained under stay needed "
            "to verify it."
        )
    if anchored is not None and anchored.seq is not None:
        return (
            f"audit log: {anchored.verified:,} rows verified; re-anchored under SECRETS_KEY "
            f"(key {box.current_id}) at seq {anchored.seq}: it verifies without the "
            "previous keys, and refuses rows chained under them from now on."
        )
    needs = walk.needs if walk is not None else frozenset()
    if needs:
        return (
            f"audit log: rows chained under {', '.join(sorted(needs))} are not re-anchored "
            "under SECRETS_KEY yet: run python -m bot rotate-key."
        )
    return "audit log: needs no previous key."


def _still_needed(
    kid: str, usage: KeyUsage, chain_needs: frozenset[str] | None, unopened: int
) -> list[str]:
    """What still needs the previous key ``kid``, in words (empty: nothing)."""
    reasons = []
    sealed = usage.sealed.get(kid, 0) + usage.sealed.get(LEGACY_KEY_ID, 0)
    if sealed:
        reasons.append(f"{sealed:,} sealed values")
    if unopened:
        reasons.append(f"{unopened:,} sealed values that do not open (see above)")
    codes = usage.codes_needing(kid)
    if codes:
        reasons.append(f"{codes:,} recovery codes")
    if chain_needs is None:
        reasons.append("the audit log, which does not verify")
    elif kid in chain_needs:
        reasons.append("the audit log (rows chained under it, not re-anchored yet)")
    return reasons


def _verdict_lines(
    usage: KeyUsage,
    chain_needs: frozenset[str] | None,
    unopened: int,
    box: SecretBox,
    places: dict[str, int],
) -> list[str]:
    """Plainly, for each previous key: can it go now? ``chain_needs`` None: the audit
    chain does not verify (whatever it was chained under may still be needed)."""
    lines = []
    previous = [(kid, place) for kid, place in places.items() if kid != box.current_id]
    for kid, place in previous:
        reasons = _still_needed(kid, usage, chain_needs, unopened)
        name = f"Key {kid} (SECRETS_KEYS_PREVIOUS entry {place})"
        if reasons:
            lines.append(f"{name} is still needed by {', '.join(reasons)}: do not remove it yet.")
        else:
            lines.append(
                f"{name} is needed by nothing any more (sealed values, recovery codes, audit "
                "log): remove it from SECRETS_KEYS_PREVIOUS in every configuration, restart "
                "the processes, and destroy it (README: after a key leak)."
            )
    if not previous and not unopened and chain_needs is not None:
        left = usage.sealed_not_under(box.current_id) or any(
            usage.codes_needing(kid) for kid in usage.recovery_codes if kid is not None
        )
        if not left and not chain_needs:
            lines.append("SECRETS_KEY alone is enough: nothing needs a previous key.")
    return lines


def _print_rotation(report: RotationReport, box: SecretBox, places: dict[str, int]) -> None:
    usage = report.usage
    raced = f"; {report.raced:,} changed meanwhile and were read again" if report.raced else ""
    print(
        f"re-sealed {report.resealed:,} values under SECRETS_KEY (key {box.current_id}) "
        f"in {report.batches:,} batches{raced}"
    )
    print("what each key holds now:")
    sealed: dict[str | None, int] = {kid: n for kid, n in usage.sealed.items()}
    for line in _key_table(
        box, places, {"sealed values": sealed, "recovery codes": usage.recovery_codes}
    ):
        print(line)
    if report.unopened:
        print(f"{len(report.unopened):,} sealed values do not open and were left as they are:")
        for problem in report.unopened[:LISTED_PROBLEMS]:
            print(f"  {problem.describe()}")
        if len(report.unopened) > LISTED_PROBLEMS:
            print(f"  ... and {len(report.unopened) - LISTED_PROBLEMS:,} more")
        print("  (python -m bot check-key lists every one)")
    left = usage.sealed_not_under(box.current_id) - len(report.unopened)
    if left > 0:
        print(
            f"{left:,} values were sealed under another key meanwhile: a process still runs "
            "with the old SECRETS_KEY? Restart it with the new one and run rotate-key again."
        )
    for line in _recovery_note(usage, box):
        print(line)
    anchored = report.anchored
    print(_chain_line(None, anchored, box))
    if report.complete:
        print("every sealed value is under SECRETS_KEY.")
    chain_needs: frozenset[str] | None = None if anchored.broken is not None else frozenset()
    for line in _verdict_lines(usage, chain_needs, len(report.unopened), box, places):
        print(line)


def _print_check(report: CheckReport, box: SecretBox, places: dict[str, int]) -> None:
    failed: Counter[str] = Counter(problem.key_id for problem in report.unopened)
    total = sum(report.opened.values()) + len(report.unopened)
    print(f"opened {total:,} sealed values:")
    opened: dict[str | None, int] = {kid: n for kid, n in report.opened.items()}
    not_opened: dict[str | None, int] = {kid: n for kid, n in failed.items()}
    for line in _key_table(box, places, {"open": opened, "do not open": not_opened}):
        print(line)
    if report.unopened:
        print("do not open:")
    for problem in report.unopened:
        print(f"  {problem.describe()}")
    for line in _recovery_note(report.usage, box):
        print(line)
    print(_chain_line(report.chain, None, box))
    if not report.unopened:
        print("every sealed value opens.")
    else:
        print(
            f"{len(report.unopened):,} sealed values do not open: those devices cannot check "
            "a code. A missing key: add it to SECRETS_KEYS_PREVIOUS (or restore it); a value "
            "that does not open under its own key: the device must be enrolled again."
        )
    chain_needs = None if report.chain.broken is not None else report.chain.needs
    for line in _verdict_lines(report.usage, chain_needs, len(report.unopened), box, places):
        print(line)


def rotate_key_command(settings: Settings, *, batch_rows: int = BATCH_ROWS) -> int:
    """``python -m bot rotate-key``: 0 when every sealed value is under SECRETS_KEY and the
    audit log verifies (and is anchored under it)."""
    box = settings.keyring()
    places = previous_places(settings.secrets_keys_previous)

    async def run() -> RotationReport:
        db = await open_database(settings.database_url)
        try:
            todo = (await key_usage(db)).sealed_not_under(box.current_id)
            print(
                f"re-sealing {todo:,} values under SECRETS_KEY (key {box.current_id}), "
                f"{batch_rows:,} per transaction; the bot and the API keep serving; then "
                "the audit log is verified and anchored under it",
                flush=True,
            )
            with tqdm(total=todo, unit=" values", file=sys.stderr, dynamic_ncols=True) as bar:
                return await rotate(db, box, batch_rows=batch_rows, progress=bar.update)
        finally:
            await db.close()

    try:
        report = asyncio.run(run())
    except KeyboardInterrupt:
        print(
            "interrupted: what was re-sealed stays re-sealed; run python -m bot rotate-key "
            "again to continue",
            file=sys.stderr,
        )
        return 130
    _print_rotation(report, box, places)
    return 0 if report.complete and report.anchored.broken is None else 1


def check_key_command(settings: Settings) -> int:
    """``python -m bot check-key``: 0 only when every sealed value opens and the audit log
    verifies, with the keys configured."""
    box = settings.keyring()
    places = previous_places(settings.secrets_keys_previous)

    async def run() -> CheckReport:
        db = await open_database(settings.database_url)
        try:
            total = sum((await key_usage(db)).sealed.values())
            with tqdm(total=total, unit=" values", file=sys.stderr, dynamic_ncols=True) as bar:
                return await check(db, box, progress=bar.update)
        finally:
            await db.close()

    report = asyncio.run(run())
    _print_check(report, box, places)
    return 0 if report.ok else 1


# ------------------------------------------------------------------ the arguments


def _batch(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_BATCH:
        raise argparse.ArgumentTypeError(
            f"--batch must be a whole number from 1 to {MAX_BATCH}, got {text!r}"
        )
    return int(text)


def add_parser(commands: Subcommands) -> None:
    """``rotate-key [--batch N]`` and ``check-key``."""
    rotate = commands.add_parser(
        "rotate-key",
        help="re-seal every sealed secret under SECRETS_KEY (online, resumable)",
        description="Re-seal every value sealed under a key in SECRETS_KEYS_PREVIOUS (or "
        "from before key ids) under SECRETS_KEY, in small transactions while the bot and "
        "the API keep serving; then say what each key still holds. Interrupted, run it "
        "again: it continues with what is not under SECRETS_KEY yet.",
    )
    rotate.add_argument(
        "--batch",
        type=_batch,
        default=BATCH_ROWS,
        metavar="N",
        help=f"values per transaction; default {BATCH_ROWS}",
    )
    commands.add_parser(
        "check-key",
        help="open every sealed secret; exit 1 if any does not open",
        description="Open every sealed value with the configured keys and report, per key "
        "id, how many open and which (account and device) do not. Exit status 0 only when "
        "all open.",
    )
