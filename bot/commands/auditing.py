"""``python -m bot audit verify`` and ``python -m bot audit export``: the operator's side
of the tamper-evident audit log (core/audit_chain.py).

``verify`` walks the chain in bounded batches and names the first row where it breaks
(exit 1), or says how many rows are chained and how many wait for the bot (exit 0);
with ``--head SEQ:MAC`` (from an ``audit_head`` post in the ops chat) it also checks
that the row at SEQ still carries that link, which a rewrite of the whole chain would
have changed. ``export`` writes the chained rows as JSON lines for a SIEM, each with its
place, key id, link and the link before it, so each line can be verified on its own
(``core.audit_export.verify_records``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import IO

from bot.commands.parsing import OneLineParser, Subcommands
from core.audit_chain import AuditChain
from core.audit_links import Break
from core.clock import SystemClock
from core.config import ConfigError, Settings, existing_sqlite_path, is_postgresql_url
from storage.db import open_database

_POSTED = re.compile(r"^(\d+):([0-9a-fA-F]{64})$")
PRIVATE_FILE = 0o600  # an export names accounts and Telegram users


@dataclass(frozen=True)
class PostedHead:
    """A head as the ops chat shows it: its place and its link."""

    seq: int
    mac: bytes


def posted_head(text: str) -> PostedHead:
    """``--head SEQ:MAC`` (argparse type)."""
    match = _POSTED.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"--head must be SEQ:MAC as an audit_head post in the ops chat shows them "
            f"(a number, a colon, 64 hex digits), got {text!r}"
        )
    return PostedHead(int(match[1]), bytes.fromhex(match[2]))


def day(text: str) -> date:
    """``--since DATE`` (argparse type): a day as YYYY-MM-DD, in UTC."""
    value = text.strip()
    try:
        if len(value) == 10:  # date.fromisoformat would take 20260301 too
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(
        f"--since must be a day as YYYY-MM-DD (UTC), for example 2026-03-01, got {text!r}"
    )


_REASONS = {
    "changed": "the row does not match its link: edited since it was chained, or added "
    "with a forged link",
    "inserted": "the chain holds without this row: it was put in afterwards",
    "not_as_anchored": "the rows before this anchor are not those rotate-key verified and "
    "anchored: one of them was changed, added or removed since",
    "not_as_posted": "its link is not the one posted in the ops chat: the chain up to here "
    "was rewritten",
    "stray": "it has part of a link only (a place, a key id or a link without the rest), "
    "outside the chain: written by hand",
}


def describe(broken: Break) -> str:
    """One line naming the first broken row: its place, its id, what is wrong."""
    row = f"row id {broken.entry_id}" if broken.entry_id is not None else "no row"
    if broken.reason == "missing":
        why = (
            f"no row holds this place: deleted (the chain goes on with row id {broken.entry_id})"
            if broken.entry_id is not None
            else "no row holds this place: deleted, or the database is older than the post"
        )
    elif broken.reason == "unknown_key":
        why = (
            f"chained under key {broken.key_id}, which is not configured: add that key to "
            "SECRETS_KEYS_PREVIOUS (and run rotate-key, which re-anchors the log under "
            "SECRETS_KEY, before removing it again)"
        )
    elif broken.reason == "retired_key":
        why = (
            f"chained under key {broken.key_id}, which the anchor at seq {broken.anchor} "
            "retired: added or rewritten with an old key after the rotation (a leaked key), "
            "or chained by a process that still runs with the old SECRETS_KEY"
        )
    else:
        why = _REASONS.get(broken.reason, broken.reason)
    place = f"seq {broken.seq}" if broken.reason == "missing" else f"seq {broken.seq}, {row}"
    if broken.reason == "stray":
        place = row
    return f"broken at {place}: {broken.reason}: {why}"


def verify_command(settings: Settings, head: PostedHead | None = None) -> int:
    """``python -m bot audit verify``: 0 only when the chain holds (and the posted head)."""

    async def run() -> int:
        async with _chain(settings) as chain:
            walk = await chain.walk()
            if walk.broken is not None:
                print(describe(walk.broken))
                print(f"{walk.chained:,} rows before it hold")
                return 1
            if head is not None:
                broken = await chain.check_posted(head.seq, head.mac)
                if broken is not None:
                    print(describe(broken))
                    return 1
        print(f"ok: {walk.chained:,} rows chained, {walk.unchained:,} not chained yet")
        if walk.head is not None:
            print(f"head: seq {walk.head.seq}, key {walk.head.key_id}, mac {walk.head.mac.hex()}")
        if walk.vouched:
            print(
                f"{walk.vouched:,} rows chained under keys that are not configured "
                f"({', '.join(sorted(walk.vouched_keys))}) hold through the anchor at seq "
                f"{walk.last_anchor}, made under a configured key over every row before it"
            )
        if head is not None:
            print(f"the head posted for seq {head.seq} is in the chain as posted")
        return 0

    return asyncio.run(run())


def export_command(
    settings: Settings, since: date, account_id: str | None = None, output: Path | None = None
) -> int:
    """``python -m bot audit export``: the chained rows written since a day, as JSON lines."""
    start = datetime.combine(since, time(0), UTC)

    async def run() -> tuple[int, int, int, int]:
        async with _chain(settings) as chain:
            count, first, last = 0, 0, 0
            with _opened(output) as out:
                async for record in chain.export(start, account_id):
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
                    count += 1
                    first, last = first or record["seq"], record["seq"]
            return count, first, last, await chain.unchained()

    try:
        count, first, last, unchained = asyncio.run(run())
    except BrokenPipeError:  # the reader stopped reading (| head): end quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    whose = f" of account {account_id}" if account_id is not None else ""
    where = str(output) if output is not None else "standard output"
    span = f" (seq {first} to {last})" if count else ""
    print(
        f"exported {count:,} chained rows{span} written since {since.isoformat()}{whose} "
        f"to {where}",
        file=sys.stderr,
    )
    if unchained:
        print(
            f"{unchained:,} rows not chained yet were left out: the bot chains them within "
            "seconds (if it runs); export again to have them",
            file=sys.stderr,
        )
    return 0


@asynccontextmanager
async def _chain(settings: Settings) -> AsyncIterator[AuditChain]:
    """The audit chain of DATABASE_URL under the configured keyring, open for a while."""
    if not is_postgresql_url(settings.database_url):
        existing_sqlite_path(settings.database_url)  # an empty one would "verify"
    db = await open_database(settings.database_url)
    try:
        yield AuditChain(db, SystemClock(), settings.keyring())
    finally:
        await db.close()


@contextmanager
def _opened(output: Path | None) -> Iterator[IO[str]]:
    """Standard output, or a new file (0600) under a temporary name beside ``output`` that
    takes its name once the export is complete. A file already there is replaced, never
    written through: it keeps neither its mode (it may be readable by others) nor, for a
    symlink, its target; a failed export leaves it as it was."""
    if output is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    if output.is_dir():
        raise ConfigError(f"--output: {output} is a folder; name a file")
    try:
        fd, name = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent)
    except OSError as exc:
        raise ConfigError(f"--output: cannot write {output}: {exc.strerror or exc}") from None
    partial = Path(name)
    try:
        os.fchmod(fd, PRIVATE_FILE)  # mkstemp's mode already; said here, not assumed
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        try:
            os.replace(partial, output)  # a symlink at ``output`` is replaced, not followed
        except OSError as exc:
            raise ConfigError(f"--output: cannot write {output}: {exc.strerror or exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    _sync_folder(output.parent)


def _sync_folder(folder: Path) -> None:
    """The new name is on disk (a crash right after the export keeps it)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------------ the arguments


def add_parser(commands: Subcommands) -> None:
    """``audit verify [--head SEQ:MAC]`` and ``audit export --since DATE``."""
    audit = commands.add_parser(
        "audit",
        help="verify or export the tamper-evident audit log",
        description="The audit log is chained (keyed hashes, the head posted to the ops "
        "chat daily): verify the chain, or export it for a SIEM.",
    )
    actions = audit.add_subparsers(
        dest="audit_command", metavar="ACTION", parser_class=OneLineParser, required=True
    )
    verify = actions.add_parser(
        "verify",
        help="walk the chain; name the first broken row (exit 1) or say it holds (exit 0)",
        description="Walk the audit log's chain and name the first row where it breaks "
        "(changed, missing, inserted, or under a key that is not configured).",
    )
    verify.add_argument(
        "--head",
        type=posted_head,
        metavar="SEQ:MAC",
        help="a head from an audit_head post in the ops chat: also check that the row at "
        "SEQ still carries this MAC (a rewritten chain does not)",
    )
    export = actions.add_parser(
        "export",
        help="the chained rows written since a day, as JSON lines with their hashes",
        description="Write the chained audit rows written since DATE as JSON lines: every "
        "column, the row's place (seq), key id, link (mac) and the link before it "
        "(prev_mac), in chain order.",
    )
    export.add_argument("--since", required=True, type=day, metavar="DATE", help="YYYY-MM-DD, UTC")
    export.add_argument("--account", metavar="ID", help="only this account's rows")
    export.add_argument(
        "--output", type=Path, metavar="FILE", help="write here (mode 0600), not to stdout"
    )
