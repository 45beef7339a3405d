"""Account ids stored before the API normalised them: each gets its one spelling (NFC,
core/identifiers.py) at start, before anything serves.

The API answers for an id in NFC only. An account stored earlier as, say,
``jose\\u0301@example.com`` (a decomposed é) would never be found again: every login for
it would answer ``not_enrolled``, which lets the password alone in. So at start
(``Services.open``, every role):

- every stored id not in NFC is respelled, one account per transaction, in every table
  that holds it (storage/repositories/account_ids.py), its sealed secrets opened and
  sealed again for the new id (the associated data binds them to the account); an audit
  entry ``account_id_normalised`` names the old spelling. The audit log's earlier rows
  keep theirs: they are chained as written;
- two stored ids that are one in NFC stop the start (``ConfigError``, one line naming
  both): they may belong to different people, and merging them would give one the
  other's devices. Nothing is changed then; the operator decides (README, the ids note);
- an id not in NFC that is still there after that (a process of an older version wrote
  it meanwhile) stops the start as well.

Processes that start together on PostgreSQL respell an account once: each transaction
checks that the old spelling is still there and the new one is not.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import replace
from datetime import datetime
from functools import partial

from core.clock import Clock
from core.config import ConfigError
from core.crypto import SealError, SecretBox
from storage.db import Database
from storage.repositories import Transaction
from storage.repositories.account_ids import AccountIdRepository

logger = logging.getLogger(__name__)

ACTOR = "system"
AUDITED = "account_id_normalised"
PAGE = 5000  # account ids read per transaction


def nfc(account_id: str) -> str:
    return unicodedata.normalize("NFC", account_id)


def _ids(tx: Transaction) -> AccountIdRepository:
    return AccountIdRepository(tx.connection)


def _page(tx: Transaction, after: str) -> list[str]:
    return _ids(tx).page(after, PAGE)


async def unnormalised_account_ids(db: Database) -> list[str]:
    """The stored account ids not in NFC: every id is read, in pages (0.3 to 0.7 s for
    100,000 accounts on SQLite on the busy 2-core machine), only those are kept."""
    found: list[str] = []
    after = ""
    while True:
        page = await db.run(partial(_page, after=after))
        found += [s for s in page if not unicodedata.is_normalized("NFC", s)]
        if len(page) < PAGE:
            return found
        after = page[-1]


def clash_line(spellings: list[str]) -> str:
    """One line naming stored ids that are one account in NFC (shown escaped: they look
    alike)."""
    named = " and ".join(ascii(s) for s in sorted(spellings))
    return (
        f"stored account ids {named} are one account in Unicode NFC (the spelling the API "
        f"uses), so the bot cannot tell which is meant: remove or rename one of them in the "
        f"database, then start again (README: How the login system calls the API)"
    )


def _clashes(tx: Transaction, unnormalised: list[str]) -> list[list[str]]:
    """Groups of stored ids that are one in NFC: with the NFC spelling when it is stored."""
    spellings: dict[str, list[str]] = {}
    for account_id in unnormalised:
        spellings.setdefault(nfc(account_id), []).append(account_id)
    ids = _ids(tx)
    return [
        [*group, new] if ids.exists(new) else group
        for new, group in sorted(spellings.items())
        if len(group) > 1 or ids.exists(new)
    ]


async def normalise_account_ids(db: Database, box: SecretBox, clock: Clock) -> list[str]:
    """Respell every stored id that is not in NFC (the module docstring); the old
    spellings respelled. ``ConfigError`` on a clash, before anything changed."""
    unnormalised = await unnormalised_account_ids(db)
    if not unnormalised:
        return []
    clashes = await db.run(partial(_clashes, unnormalised=unnormalised))
    if clashes:
        more = f" ({len(clashes) - 1} more such clashes)" if len(clashes) > 1 else ""
        raise ConfigError(clash_line(clashes[0]) + more)
    respelled = []
    now = clock.now()
    for old in unnormalised:
        if await db.run(partial(_respell, box=box, old=old, new=nfc(old), now=now)):
            respelled.append(old)
    if respelled:
        logger.warning(
            "%d stored account ids were not in Unicode NFC and now are (audited as %s)",
            len(respelled),
            AUDITED,
        )
    return respelled


def _respell(tx: Transaction, box: SecretBox, old: str, new: str, now: datetime) -> bool:
    ids = _ids(tx)
    if not ids.exists(old):
        return False  # another process did it
    if ids.exists(new):  # created since we looked (by a running API): the same clash
        raise ConfigError(clash_line([old, new]))
    sealed = []
    for value in ids.sealed_of(old):
        try:
            secret = box.open(value.blob, account_id=old, device_id=value.row_id)
        except SealError as exc:
            # It did not open under the old id either: moved as it is (check-key names it).
            logger.warning(
                "%s %s of account %s does not open (%s): moved unchanged",
                value.table,
                value.row_id,
                ascii(old),
                exc,
            )
            sealed.append(value)
            continue
        blob = box.seal(secret, account_id=new, device_id=value.row_id)
        sealed.append(replace(value, account_id=new, blob=blob))
    ids.respell(old, new, sealed)
    tx.audit.record(now, ACTOR, AUDITED, account_id=new, previous=old)
    return True


async def refuse_unnormalised_account_ids(db: Database) -> None:
    """``ConfigError`` while a stored account id is not in NFC."""
    left = await unnormalised_account_ids(db)
    if left:
        raise ConfigError(
            f"{len(left):,} stored account ids are not in Unicode NFC (the first: "
            f"{left[0]!a}), so the API would never find them: a process of an older "
            "version may still be writing them; stop it, then start again (a start "
            "normalises them)"
        )


async def account_ids_at_start(db: Database, box: SecretBox, clock: Clock) -> None:
    """Before anything serves: normalise, then refuse what remains (one line each)."""
    if await normalise_account_ids(db, box, clock):
        await refuse_unnormalised_account_ids(db)
