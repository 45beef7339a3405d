"""Redaction with real samples: what must never reach a log or the ops chat."""

from __future__ import annotations

import json
import logging

import pytest

from bot.crypto import generate_key
from bot.logs import RedactingFormatter
from bot.redaction import redact

BOT_TOKEN = "7312345678:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.mark.parametrize(
    ("sample", "gone"),
    [
        ("ValueError: wrong code 492039 for tg:1001", "492039"),
        ("user typed '123 456' at 09:14", "123 456"),
        ("user typed 123-456", "123-456"),
        (f"seal failed for {SECRET}", SECRET),
        ("key JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP shown", "JBSW Y3DP"),
        (
            "uri otpauth://totp/2FA%20Desk:tg%3A1?secret=JBSWY3DPEHPK3PXP&issuer=2FA%20Desk",
            "otpauth://totp",
        ),
        (f"POST https://api.telegram.org/bot{BOT_TOKEN}/sendMessage", BOT_TOKEN),
        ("Authorization: Bearer s3cr3t-api-token", "s3cr3t-api-token"),
        ('{"secret": "x", "url": "...?secret=ABCDEFGHIJKLMNOP"}', "ABCDEFGHIJKLMNOP"),
        ("recovery code 1a2b-3c4d-5e6f-7a8b used", "1a2b-3c4d-5e6f-7a8b"),
        ("recovery code 1A2B3C4D5E6F7A8B used", "1A2B3C4D5E6F7A8B"),
    ],
)
def test_samples_are_redacted(sample: str, gone: str) -> None:
    assert gone not in redact(sample)


def test_configured_secret_values_are_redacted() -> None:
    key = generate_key()
    assert key not in redact(f"SECRETS_KEY={key}", secrets=[key])


@pytest.mark.parametrize(
    "kept",
    [
        "2026-11-28 09:14 UTC",
        'File "/work/main/bot/app.py", line 123, in post_init',
        "request #12 for tg:123456789 (anna@example.com)",
        "retry after 900 seconds",
    ],
)
def test_ordinary_text_stays_readable(kept: str) -> None:
    assert redact(kept) == kept


def test_log_lines_are_redacted_in_text_and_json() -> None:
    record = logging.LogRecord(
        "bot", logging.ERROR, __file__, 1, "code %s from %s", ("492039", BOT_TOKEN), None
    )
    try:
        raise RuntimeError(f"boom {SECRET}")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    text = RedactingFormatter([BOT_TOKEN]).format(record)
    assert "492039" not in text and BOT_TOKEN not in text and SECRET not in text
    line = RedactingFormatter([BOT_TOKEN], as_json=True).format(record)
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and "RuntimeError" in entry["exception"]
    assert "492039" not in line and SECRET not in line and "\n" not in line
