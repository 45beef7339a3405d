"""Redaction: what may never reach a log line or the ops chat.

Codes, recovery codes, TOTP secrets (also grouped in fours), otpauth URIs, bot tokens and
bearer tokens are replaced, and so is every configured secret value wherever it appears.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"otpauth://\S+"), "otpauth://[redacted]"),
    (re.compile(r"(?<!\d)\d{5,15}:[A-Za-z0-9_-]{30,}"), "[bot-token]"),
    (re.compile(r"(?i)\b(bearer\s+)\S+"), r"\1[token]"),
    (re.compile(r"(?i)(secret=)[A-Z2-7=]+"), r"\1[secret]"),
    (re.compile(r"\b(?:[A-Z2-7]{4} ){3,}[A-Z2-7]{4}\b"), "[secret]"),
    (re.compile(r"(?i)\b[0-9a-f]{4}(?:[ -]?[0-9a-f]{4}){3}\b"), "[recovery-code]"),
    (re.compile(r"\b[A-Z2-7]{16,}\b"), "[secret]"),
    (re.compile(r"(?<![\d.:/-])\d{3}[ -]?\d{3}(?![\d.:/-])"), "[code]"),
]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without codes, secrets, tokens or the given secret values."""
    for value in secrets:
        if value and len(value) >= 8:
            text = text.replace(value, "[redacted]")
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
