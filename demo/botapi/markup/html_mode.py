"""Telegram's HTML parse mode (tags, attributes and error messages as the Bot API has them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from demo.botapi.markup.common import Entity, Out, ParseError, byte_offset, normalize_url

_HTML_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


@dataclass
class _OpenTag:
    name: str
    start: int
    attrs: dict[str, str] = field(default_factory=dict)


def _decode_html_entity(text: str, i: int) -> tuple[str | None, int]:
    """Decode an HTML entity at text[i] == '&'. Unknown entities stay literal (None)."""
    n = len(text)
    j = i + 1
    decoded: str | None
    if j < n and text[j] == "#":
        j += 1
        base = 10
        if j < n and text[j] in "xX":
            base, j = 16, j + 1
        start = j
        digits = "0123456789abcdefABCDEF" if base == 16 else "0123456789"
        while j < n and text[j] in digits:
            j += 1
        if j == start:
            return None, i
        code = int(text[start:j], base)
        if code == 0 or code > 0x10FFFF:
            return None, i
        if 0xD800 <= code <= 0xDFFF:
            raise ParseError(
                "Text contains invalid Unicode characters after decoding HTML entities, "
                "check for unmatched surrogate code units"
            )
        decoded = chr(code)
    else:
        start = j
        while j < n and text[j].isascii() and text[j].isalpha():
            j += 1
        decoded = _NAMED_ENTITIES.get(text[start:j])
        if decoded is None:
            return None, i
    if j < n and text[j] == ";":
        j += 1
    return decoded, j


def _unescape_attr(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "&":
            decoded, j = _decode_html_entity(value, i)
            if decoded is not None:
                out.append(decoded)
                i = j
                continue
        out.append(value[i])
        i += 1
    return "".join(out)


def _parse_start_tag(text: str, begin: int) -> tuple[_OpenTag, int]:
    """Parse ``<name attr=value ...>`` starting at `begin`; returns the tag and index after >."""
    n = len(text)

    def at(index: int) -> int:
        return byte_offset(text, index)

    j = begin + 1
    while j < n and not text[j].isspace() and text[j] != ">":
        j += 1
    if j >= n:
        raise ParseError(f"Unclosed start tag at byte offset {at(begin)}")
    name = text[begin + 1 : j].lower()
    if name not in _HTML_TYPES:
        raise ParseError(f'Unsupported start tag "{name}" at byte offset {at(begin)}')
    tag = _OpenTag(name, 0)
    while True:
        while j < n and text[j].isspace():
            j += 1
        if j >= n:
            raise ParseError(f"Unclosed start tag at byte offset {at(begin)}")
        if text[j] == ">":
            break
        attr_begin = j
        while j < n and not text[j].isspace() and text[j] not in "=>":
            j += 1
        attr = text[attr_begin:j].lower()
        if not attr:
            raise ParseError(f'Empty attribute name in the tag "{name}" at byte offset {at(begin)}')
        while j < n and text[j].isspace():
            j += 1
        if j >= n:
            raise ParseError(f'Unclosed start tag "{name}" at byte offset {at(begin)}')
        if text[j] != "=":
            if name == "blockquote" and attr == "expandable":
                tag.attrs[attr] = ""
                continue
            raise ParseError(
                "Expected equal sign in declaration of an attribute of the tag "
                f'"{name}" at byte offset {at(begin)}'
            )
        j += 1
        while j < n and text[j].isspace():
            j += 1
        if j >= n:
            raise ParseError(f'Unclosed start tag "{name}" at byte offset {at(begin)}')
        if text[j] in "'\"":
            end = text.find(text[j], j + 1)
            if end < 0:
                raise ParseError(f"Unclosed start tag at byte offset {at(begin)}")
            value, j = _unescape_attr(text[j + 1 : end]), end + 1
        else:
            value_begin = j
            while j < n and ((text[j].isascii() and text[j].isalnum()) or text[j] in ".-"):
                j += 1
            if j >= n:
                raise ParseError(f'Unclosed start tag "{name}" at byte offset {at(begin)}')
            if not text[j].isspace() and text[j] != ">":
                raise ParseError(f"Unexpected end of name token at byte offset {at(value_begin)}")
            value = text[value_begin:j]
        tag.attrs[attr] = value
    if name == "span" and tag.attrs.get("class") != "tg-spoiler":
        raise ParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {at(begin)}')
    return tag, j + 1


def _html_entity(tag: _OpenTag, length: int, inner: str) -> Entity | None:
    kind = _HTML_TYPES[tag.name]
    entity: Entity = {"type": kind, "offset": tag.start, "length": length}
    if kind == "text_link":
        url = normalize_url(tag.attrs.get("href", inner))
        if url is None:
            return None
        entity["url"] = url
    elif kind == "code":
        language = tag.attrs.get("class", "")
        if language.startswith("language-") and language[9:]:
            entity["language"] = language[9:]
    elif kind == "blockquote" and "expandable" in tag.attrs:
        entity["type"] = "expandable_blockquote"
    elif kind == "custom_emoji":
        entity["custom_emoji_id"] = tag.attrs.get("emoji-id", "")
    return entity


def parse_html(text: str) -> tuple[str, list[Entity]]:
    out = Out()
    stack: list[tuple[_OpenTag, int]] = []  # (tag, index in out.parts at open)
    entities: list[Entity] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "&":
            decoded, j = _decode_html_entity(text, i)
            if decoded is not None:
                out.add(decoded)
                i = j
                continue
        if ch != "<":
            out.add(ch)
            i += 1
            continue
        begin = i
        if i + 1 < n and text[i + 1] != "/":
            tag, i = _parse_start_tag(text, begin)
            tag.start = out.u16
            stack.append((tag, len(out.parts)))
            continue
        if not stack:
            raise ParseError(f"Unexpected end tag at byte offset {byte_offset(text, begin)}")
        j = i + 2
        while j < n and not text[j].isspace() and text[j] != ">":
            j += 1
        end_name = text[i + 2 : j].lower()
        while j < n and text[j].isspace():
            j += 1
        if j >= n or text[j] != ">":
            raise ParseError(f"Unclosed end tag at byte offset {byte_offset(text, begin)}")
        tag, parts_at = stack.pop()
        if end_name and end_name != tag.name:
            raise ParseError(
                f"Unmatched end tag at byte offset {byte_offset(text, begin)}, "
                f'expected "</{tag.name}>", found "</{end_name}>"'
            )
        i = j + 1
        length = out.u16 - tag.start
        if length <= 0:
            continue
        entity = _html_entity(tag, length, "".join(out.parts[parts_at:]))
        if entity is None:
            continue
        if entity["type"] == "pre" and entities:
            # <pre><code class="language-x">...</code></pre> is one "pre" entity with a language.
            last = entities[-1]
            same_span = (last["offset"], last["length"]) == (entity["offset"], length)
            if last["type"] == "code" and same_span and "language" in last:
                entity["language"] = entities.pop()["language"]
        elif entity["type"] == "code":
            entity_language = entity.pop("language", None)
            if entity_language and stack and stack[-1][0].name == "pre":
                entity["language"] = entity_language
        entities.append(entity)
    if stack:
        raise ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0].name}"')
    return out.text(), entities
