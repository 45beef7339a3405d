"""Identifiers that come from outside (account ids from the login system, names users
type): one spelling per identifier, and no character a person cannot see or a log
line cannot hold.

Account ids are NFC-normalised, so that a composed and a decomposed "é" are one
account. They are not folded further (NFKC): the organisation's ids are opaque, and
folding could merge two of its distinct accounts ("ａｌｉｃｅ" stays apart from "alice").
"""

from __future__ import annotations

import unicodedata

MAX_ACCOUNT_ID_LENGTH = 256

# Unicode general categories refused in identifiers, and the reason given for each.
_REFUSED_CATEGORIES = {
    "Cc": "control",  # C0/C1 controls: newlines, NUL, DEL, ...
    "Cf": "format",  # invisible: zero-width space, BOM, bidi overrides, ...
    "Zl": "separator",  # U+2028 LINE SEPARATOR
    "Zp": "separator",  # U+2029 PARAGRAPH SEPARATOR
    "Cs": "surrogate",  # half of a UTF-16 pair: not a character, cannot be encoded
    "Co": "private_use",  # no agreed meaning, rendered differently everywhere
}

_DESCRIPTIONS = {
    "empty": "must not be empty",
    "too_long": f"must be at most {MAX_ACCOUNT_ID_LENGTH} characters",
    "whitespace": "must not start or end with whitespace",
    "control": "must not contain control characters",
    "format": "must not contain invisible format characters (such as a zero-width space)",
    "separator": "must not contain line or paragraph separators",
    "surrogate": "must not contain surrogate code points",
    "private_use": "must not contain private-use characters",
}


class InvalidIdentifier(ValueError):
    """An identifier refused; ``reason`` is short and stable, for code and logs."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def text_problem(text: str) -> str | None:
    """The reason ``text`` cannot be used as it is (a key of the refused categories:
    "control", "format", "separator", "surrogate", "private_use"), or None when clean."""
    for ch in text:
        reason = _REFUSED_CATEGORIES.get(unicodedata.category(ch))
        if reason is not None:
            return reason
    return None


def normalise_account_id(raw: str) -> str:
    """The one spelling of an account id (NFC), or ``InvalidIdentifier``."""
    account_id = unicodedata.normalize("NFC", raw)
    reason = _account_id_problem(account_id)
    if reason is not None:
        raise InvalidIdentifier(reason, f"account {_DESCRIPTIONS[reason]}")
    return account_id


def _account_id_problem(account_id: str) -> str | None:
    if not account_id:
        return "empty"
    if len(account_id) > MAX_ACCOUNT_ID_LENGTH:
        return "too_long"
    problem = text_problem(account_id)
    if problem is not None:
        return problem
    if account_id[0].isspace() or account_id[-1].isspace():
        return "whitespace"
    return None
