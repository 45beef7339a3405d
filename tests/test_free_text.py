"""What a user types that the bot keeps (device names, reasons) is never a secret."""

from __future__ import annotations

import pytest

from core.free_text import SecretShape, device_name_problem, secret_shape


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("123456", SecretShape.CODE),
        ("123 456", SecretShape.CODE),
        ("123–456", SecretShape.CODE),
        ("my code was 123456, help", SecretShape.CODE),
        ("7f4a-6e81-0c2d-93be", SecretShape.RECOVERY_CODE),
        ("7F4A 6E81 0C2D 93BE", SecretShape.RECOVERY_CODE),
        ("codes: 7f4a6e810c2d93be", SecretShape.RECOVERY_CODE),
        ("JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP", SecretShape.KEY),
        ("jbswy3dpehpk3pxpjbswy3dpehpk3pxp", SecretShape.KEY),
        ("JBSWYDPEHPKPXPJBSWYDPEHPKPXPABCD", SecretShape.KEY),
    ],
)
def test_secrets_are_recognised(text: str, shape: SecretShape) -> None:
    assert secret_shape(text) is shape


@pytest.mark.parametrize(
    "text",
    [
        "Philipp iPhone",
        "Samsung Galaxy Tab",
        "Work Cell Blue Case",
        "Telefonanschluss",
        "Pixel 7",
        "iPhone 15 Pro",
        "Lost my phone on a trip to Rome on 12.03.",
        "Mary's work phone (2024)",
    ],
)
def test_ordinary_names_and_reasons_are_not_secrets(text: str) -> None:
    assert secret_shape(text) is None
    assert len(text) > 40 or device_name_problem(text) == ""


def test_device_names_with_invisible_or_bidi_characters_are_refused() -> None:
    assert device_name_problem("Phone\u202egnp.exe") == "control"
    assert device_name_problem("Phone\u200b") == "control"
    assert device_name_problem("7f4a-6e81-0c2d-93be") == "looks_like_recovery_code"
