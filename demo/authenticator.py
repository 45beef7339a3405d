"""The demo's authenticator app: the TOTP entries each simulated user "scanned".

A user in the demo has no phone, so the demo plays the app: every key the bot showed a user
in their private chat (the QR code of ``/enroll``, or the key of **Show key**) becomes an
entry, and the page shows its current code. Entries stay when the bot deletes the QR code
and the key, as they stay in an app on a phone.

The QR code is read with zxing-cpp when it is installed (``make`` installs it with the dev
tools); without it, **Show key** still gives the demo the key.
"""

from __future__ import annotations

import hashlib
import io
import re
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlparse

import pyotp

from demo.botapi import BotApiState, SimMessage

#: What the key of **Show key** looks like: base32 in groups of four (at least 80 bits).
_KEY = re.compile(r"[A-Z2-7]{4}(?: ?[A-Z2-7]{4}){3,}")
PERIOD = 30


@dataclass(frozen=True)
class Entry:
    """One account in the app: what the app shows, and the secret it computes codes from."""

    user_id: int
    account: str
    issuer: str
    secret: str

    def code(self, at: float | None = None) -> str:
        return str(pyotp.TOTP(self.secret, interval=PERIOD).at(at or time.time()))

    def to_json(self, at: float | None = None) -> dict[str, object]:
        now = at or time.time()
        return {
            "id": hashlib.sha256(f"{self.user_id}:{self.secret}".encode()).hexdigest()[:12],
            "account": self.account,
            "issuer": self.issuer,
            "code": self.code(now),
            "seconds_left": PERIOD - int(now) % PERIOD,
        }


class Authenticator:
    """Reads the keys from the simulated chats; `entries(user_id)` lists what the app has."""

    def __init__(self, state: BotApiState) -> None:
        self._state = state
        self._qr_cache: dict[bytes, str | None] = {}

    def entries(self, user_id: int) -> list[Entry]:
        chat = self._state.chats.get(user_id)
        if chat is None or chat.user is None:
            return []
        found: dict[str, Entry] = {}
        for message in chat.messages.values():  # deleted ones too: the app keeps them
            if not message.from_bot:
                continue
            entry = self._from_qr(user_id, message) or _from_key_message(user_id, message)
            if entry is not None and entry.secret not in found:
                found[entry.secret] = entry
        return list(found.values())

    def _from_qr(self, user_id: int, message: SimMessage) -> Entry | None:
        if message.photo is None:
            return None
        digest = hashlib.sha256(message.photo).digest()
        if digest not in self._qr_cache:
            self._qr_cache[digest] = read_qr(message.photo)
        uri = self._qr_cache[digest]
        return _from_uri(user_id, uri) if uri else None


def read_qr(image: bytes) -> str | None:
    """The text of the QR code in a PNG or JPEG; None without zxing-cpp or a QR code."""
    try:
        import zxingcpp
        from PIL import Image
    except ImportError:
        return None
    try:
        results = zxingcpp.read_barcodes(
            Image.open(io.BytesIO(image)),
            formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode),
        )
    except (OSError, ValueError):
        return None
    return results[0].text if results else None


def _from_uri(user_id: int, uri: str) -> Entry | None:
    """An ``otpauth://totp/<issuer>:<account>?secret=...&issuer=...`` key URI."""
    parsed = urlparse(uri)
    if parsed.scheme != "otpauth" or parsed.netloc != "totp":
        return None
    query = {key: values[0] for key, values in parse_qs(parsed.query).items()}
    label_issuer, _, account = unquote(parsed.path.lstrip("/")).partition(":")
    secret = query.get("secret", "").upper()
    if not secret:
        return None
    return Entry(user_id, account, query.get("issuer", label_issuer), secret)


def _from_key_message(user_id: int, message: SimMessage) -> Entry | None:
    """The key message of **Show key**: the key and the account, each in a code entity (in
    any language the bot speaks)."""
    text = message.content.encode("utf-16-le")  # entity offsets count UTF-16 units
    codes = [
        text[2 * e["offset"] : 2 * (e["offset"] + e["length"])].decode("utf-16-le")
        for e in message.entities
        if e.get("type") == "code"
    ]
    for index, shown in enumerate(codes):
        if _KEY.fullmatch(shown):
            account = codes[index + 1] if index + 1 < len(codes) else ""
            return Entry(user_id, account, "", shown.replace(" ", ""))
    return None
