"""Redaction: what may never reach a log line or the ops chat.

Codes, recovery codes, TOTP secrets (also grouped in fours), otpauth URIs, bot tokens,
bearer tokens, API clients' tokens and enrolment link tokens are replaced, and so is every
configured secret value wherever it appears.

This is for free text (an error message, a trace, a log line), and it runs on the text
itself, before the text is put into HTML or JSON: a redacted value ends where the value
ends (at a space, a quote or a tag), never beyond. Structured facts (an account id, a
Telegram user id, a count) are not free text and are never passed through here: a
six-digit customer number is an account, not a code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Where a value written into text ends: whitespace, quotes, brackets of markup.
_VALUE = r"[^\s\"'`<>]+"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"otpauth://" + _VALUE), "otpauth://[redacted]"),
    (re.compile(r"(?<!\d)\d{5,15}:[A-Za-z0-9_-]{30,}"), "[bot-token]"),
    (re.compile(r"(?i)\b(bearer\s+)" + _VALUE), r"\1[token]"),
    (re.compile(r"\btwofa_[A-Za-z0-9_-]{43}"), "[api-token]"),  # an API client's (core/clients.py)
    # Enrolment links (t.me/<bot>?start=<token>) and the /start command that opens one.
    (re.compile(r"(?i)([?&]start(?:group|app)?=)[^\s\"'`<>&#]+"), r"\1[token]"),
    (re.compile(r"(?i)(/start(?:@\w+)?[ \t]+)[A-Za-z0-9_-]{16,}"), r"\1[token]"),
    (re.compile(r"(?i)(secret=)[A-Z2-7=]+"), r"\1[secret]"),
    (re.compile(r"\b(?:[A-Z2-7]{4} ){3,}[A-Z2-7]{4}\b"), "[secret]"),
    (re.compile(r"(?i)\b[0-9a-f]{4}(?:[ -]?[0-9a-f]{4}){3}\b"), "[recovery-code]"),
    (re.compile(r"\b[A-Z2-7]{16,}\b"), "[secret]"),
]

# Digits joined by the separators core/totp.py's parse_code removes (whitespace and the
# dashes U+002D, U+2010 to U+2015): "123456", "123 456", "123–456", "1 2 3 4 5 6". Not
# the digits after a decimal point (the microseconds of a time: "09:14:05.123456").
_DIGIT_RUN = re.compile(r"(?<!\d)(?<!\d\.)\d(?:[\s\-\u2010-\u2015]*\d)*")
_DIGITS = re.compile(r"\d+")
CODE_DIGITS = 6


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without codes, secrets, tokens or the given secret values."""
    for value in secrets:
        if value and len(value) >= 8:
            text = text.replace(value, "[redacted]")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return _DIGIT_RUN.sub(_redact_codes, text)


def _redact_codes(run: re.Match[str]) -> str:
    """A run of six digits is a code, whatever joins them and whatever stands around it
    (``/123456``, ``123456.``). A longer run (a date, a time, a Telegram user id) stays,
    but a group of exactly six digits inside it is still a code (``123456 5 times``)."""
    text = run.group()
    digits = sum(len(group) for group in _DIGITS.findall(text))
    if digits == CODE_DIGITS:
        return "[code]"
    return _DIGITS.sub(lambda g: "[code]" if len(g.group()) == CODE_DIGITS else g.group(), text)
