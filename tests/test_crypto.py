"""Secrets sealed with AES-GCM, bound to their account and device."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.crypto import (
    SealError,
    SecretBox,
    SecretsKeyError,
    UnknownKeyError,
    decode_key,
    generate_key,
    key_id,
    sealed_key_id,
)

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_seal_and_open_round_trip(box: SecretBox) -> None:
    sealed = box.seal(SECRET, account_id="acct-1", device_id="dev-1")
    assert SECRET.encode() not in sealed
    assert box.open(sealed, account_id="acct-1", device_id="dev-1") == SECRET


def test_sealing_twice_gives_different_blobs(box: SecretBox) -> None:
    one = box.seal(SECRET, account_id="a", device_id="d")
    two = box.seal(SECRET, account_id="a", device_id="d")
    assert one != two


@pytest.mark.parametrize("position", [0, 5, 20, -1])
def test_tampered_blob_does_not_open(box: SecretBox, position: int) -> None:
    sealed = bytearray(box.seal(SECRET, account_id="a", device_id="d"))
    sealed[position] ^= 0x01
    with pytest.raises(SealError):
        box.open(bytes(sealed), account_id="a", device_id="d")


def test_blob_moved_to_another_device_or_account_does_not_open(box: SecretBox) -> None:
    sealed = box.seal(SECRET, account_id="a", device_id="d")
    with pytest.raises(SealError):
        box.open(sealed, account_id="a", device_id="other")
    with pytest.raises(SealError):
        box.open(sealed, account_id="b", device_id="d")


def test_another_key_does_not_open(box: SecretBox) -> None:
    sealed = box.seal(SECRET, account_id="a", device_id="d")
    with pytest.raises(SealError):
        SecretBox(decode_key(generate_key())).open(sealed, account_id="a", device_id="d")


@pytest.mark.parametrize("value", ["", "not base64!", "c2hvcnQ=", "A" * 100])
def test_malformed_keys_are_refused(value: str) -> None:
    with pytest.raises(SecretsKeyError):
        decode_key(value)


def test_generated_key_decodes_to_32_bytes() -> None:
    assert len(decode_key(generate_key())) == 32


def test_a_value_names_its_key_and_a_previous_key_still_opens_it() -> None:
    old, new = decode_key(generate_key()), decode_key(generate_key())
    sealed = SecretBox(old).seal(SECRET, account_id="a", device_id="d")
    assert sealed_key_id(sealed) == key_id(old) != key_id(new)
    ring = SecretBox(new, previous=[old])
    assert ring.open(sealed, account_id="a", device_id="d") == SECRET
    assert ring.needs_reseal(sealed)
    resealed = ring.seal(SECRET, account_id="a", device_id="d")
    assert sealed_key_id(resealed) == key_id(new) and not ring.needs_reseal(resealed)
    assert ring.key_ids == [key_id(new), key_id(old)]


def test_a_value_under_a_key_that_is_not_configured_says_which() -> None:
    old, new = decode_key(generate_key()), decode_key(generate_key())
    sealed = SecretBox(old).seal(SECRET, account_id="a", device_id="d")
    with pytest.raises(UnknownKeyError) as refused:
        SecretBox(new).open(sealed, account_id="a", device_id="d")
    assert refused.value.key_id == key_id(old)


def test_a_value_from_before_key_ids_still_opens() -> None:
    key = decode_key(generate_key())
    nonce = os.urandom(12)
    body = AESGCM(key).encrypt(nonce, SECRET.encode(), b"2fa-desk/totp/v1\x00a\x00d")
    legacy = b"\x01" + nonce + body
    ring = SecretBox(decode_key(generate_key()), previous=[key])
    assert sealed_key_id(legacy) == "v1" and ring.needs_reseal(legacy)
    assert ring.open(legacy, account_id="a", device_id="d") == SECRET
