"""TOTP as the apps compute it, checked against RFC 6238 and a second implementation."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from core import totp
from tests.helpers import independent_totp

# RFC 6238 appendix B, SHA1 column; the secret is the ASCII "12345678901234567890".
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.mark.parametrize(("unix_time", "eight_digits"), RFC_VECTORS)
def test_rfc6238_vectors_are_accepted_at_their_time(unix_time: int, eight_digits: str) -> None:
    at = datetime.fromtimestamp(unix_time, UTC)
    six_digits = eight_digits[-6:]
    assert independent_totp(RFC_SECRET, unix_time) == six_digits
    assert totp.matching_step(RFC_SECRET, six_digits, at) == unix_time // 30


def test_codes_of_an_independent_implementation_are_accepted() -> None:
    at = datetime(2026, 5, 17, 8, 30, 5, tzinfo=UTC)
    for _ in range(50):
        secret = totp.generate_secret()
        code = independent_totp(secret, at.timestamp())
        assert totp.matching_step(secret, code, at) == totp.time_step(at)


def test_generated_secret_has_160_bits() -> None:
    secret = totp.generate_secret()
    assert len(secret) == 32
    assert len(base64.b32decode(secret)) == 20
    assert secret != totp.generate_secret()


@pytest.mark.parametrize(
    ("offset_steps", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)]
)
def test_window_accepts_previous_current_and_next_step_only(
    offset_steps: int, accepted: bool
) -> None:
    secret = totp.generate_secret()
    now = datetime(2026, 5, 17, 8, 30, 15, tzinfo=UTC)
    code_time = now + timedelta(seconds=30 * offset_steps)
    code = independent_totp(secret, code_time.timestamp())
    step = totp.matching_step(secret, code, now)
    assert (step is not None) is accepted
    if accepted:
        assert step == totp.time_step(code_time)


def test_provisioning_uri_is_the_standard_key_uri() -> None:
    uri = totp.provisioning_uri(
        "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", account="anna@example.com", issuer="2FA Desk"
    )
    assert uri == (
        "otpauth://totp/2FA%20Desk:anna%40example.com"
        "?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=2FA%20Desk"
    )


def test_key_is_grouped_in_fours_for_typing() -> None:
    assert totp.grouped_key("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP") == (
        "JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP"
    )


@pytest.mark.parametrize(
    "text", ["123456", " 123456 ", "123 456", "123-456", "12 34 56", "123‑456"]
)
def test_codes_with_spaces_or_a_dash_parse(text: str) -> None:
    assert totp.parse_code(text).code == "123456"


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("12345", 5),
        ("1234567", 7),
        ("12a456", 0),
        ("🙂", 0),
        ("x" * 5000, 0),
        ("", 0),
        ("١٢٣٤٥٦", 0),
    ],
)
def test_anything_else_is_not_a_code(text: str, digits: int) -> None:
    parsed = totp.parse_code(text)
    assert parsed.code is None
    assert parsed.digit_count == digits


def test_fast_secret_decoding_matches_base32() -> None:
    for _ in range(200):
        secret = totp.generate_secret()
        assert totp._TOTP(secret).byte_secret() == base64.b32decode(secret)
    for odd in ("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXPJBSWY3DP", "jbswy3dpehpk3pxpjbswy3dpehpk3pxp"):
        assert totp._TOTP(odd).byte_secret() == base64.b32decode(odd.upper())


def test_counter_packing_matches_pyotp() -> None:
    import pyotp

    for counter in (0, 1, 255, 256, 2**32 + 7, 2**63 - 1):
        assert totp._TOTP.int_to_bytestring(counter) == pyotp.OTP.int_to_bytestring(counter)
