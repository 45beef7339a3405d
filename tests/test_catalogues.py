"""The German catalogue is complete and true to the English: every message marked in the
source (extracted here with Babel, as ``make translations`` does, so a new message fails
even before anyone ran it) has a translation that is not fuzzy, with the same ``{fields}``,
the same HTML tags and entities, the same commands and emoji, and every plural form."""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from datetime import timedelta
from functools import cache
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from handlers.texts import LOCALE_DIR, catalogue, tr, using
from handlers.texts import support as support_texts
from handlers.texts import user as user_texts
from handlers.texts.format import duration_label

ROOT = Path(__file__).resolve().parent.parent
# The keywords `make translations` passes to pybabel extract (-k N_ -k NP_:1,2).
KEYWORDS = {"N_": None, "NP_": (1, 2)}
TRANSLATED = ("de",)
MAX_BUTTON = 25  # characters a button label may have, besides a device's name

_MARKUP = re.compile(r"</?[a-z]+[^>]*>|&[a-z]+;")
_COMMAND = re.compile(r"(?<![\w/<])/[a-z][a-z_]*")


@cache
def source() -> Catalog:
    """The English messages as marked in the source now."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, "babel.cfg")
    found = Catalog(locale="en")
    for filename, lineno, message, _comments, context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.add(message, locations=[(filename, lineno)], context=context)
    assert len(found) > 100, f"no marked messages found under {ROOT}"
    return found


@cache
def translations(language: str) -> Catalog:
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=language)


def marked() -> list[Message]:
    return [m for m in source() if m.id]


def label(message: Message) -> str:
    return message.id if isinstance(message.id, str) else message.id[0]


def fields(text: str) -> set[str]:
    """The ``{names}`` of a str.format template (a malformed one raises ValueError)."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def markup(text: str) -> Counter[str]:
    return Counter(_MARKUP.findall(text))


def commands(text: str) -> set[str]:
    return set(_COMMAND.findall(re.sub(r"@\w+", "", text)))


def emoji(text: str) -> Counter[str]:
    return Counter(c for c in text if unicodedata.category(c) == "So")


def edges(text: str) -> tuple[str, str]:
    """The white space a message starts and ends with."""
    return text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]


def forms(original: Message, translated: Message) -> list[tuple[str, str]]:
    """(English, translation) for each form: German's singular against the English
    singular, its plural against the English plural."""
    english = [original.id] if isinstance(original.id, str) else list(original.id)
    string = translated.string
    german = [string] if isinstance(string, str) else list(string or ())
    return [(english[min(i, len(english) - 1)], text) for i, text in enumerate(german)]


def test_the_source_has_messages() -> None:
    ids = {label(m) for m in marked()}
    assert len(ids) > 250
    assert "Complete activation" in ids and "{count} try left" in ids


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_catalogue_has_german_plural_forms(language: str) -> None:
    catalog = translations(language)
    assert catalog.num_plurals == 2
    assert catalog.plural_expr == "(n != 1)"
    gnu = catalogue(language)
    assert gnu.ngettext("{count} try left", "{count} tries left", 1) == "noch {count} Versuch"
    assert gnu.ngettext("{count} try left", "{count} tries left", 2) == "noch {count} Versuche"
    assert gnu.ngettext("{count} try left", "{count} tries left", 0) == "noch {count} Versuche"


@pytest.mark.parametrize("language", TRANSLATED)
@pytest.mark.parametrize("original", marked(), ids=lambda m: label(m)[:60])
def test_every_message_is_translated_faithfully(language: str, original: Message) -> None:
    translated = translations(language).get(original.id)
    assert translated is not None, (
        f"no {language} translation (run `make translations`, then translate): {label(original)!r}"
    )
    assert not translated.fuzzy, f"the {language} translation is fuzzy: {label(original)!r}"
    assert isinstance(translated.string, str) == isinstance(original.id, str), (
        "plural in one, not in the other: run `make translations`"
    )
    pairs = forms(original, translated)
    assert len(pairs) == (1 if isinstance(original.id, str) else translations(language).num_plurals)
    for english, text in pairs:
        assert text.strip(), f"untranslated form of {label(original)!r}"
        assert fields(text) == fields(english), f"placeholders differ: {english!r} -> {text!r}"
        assert markup(text) == markup(english), f"HTML differs: {english!r} -> {text!r}"
        assert commands(text) == commands(english), f"commands differ: {english!r} -> {text!r}"
        assert emoji(text) == emoji(english), f"emoji differ: {english!r} -> {text!r}"
        # Pieces are joined ("\n\n…", " Reason: …"): the joins stay where they were.
        assert edges(text) == edges(english), f"spaces differ: {english!r} -> {text!r}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_no_translation_of_a_message_the_source_no_longer_has(language: str) -> None:
    current = {m.id for m in marked()}
    stale = [m.id for m in translations(language) if m.id and m.id not in current]
    assert stale == [], "run `make translations` to drop them"
    assert not translations(language).obsolete


def test_placeholder_checks_catch_a_changed_field() -> None:
    assert fields("Noch {count} Versuche") != fields("{n} tries left")
    assert markup("<b>{name}</b> ist aktiv") != markup("<b>{name} is active")
    assert commands("Senden Sie /enrol") != commands("Send /enroll")
    with pytest.raises(ValueError):
        fields("Noch {count Versuche")


def _buttons() -> list[str]:
    return [
        value
        for module in (user_texts, support_texts)
        for name, value in vars(module).items()
        if name.startswith("BUTTON_") and isinstance(value, str)
    ]


@pytest.mark.parametrize("language", TRANSLATED)
def test_buttons_fit_on_a_phone(language: str) -> None:
    """A label no longer than MAX_BUTTON characters, or than the English one."""

    def shown(message: str) -> str:
        return tr(message).replace("{name}", "")

    too_long = []
    for message in _buttons():
        english = shown(message)
        with using(language):
            if len(shown(message)) > max(MAX_BUTTON, len(english)):
                too_long.append(shown(message))
    assert too_long == []
    with using(language):
        assert tr(user_texts.BUTTON_COMPLETE) == "Aktivierung abschließen"


def test_german_durations_on_the_approve_buttons() -> None:
    with using("de"):
        assert [duration_label(timedelta(hours=h)) for h in (4, 24, 72)] == [
            "4 Std.",
            "24 Std.",
            "3 Tage",
        ]
