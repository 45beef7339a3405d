"""Telegram's parse_mode handling: HTML, MarkdownV2 and legacy Markdown -> (text, entities).

The real Bot API rejects badly formatted text with ``400 Bad Request: can't parse entities: ...``
(unescaped ``<`` in HTML, an unescaped ``.`` or ``-`` in MarkdownV2, a tag cut in half by
truncation...). Those are the formatting bugs a bot most often ships with, so the simulator
reproduces the parser's rules and error messages (modelled on TDLib's behaviour), returns the
plain text plus entities like Telegram does, and compares rendered content for "message is
not modified". Offsets and lengths are in UTF-16 code units, as in the Bot API.
"""

from demo.botapi.markup.common import Entity, ParseError, utf16_len
from demo.botapi.markup.html_mode import parse_html
from demo.botapi.markup.markdown_mode import parse_markdown, parse_markdown_v2
from demo.botapi.protocol import ApiError

__all__ = ["Entity", "ParseError", "parse_text", "utf16_len"]


def parse_text(text: str, parse_mode: str | None) -> tuple[str, list[Entity]]:
    """Render `text` with `parse_mode` (None = plain); raises ApiError(400) on bad markup.

    Leading and trailing whitespace is dropped, as Telegram does; entities are clipped to it.
    """
    mode = (parse_mode or "").lower()
    entities: list[Entity]
    try:
        if not mode:
            plain, entities = text, []
        elif mode == "html":
            plain, entities = parse_html(text)
        elif mode == "markdownv2":
            plain, entities = parse_markdown_v2(text)
        elif mode == "markdown":
            plain, entities = parse_markdown(text)
        else:
            raise ApiError.bad_request(f"unsupported parse_mode {parse_mode}")
    except ParseError as exc:
        raise exc.to_api_error() from None
    return _strip(plain, entities)


def _strip(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    stripped = text.strip()
    if stripped == text:
        return text, _sorted(entities)
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    clipped = []
    for entity in entities:
        start = max(0, entity["offset"] - lead)
        end = min(total, entity["offset"] + entity["length"] - lead)
        if end > start:
            clipped.append({**entity, "offset": start, "length": end - start})
    return stripped, _sorted(clipped)


def _sorted(entities: list[Entity]) -> list[Entity]:
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))
