"""What a test needs to act like a user's authenticator app (bench/_support.py, shared with
the benchmarks), and to read what the bot shows."""

from __future__ import annotations

import re
from datetime import datetime

from bench._support import app_code as app_code
from bench._support import decode_qr as decode_qr
from bench._support import independent_totp as independent_totp
from bench._support import parse_key_uri as parse_key_uri

#: A recovery code as the bot shows it: four groups of four hex digits.
CODE = re.compile(r"[0-9a-f]{4}(?:-[0-9a-f]{4}){3}")

MONTHS = {
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    "de": [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
}


def shown_time(moment: datetime) -> str:
    """A time as the bot writes it in English with TIMEZONE=UTC: "1 March 2026, 09:16 UTC"."""
    return f"{moment.day} {moment:%B %Y, %H:%M} UTC"
