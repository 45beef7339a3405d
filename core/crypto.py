"""Secrets at rest: AES-256-GCM under a keyring.

``SECRETS_KEY`` is the current key: it seals. ``SECRETS_KEYS_PREVIOUS`` holds older keys
that may still open what they sealed, never seal (key rotation: ``python -m bot
rotate-key`` re-seals everything under the current key, online). Every sealed value
names the key that sealed it (a short key id in the blob), so a value opens with exactly
one key, and an operator can count what each key still seals.

The associated data binds a sealed secret to its account and device, so a sealed blob
copied onto another row does not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_BYTES = 32
NONCE_BYTES = 12
KEY_ID_BYTES = 4
FORMAT_V1 = b"\x01"  # nonce + ciphertext; from before key ids (opened by trial, see open)
FORMAT_V2 = b"\x02"  # key id + nonce + ciphertext
LEGACY_KEY_ID = "v1"  # how a v1 blob is counted: it names no key


class SecretsKeyError(ValueError):
    """The configured key is not URL-safe base64 of 32 bytes."""


class SealError(Exception):
    """A sealed secret failed to open: wrong key, wrong row, or tampered with."""


class UnknownKeyError(SealError):
    """A sealed value names a key that is not configured (not current, not previous)."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"sealed under key {key_id}, which is not configured")
        self.key_id = key_id


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


def key_id(key: bytes) -> str:
    """A key's public name: 8 hex digits of a keyed hash (reveals nothing of the key)."""
    return hmac.new(key, b"2fa-desk/key-id/v1", hashlib.sha256).hexdigest()[: 2 * KEY_ID_BYTES]


def _associated_data(account_id: str, device_id: str) -> bytes:
    return b"2fa-desk/totp/v1\x00" + account_id.encode() + b"\x00" + device_id.encode()


def _derive(key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(key)


def sealed_key_id(blob: bytes) -> str:
    """Which key sealed ``blob`` (``v1`` for a blob from before key ids)."""
    if blob[:1] == FORMAT_V2 and len(blob) > 1 + KEY_ID_BYTES:
        return blob[1 : 1 + KEY_ID_BYTES].hex()
    return LEGACY_KEY_ID


class SecretBox:
    """The keyring: seals under the current key, opens under the key a value names."""

    def __init__(self, key: bytes, previous: Iterable[bytes] = ()) -> None:
        if len(key) != KEY_BYTES:
            raise SecretsKeyError(f"key must be {KEY_BYTES} bytes")
        self.current_id = key_id(key)
        self._keys: dict[str, bytes] = {self.current_id: key}
        for old in previous:
            if len(old) != KEY_BYTES:
                raise SecretsKeyError(f"key must be {KEY_BYTES} bytes")
            self._keys.setdefault(key_id(old), old)
        self._aeads = {kid: AESGCM(k) for kid, k in self._keys.items()}

    @property
    def key_ids(self) -> list[str]:
        """The current key's id first, then the previous keys'."""
        return list(self._keys)

    def derived(self, purpose: bytes) -> dict[str, bytes]:
        """The derived key for ``purpose`` under every configured key, by key id."""
        return {kid: _derive(k, purpose) for kid, k in self._keys.items()}

    def seal(self, secret: str, *, account_id: str, device_id: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aeads[self.current_id].encrypt(
            nonce, secret.encode("ascii"), _associated_data(account_id, device_id)
        )
        return FORMAT_V2 + bytes.fromhex(self.current_id) + nonce + sealed

    def open(self, blob: bytes, *, account_id: str, device_id: str) -> str:
        data = _associated_data(account_id, device_id)
        if blob[:1] == FORMAT_V2 and len(blob) >= 1 + KEY_ID_BYTES + NONCE_BYTES + 16:
            kid = blob[1 : 1 + KEY_ID_BYTES].hex()
            aead = self._aeads.get(kid)
            if aead is None:
                raise UnknownKeyError(kid)
            body = blob[1 + KEY_ID_BYTES :]
            return self._decrypt(aead, body, data)
        if blob[:1] == FORMAT_V1 and len(blob) >= 1 + NONCE_BYTES + 16:
            # Sealed before key ids: by whichever key was current then. Tried in turn;
            # rotate-key gives every such value its key id.
            for aead in self._aeads.values():
                try:
                    return self._decrypt(aead, blob[1:], data)
                except SealError:
                    continue
            raise SealError("sealed secret does not open")
        raise SealError("not a sealed secret")

    def needs_reseal(self, blob: bytes) -> bool:
        """True for a value not sealed under the current key (rotate-key re-seals it)."""
        return sealed_key_id(blob) != self.current_id

    @staticmethod
    def _decrypt(aead: AESGCM, body: bytes, data: bytes) -> str:
        nonce, sealed = body[:NONCE_BYTES], body[NONCE_BYTES:]
        try:
            plain = aead.decrypt(nonce, sealed, data)
        except InvalidTag as exc:
            raise SealError("sealed secret does not open") from exc
        return plain.decode("ascii")
