"""Everything the bot says, one module per audience: ``user``, ``support``, ``ops``;
``format`` writes times and lists for all of them.

The modules hold the English messages, each marked with ``N_`` (or ``NP_`` for a message
with a plural) so that ``pybabel extract`` finds them; ``tr`` and ``trn`` look the
translation up, when a text is written, in the language of whoever reads it. That
language is set once per update (``handlers.language``) and, for messages that go to
someone else (a notice, the support chat, the ops chat), around the rendering with
``using``. The catalogues are ``locale/<lang>/LC_MESSAGES/messages.po`` beside this
file, read at start.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from core.languages import DEFAULT as DEFAULT_LANGUAGE
from core.languages import LANGUAGES

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"

_language: ContextVar[str] = ContextVar("language", default=DEFAULT_LANGUAGE)

Plural = tuple[str, str]


def N_(message: str) -> str:
    """Marks a message for extraction; translated where it is written (``tr``)."""
    return message


def NP_(singular: str, plural: str) -> Plural:
    """Marks a message with a plural form; ``trn`` picks the form for a count."""
    return (singular, plural)


def current() -> str:
    return _language.get()


def set_language(language: str) -> None:
    """The language of the rest of this update's handling (a task of its own)."""
    _language.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)


@contextmanager
def using(language: str) -> Iterator[None]:
    """Write in ``language`` for a while (a message to someone other than the sender)."""
    token = _language.set(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        _language.reset(token)


@cache
def catalogue(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of a language (English is the source: no catalogue)."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if language == DEFAULT_LANGUAGE or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as po:
        parsed = read_po(po, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, parsed)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def tr(message: str) -> str:
    """``message`` (an English message marked with ``N_``) in the current language."""
    return catalogue(_language.get()).gettext(message)


def trn(message: Plural, count: int) -> str:
    """The form of a plural message for ``count``, in the current language."""
    return catalogue(_language.get()).ngettext(message[0], message[1], count)
