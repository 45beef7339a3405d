"""The identifier rule: NFC, and no invisible, control or private characters."""

from __future__ import annotations

import unicodedata

import pytest

from core.identifiers import (
    MAX_ACCOUNT_ID_LENGTH,
    InvalidIdentifier,
    normalise_account_id,
    text_problem,
)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("a\x7f", "control"),
        ("a\x85", "control"),
        ("alice\u200b", "format"),  # zero-width space
        ("\ufeffalice", "format"),  # byte order mark
        ("a\u202eb", "format"),  # right-to-left override
        ("a\u2028b", "separator"),  # line separator
        ("a\u2029b", "separator"),  # paragraph separator
        ("a\ud800", "surrogate"),
        ("a\udcff", "surrogate"),
        ("a\ue000", "private_use"),
        ("a\U000f0000", "private_use"),
    ],
)
def test_text_problem_names_the_category(text: str, reason: str) -> None:
    assert text_problem(text) == reason


@pytest.mark.parametrize(
    "text",
    [
        "",
        "alice",
        "Anna Example",
        "org/123",
        "ü@example.com",
        "ａｌｉｃｅ",
        "%FF",
        "a\u00a0b",
        "😀",
    ],
)
def test_text_problem_is_none_for_clean_text(text: str) -> None:
    assert text_problem(text) is None


def test_account_ids_are_nfc() -> None:
    decomposed = "e\u0301@example.com"
    assert normalise_account_id(decomposed) == "\u00e9@example.com"
    assert unicodedata.is_normalized("NFC", normalise_account_id(decomposed))
    assert normalise_account_id("alice") == "alice"
    assert normalise_account_id("Anna Example") == "Anna Example"


def test_nfc_does_not_fold_compatibility_forms() -> None:
    # The organisation's ids are opaque: NFKC could merge two of its distinct accounts.
    assert normalise_account_id("ａｌｉｃｅ") == "ａｌｉｃｅ" != "alice"
    assert normalise_account_id("ﬁle") == "ﬁle"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "empty"),
        ("x" * (MAX_ACCOUNT_ID_LENGTH + 1), "too_long"),
        (" alice", "whitespace"),
        ("alice ", "whitespace"),
        ("alice\u00a0", "whitespace"),
        ("\u3000alice", "whitespace"),
        ("   ", "whitespace"),
        ("alice\u200b", "format"),
        ("a\nb", "control"),
        ("\ud800", "surrogate"),
        ("a\u2028b", "separator"),
        ("a\ue000", "private_use"),
    ],
)
def test_refused_account_ids_say_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidIdentifier) as caught:
        normalise_account_id(raw)
    assert caught.value.reason == reason
    assert isinstance(caught.value, ValueError)
    assert str(caught.value) and "\n" not in str(caught.value)


def test_the_length_limit_counts_the_normalised_id() -> None:
    assert normalise_account_id("x" * MAX_ACCOUNT_ID_LENGTH) == "x" * MAX_ACCOUNT_ID_LENGTH
    # 256 "e" + combining acute accent compose into 256 characters.
    assert len(normalise_account_id("e\u0301" * MAX_ACCOUNT_ID_LENGTH)) == MAX_ACCOUNT_ID_LENGTH


def test_the_limit_is_256_characters() -> None:
    assert MAX_ACCOUNT_ID_LENGTH == 256
