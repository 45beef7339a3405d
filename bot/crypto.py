"""Secrets at rest: AES-256-GCM under ``SECRETS_KEY``.

The associated data binds a sealed secret to its account and device, so a
sealed blob copied onto another row does not open.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT_V1 = b"\x01"


class SecretsKeyError(ValueError):
    """The configured key is not URL-safe base64 of 32 bytes."""


class SealError(Exception):
    """A sealed secret failed to open: wrong key, wrong row, or tampered with."""


def generate_key() -> str:
    """A fresh value for ``SECRETS_KEY``."""
    return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")


def decode_key(value: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(value.strip().encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise SecretsKeyError("not URL-safe base64") from exc
    if len(raw) != KEY_BYTES:
        raise SecretsKeyError(f"decodes to {len(raw)} bytes, not {KEY_BYTES}")
    return raw


def _associated_data(account_id: str, device_id: str) -> bytes:
    return b"2fa-desk/totp/v1\x00" + account_id.encode() + b"\x00" + device_id.encode()


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise SecretsKeyError(f"key must be {KEY_BYTES} bytes")
        self._key = key
        self._aead = AESGCM(key)

    def derive(self, purpose: bytes) -> bytes:
        """A separate 32-byte key for another use of SECRETS_KEY (HKDF-SHA256)."""
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(self._key)

    def seal(self, secret: str, *, account_id: str, device_id: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(
            nonce, secret.encode("ascii"), _associated_data(account_id, device_id)
        )
        return FORMAT_V1 + nonce + sealed

    def open(self, blob: bytes, *, account_id: str, device_id: str) -> str:
        if len(blob) < 1 + NONCE_BYTES + 16 or blob[:1] != FORMAT_V1:
            raise SealError("not a sealed secret")
        nonce, sealed = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        try:
            plain = self._aead.decrypt(nonce, sealed, _associated_data(account_id, device_id))
        except InvalidTag as exc:
            raise SealError("sealed secret does not open") from exc
        return plain.decode("ascii")
