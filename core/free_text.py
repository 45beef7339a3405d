"""Text a user types that the bot keeps: device names and reasons.

Such text is shown again (in /devices, to support agents, in notices, by the API), so
it must never be a secret in disguise: a code, a recovery code or a TOTP key typed into
the wrong prompt is refused, not stored.
"""

from __future__ import annotations

import re
from enum import StrEnum

from core import totp
from core.identifiers import text_problem

MAX_DEVICE_NAME = 40


class SecretShape(StrEnum):
    CODE = "code"
    RECOVERY_CODE = "recovery_code"
    KEY = "key"


_SIX_DIGITS = re.compile(r"(?<![0-9])[0-9]{3}[\s\-\u2010-\u2015]?[0-9]{3}(?![0-9])")
_RECOVERY = re.compile(
    r"(?<![0-9a-f])[0-9a-f]{4}(?:[\s\-]?[0-9a-f]{4}){3}(?![0-9a-f])", re.IGNORECASE
)
# A TOTP key (base32): grouped in fours as the bot shows it, or in one run.
_KEY_GROUPED = re.compile(r"(?<![A-Z2-7])[A-Z2-7]{4}(?:[ \-][A-Z2-7]{4}){3,}(?![A-Z2-7])", re.I)
_KEY_RUN = re.compile(r"(?<![A-Z2-7])[A-Z2-7]{16,}(?![A-Z2-7])", re.IGNORECASE)
_KEY_DIGIT = re.compile(r"[2-7]")


def _key_like(text: str) -> bool:
    for match in _KEY_GROUPED.finditer(text):
        # Four-letter words in a row ("Work Cell Blue Case") are not a key; a key has
        # digits, or is long.
        if _KEY_DIGIT.search(match.group()) or len(match.group()) >= 29:
            return True
    for match in _KEY_RUN.finditer(text):
        run = match.group()
        if _KEY_DIGIT.search(run) or run.isupper():
            return True
    return False


def secret_shape(text: str) -> SecretShape | None:
    """What secret ``text`` looks like, if any: a 6-digit code (alone or among words), a
    recovery code or a TOTP key."""
    if _RECOVERY.search(text):
        return SecretShape.RECOVERY_CODE
    if _key_like(text):
        return SecretShape.KEY
    if totp.parse_code(text).code is not None or _SIX_DIGITS.search(text):
        return SecretShape.CODE
    return None


def recovery_codes_in(text: str) -> list[str]:
    """What in ``text`` is shaped like a recovery code, as typed."""
    return [match.group() for match in _RECOVERY.finditer(text)]


def codes_in(text: str) -> list[str]:
    """The 6-digit codes in ``text`` (alone, or among words), without their separators."""
    whole = totp.parse_code(text).code
    found = [re.sub(r"[^0-9]", "", match.group()) for match in _SIX_DIGITS.finditer(text)]
    return list(dict.fromkeys(([whole] if whole else []) + found))


def device_name_problem(name: str) -> str:
    """Why ``name`` cannot name a device, or "" when it can."""
    if not name:
        return "empty"
    if len(name) > MAX_DEVICE_NAME:
        return "too_long"
    if text_problem(name):  # control, format (bidi overrides), separator, private use
        return "control"
    return secret_problem(name)


def secret_problem(text: str) -> str:
    """``looks_like_<shape>`` when ``text`` looks like a secret, or ""."""
    shape = secret_shape(text)
    return "" if shape is None else f"looks_like_{shape.value}"
