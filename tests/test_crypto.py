"""Secrets sealed with AES-GCM, bound to their account and device."""

from __future__ import annotations

import pytest

from bot.crypto import SealError, SecretBox, SecretsKeyError, decode_key, generate_key

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
