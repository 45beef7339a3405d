"""Redaction with real samples: what must never reach a log or the ops chat."""

from __future__ import annotations

import json
import logging

import pytest

from bot.logs import RedactingFormatter
from core.crypto import generate_key
from core.redaction import redact

BOT_TOKEN = "7312345678:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0"
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
API_CLIENT_TOKEN = "twofa_Zx-3kQ_9vB2mN7pL4sT8wY1cF6hJ0dR5gE3aU7iO2qK"


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
        (f"client token={API_CLIENT_TOKEN}, pasted", API_CLIENT_TOKEN),
        ("Authorization: Bearer s3cr3t-api-token", "s3cr3t-api-token"),
        ('{"secret": "x", "url": "...?secret=ABCDEFGHIJKLMNOP"}', "ABCDEFGHIJKLMNOP"),
        ("recovery code 1a2b-3c4d-5e6f-7a8b used", "1a2b-3c4d-5e6f-7a8b"),
        ("recovery code 1A2B3C4D5E6F7A8B used", "1A2B3C4D5E6F7A8B"),
        # a code right after "/" or ":", or right before "." or ":"
        ("command /123456", "123456"),
        ("code:123456 refused", "123456"),
        ("the code was 123456.", "123456"),
        ("123456: not accepted", "123456"),
        ("typed '654321' at 09:14", "654321"),
        # every separator parse_code accepts (core/totp.py)
        ("user typed 123\u2013456", "123\u2013456"),
        ("user typed 1 2 3 4 5 6 there", "1 2 3 4 5 6"),
        ("user typed 12 34 56", "12 34 56"),
        ("user typed 123\u2011456", "123\u2011456"),
        ("user typed 123456 5 times", "123456"),
        # enrolment link tokens
        ("https://t.me/twofa_desk_bot?start=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg", "Zm9vYmFyYmF6cXV4"),
        ("opened /start Zm9vYmFyYmF6cXV4MTIzNDU2Nzg in a group", "Zm9vYmFyYmF6cXV4"),
        ("/start@twofa_desk_bot Zm9vYmFyYmF6cXV4MTIzNDU2Nzg", "Zm9vYmFyYmF6cXV4"),
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
        "2026-11-28 09:14:05 UTC, 2026-11-28T09:14:05.123456+00:00",
        "request #12 for 123 min; 5 of 10 left",
        "/start from tg:123456789",
    ],
)
def test_ordinary_text_stays_readable(kept: str) -> None:
    assert redact(kept) == kept


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("<pre>Authorization: Bearer s3cr3t</pre>", "<pre>Authorization: Bearer [token]</pre>"),
        ('"otpauth://totp/x?secret=JBSWY3DPEHPK3PXP"}', '"otpauth://[redacted]"}'),
        ("'Bearer s3cr3t'", "'Bearer [token]'"),
    ],
)
def test_a_redacted_value_ends_where_the_value_ends(before: str, after: str) -> None:
    assert redact(before) == after


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


@pytest.mark.parametrize(
    "message",
    [
        "link otpauth://totp/x?secret=JBSWY3DPEHPK3PXP",
        "header Authorization: Bearer s3cr3t-api-token",
        'quoted "Bearer s3cr3t" and a backslash \\ at the end',
    ],
)
def test_a_json_log_line_stays_json_whatever_it_holds(message: str) -> None:
    record = logging.LogRecord("bot", logging.INFO, __file__, 1, message, (), None)
    entry = json.loads(RedactingFormatter(as_json=True).format(record))
    assert "s3cr3t" not in entry["message"] and "JBSWY3DPEHPK3PXP" not in entry["message"]
