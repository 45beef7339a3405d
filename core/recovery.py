"""Recovery codes: ten single-use codes of 64 bits each, shown once, stored as keyed hashes.

The hash is an HMAC under a key derived from SECRETS_KEY: the database alone is not
enough to test guesses offline. Each row records the id of the key it was made under
(``RecoveryHasher.key_id``). A hash cannot be made again without its code, which is not
kept: after a key rotation a code keeps working while its key stays in
SECRETS_KEYS_PREVIOUS, and moves to the current key with the account's next new set
(``python -m bot rotate-key`` counts what each key still holds).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

from core.accounts import TelegramIdentity
from core.crypto import SecretBox
from storage.repositories import Transaction

CODES_PER_SET = 10
CODE_HEX = 16  # 64 bits
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


class RecoveryHasher:
    """Keyed hashes of recovery codes under a key derived from the keyring's current key;
    a code hashed under a previous key (before a rotation) still matches: its hash under
    every configured key is looked for."""

    PURPOSE = b"2fa-desk/recovery-codes/v1"

    def __init__(self, box: SecretBox) -> None:
        self.key_id = box.current_id  # stored with each new hash (recovery_codes.key_id)
        self._keys = box.derived(self.PURPOSE)
        self._key = self._keys[self.key_id]

    def hash(self, canonical: str) -> bytes:
        """The hash a new code is stored under (the current key)."""
        return hmac.new(self._key, canonical.encode("ascii"), hashlib.sha256).digest()

    def candidates(self, canonical: str) -> list[bytes]:
        """The hashes a stored code may have, one per configured key, current first."""
        return [
            hmac.new(key, canonical.encode("ascii"), hashlib.sha256).digest()
            for key in self._keys.values()
        ]

    def new_set(self) -> tuple[list[str], list[bytes]]:
        """Ten codes for the user and their hashes for the database."""
        codes = [generate_code() for _ in range(CODES_PER_SET)]
        hashes = [self.hash(normalize(code) or "") for code in codes]
        return codes, hashes


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
