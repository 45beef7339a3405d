"""What a test needs to act like a user's authenticator app."""

from __future__ import annotations

import io
import time
from datetime import datetime
from urllib.parse import parse_qs, unquote, urlparse

import zxingcpp
from PIL import Image

from tests.test_totp import independent_totp


def decode_qr(png: bytes) -> str:
    """Read a QR code with zxing-cpp, a decoder independent of the library that drew it."""
    # Only QR codes: in about one image in 10,000 zxing also "sees" a 1-D barcode (ITF)
    # in the modules of a valid QR code.
    results = zxingcpp.read_barcodes(
        Image.open(io.BytesIO(png)), formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    )
    assert len(results) == 1, f"expected one QR code, found {len(results)}"
    return results[0].text


def parse_key_uri(uri: str) -> dict[str, str]:
    """The parts of an ``otpauth://totp/<issuer>:<account>?secret=...`` URI."""
    parsed = urlparse(uri)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp"
    label = unquote(parsed.path.lstrip("/"))
    issuer, _, account = label.partition(":")
    query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    return {"label_issuer": issuer, "account": account, **query}


def app_code(secret: str, at: float | None = None) -> str:
    """The code the authenticator app shows now (or at ``at``), computed independently."""
    return independent_totp(secret, time.time() if at is None else at)


def shown_time(moment: datetime) -> str:
    """A time as the bot writes it in English with TIMEZONE=UTC: "1 March 2026, 09:16 UTC"."""
    return f"{moment.day} {moment:%B %Y, %H:%M} UTC"
