"""Recovery codes: ten single-use codes of 64 bits each, shown once, stored as salted
slow hashes that need no key.

A set is stored as scrypt hashes (N=2^10, r=8: 1 MiB and about 4 ms a hash on one core)
under one random 16-byte salt per set. No key is involved, so no key rotation touches
them: a code works until it is used or its set is replaced, whatever SECRETS_KEY is. Why
that is enough without a key: a code is 64 random bits, not a password. Someone with a copy
of the database tests a guess against one set's ten codes at the price of one scrypt: about
2^60 of them for one account, hundreds of thousands of GPU-years, and the salt makes each
account (and each set) a search of its own. A login pays for one hash (one salt per live
set), computed only for an account that has unused codes and is not locked.

Codes stored before salted hashes are an HMAC under a key derived from the SECRETS_KEY of
the day (``LEGACY_PURPOSE``; ``recovery_codes.key_id`` names it, NULL from before key
ids). They cannot be hashed again (the codes are not kept), so rotate-key keeps the key
their hashes need instead: derived from the old SECRETS_KEY for this alone (it opens no
secret and chains no audit row), sealed under the current key in ``recovery_code_keys``
(``keep_legacy_keys``), and dropped once no unused code needs it. Those codes then work
without their SECRETS_KEY, and move to salted hashes with the account's next new set.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from core.accounts import TelegramIdentity
from core.crypto import SealError, SecretBox
from storage.repositories import Transaction

CODES_PER_SET = 10
CODE_HEX = 16  # 64 bits
SALT_BYTES = 16
# scrypt's cost: 2^10 blocks of 1 KiB (r=8), one lane; see the module docstring and
# bench/recovery_hash.py for what a hash costs.
SCRYPT_N = 2**10
SCRYPT_R = 8
SCRYPT_P = 1
HASH_BYTES = 32
# The HMAC key of codes stored before salted hashes, derived from a SECRETS_KEY.
LEGACY_PURPOSE = b"2fa-desk/recovery-codes/v1"
KEPT_KEY_ACCOUNT = ""  # a kept key's sealed value is bound to its key id alone
_SEPARATORS = re.compile(r"[\s\-]")
_HEX = re.compile(r"[0-9a-f]{16}")


def generate_code() -> str:
    """``xxxx-xxxx-xxxx-xxxx`` from 64 random bits."""
    raw = secrets.token_hex(CODE_HEX // 2)
    return "-".join(raw[i : i + 4] for i in range(0, CODE_HEX, 4))


def normalize(text: str) -> str | None:
    """The canonical form (16 lowercase hex digits) of what a user typed, or None."""
    if len(text) > 64:
        return None
    compact = _SEPARATORS.sub("", text).lower()
    return compact if _HEX.fullmatch(compact) else None


def looks_like_recovery_code(text: str) -> bool:
    return normalize(text) is not None


def salted_hash(canonical: str, salt: bytes) -> bytes:
    """The stored form of a code: scrypt over its canonical form, under its set's salt."""
    return hashlib.scrypt(
        canonical.encode("ascii"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=HASH_BYTES
    )


def legacy_hash(key: bytes, canonical: str) -> bytes:
    """How a code was stored before salted hashes: an HMAC under a derived key."""
    return hmac.new(key, canonical.encode("ascii"), hashlib.sha256).digest()


@dataclass(frozen=True)
class RecoverySet:
    """A new set: the codes for the user (shown once) and what the database keeps."""

    codes: tuple[str, ...]
    hashes: tuple[bytes, ...]
    salt: bytes


def new_set() -> RecoverySet:
    """Ten codes and their salted hashes (about 40 ms: make it off the event loop and
    outside a transaction, e.g. ``asyncio.to_thread(new_set)``)."""
    codes = tuple(generate_code() for _ in range(CODES_PER_SET))
    salt = secrets.token_bytes(SALT_BYTES)
    return RecoverySet(codes, tuple(salted_hash(normalize(c) or "", salt) for c in codes), salt)


class RecoveryHasher:
    """The hashes a typed code may be stored under, for one account, inside the
    transaction that spends it: one salted hash per live set's salt, and, for codes stored
    before salted hashes, one HMAC per key they may be under (every configured key, and
    every key rotate-key kept)."""

    def __init__(self, box: SecretBox) -> None:
        self._box = box
        self._configured = box.derived(LEGACY_PURPOSE)

    @staticmethod
    def new_set() -> RecoverySet:
        return new_set()

    def candidates(self, tx: Transaction, account_id: str, canonical: str) -> list[bytes]:
        salts = tx.recovery.live_salts(account_id)
        hashes = [salted_hash(canonical, salt) for salt in salts if salt is not None]
        if None in salts:  # a set from before salted hashes
            keys = {**self.kept_keys(tx), **self._configured}
            hashes += [legacy_hash(key, canonical) for key in keys.values()]
        return hashes

    def kept_keys(self, tx: Transaction) -> dict[str, bytes]:
        """The legacy keys rotate-key kept, opened (one that does not open is left out:
        check-key names it)."""
        kept: dict[str, bytes] = {}
        for kid, blob in tx.recovery.kept_keys().items():
            try:
                kept[kid] = bytes.fromhex(
                    self._box.open(blob, account_id=KEPT_KEY_ACCOUNT, device_id=kid)
                )
            except (SealError, ValueError):
                continue
        return kept


def keep_legacy_keys(tx: Transaction, box: SecretBox, now: datetime) -> tuple[set[str], int]:
    """Keep, sealed under the current key, the key of every configured SECRETS_KEY that
    codes stored before salted hashes may need (those naming it; every configured one for
    codes from before key ids), and drop the kept keys that no unused code needs any more.
    (the key ids now kept, how many were dropped)."""
    needed = tx.recovery.legacy_live_by_key()
    configured: Mapping[str, bytes] = box.derived(LEGACY_PURPOSE)
    # Codes from before key ids do not say their key: any configured key may be it.
    named = {kid for kid in needed if kid is not None}
    wanted = set(configured) if None in needed else named & set(configured)
    kept = set(tx.recovery.kept_keys())
    for kid in sorted(wanted - kept):
        sealed = box.seal(configured[kid].hex(), account_id=KEPT_KEY_ACCOUNT, device_id=kid)
        tx.recovery.keep_key(kid, sealed, now)
    unneeded = set() if None in needed else kept - named
    dropped = tx.recovery.drop_kept_keys(sorted(unneeded))
    return (kept | wanted) - unneeded, dropped


def announce_recovery_change(
    tx: Transaction, account_id: str, who: TelegramIdentity, kind: str, now: datetime, **detail: str
) -> None:
    """A recovery code just removed a device or started an enrolment: whoever holds the
    codes can take the account over, so everyone on it is told and ops are warned.
    ``kind`` is ``device_removed_after_recovery`` or ``enrolment_after_recovery``."""
    tx.audit.record(now, who.actor, kind, account_id=account_id, telegram_user_id=who.user_id)
    tx.notices.add(account_id, kind, now, skip_user_id=who.user_id, **detail)
    tx.alerts.raise_event(
        now, kind, "warning", account_id=account_id, telegram_user_id=who.user_id, **detail
    )
