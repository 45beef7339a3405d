"""TOTP (RFC 6238) as the authenticator apps speak it: SHA1, 6 digits, 30 s."""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import datetime

import pyotp

DIGITS = 6
PERIOD = 30
SECRET_BYTES = 20  # 160 bits, RFC 4226 section 4's recommendation
# A code from the previous or next 30-second step still works (clock drift, a code
# that expired while it was typed).
WINDOW = 1

_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015]")
_DIGITS_ONLY = re.compile(r"[0-9]+")


# Base32's alphabet, mapped onto the digits of base 32 as int() reads them.
_BASE32_AS_DIGITS = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789abcdefghijklmnopqrstuv"
)
_SECRET_CHARS = SECRET_BYTES * 8 // 5


class _TOTP(pyotp.TOTP):
    """pyotp's TOTP, decoding the base32 secret once rather than for every code it makes.

    A check computes three codes (the window), and pyotp would decode the secret (in
    pure Python, about 8 us) for each. Our secrets are 32 characters without padding,
    exactly 160 bits: read as one base-32 number, they decode in C. Anything else goes
    through pyotp's own decoder. The counter is packed in C too; pyotp's HMAC and
    truncation are used as they are.
    """

    _key: bytes | None = None

    def __init__(self, secret: str) -> None:
        super().__init__(secret, digits=DIGITS, interval=PERIOD)

    @staticmethod
    def int_to_bytestring(i: int, *, padding: int = 8) -> bytes:
        # The counter as 8 big-endian bytes (RFC 4226 5.2), packed in C.
        return i.to_bytes(padding, "big")

    def byte_secret(self) -> bytes:
        if self._key is None:
            if len(self.secret) == _SECRET_CHARS and self.secret.isupper():
                digits = self.secret.translate(_BASE32_AS_DIGITS)
                self._key = int(digits, 32).to_bytes(SECRET_BYTES, "big")
            else:
                self._key = super().byte_secret()
        return self._key


def generate_secret() -> str:
    """A fresh base32 secret of 160 bits (32 characters, no padding)."""
    return pyotp.random_base32(length=SECRET_BYTES * 8 // 5)


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://totp/<issuer>:<account>?secret=...&issuer=...`` key URI."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(
        name=account, issuer_name=issuer
    )


def grouped_key(secret: str) -> str:
    """The secret in groups of four characters, for typing it by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def time_step(moment: datetime) -> int:
    return int(moment.timestamp()) // PERIOD


def code_at_step(secret: str, step: int) -> str:
    return _TOTP(secret).generate_otp(step)


def matching_step(secret: str, code: str, at: datetime, window: int = WINDOW) -> int | None:
    """The time step within ``window`` whose code equals ``code``, else None.

    Every candidate is computed and compared in constant time, whatever matches.
    """
    generator = _TOTP(secret)
    current = time_step(at)
    found: int | None = None
    for step in range(current - window, current + window + 1):
        if hmac.compare_digest(generator.generate_otp(step), code) and found is None:
            found = step
    return found


@dataclass(frozen=True)
class CodeInput:
    """What a user typed where a code was expected."""

    code: str | None  # six digits, separators removed, when it is a code
    digit_count: int  # digits seen when the text is digits only (to say "6, not 5")


def parse_code(text: str) -> CodeInput:
    """Accept ``123456``, ``123 456`` and ``123-456``; anything else is not a code."""
    compact = _SEPARATORS.sub("", text.strip()) if len(text) <= 64 else text
    if _DIGITS_ONLY.fullmatch(compact):
        if len(compact) == DIGITS:
            return CodeInput(code=compact, digit_count=DIGITS)
        return CodeInput(code=None, digit_count=len(compact))
    return CodeInput(code=None, digit_count=0)
