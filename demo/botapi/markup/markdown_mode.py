"""Telegram's MarkdownV2 and legacy Markdown parse modes."""

from __future__ import annotations

from dataclasses import dataclass

from demo.botapi.markup.common import Entity, Out, ParseError, byte_offset, normalize_url

_MD2_RESERVED = "_*[]()~`>#+-=|{}.!"
_MD2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
    "code": "Code",
    "pre": "Pre",
    "pre_code": "PreCode",
    "custom_emoji": "CustomEmoji",
}


@dataclass
class _Open:
    kind: str
    start: int  # u16 offset in output
    byte_at: int  # byte offset in source, for error messages
    parts_at: int
    language: str = ""


def _reserved(ch: str) -> ParseError:
    return ParseError(f"Character '{ch}' is reserved and must be escaped with the preceding '\\'")


def _closes(kind: str, text: str, i: int) -> bool:
    ch, nxt = text[i], text[i + 1 : i + 2]
    return {
        "bold": ch == "*",
        "italic": ch == "_" and nxt != "_",
        "underline": ch == "_" and nxt == "_",
        "strikethrough": ch == "~",
        "spoiler": ch == "|" and nxt == "|",
        "code": ch == "`",
        "pre": text.startswith("```", i),
        "pre_code": text.startswith("```", i),
        "text_link": ch == "]",
        "custom_emoji": ch == "]",
    }[kind]


def _read_url(text: str, i: int) -> tuple[str, int]:
    """Read ``(url)`` with text[i] == '('; returns (url, index of the closing paren)."""
    url_begin = i + 1
    j, url = url_begin, []
    while j < len(text) and text[j] != ")":
        if text[j] == "\\" and j + 1 < len(text) and 0 < ord(text[j + 1]) <= 126:
            url.append(text[j + 1])
            j += 2
            continue
        url.append(text[j])
        j += 1
    if j >= len(text):
        raise ParseError(f"Can't find end of a URL at byte offset {byte_offset(text, url_begin)}")
    return "".join(url), j


def _open_md2(text: str, i: int, out: Out) -> tuple[_Open, int]:
    """Open the entity starting at text[i]; returns it and the index of its last marker char."""
    ch, nxt = text[i], text[i + 1 : i + 2]
    entity = _Open("", out.u16, byte_offset(text, i), len(out.parts))
    if ch == "_":
        entity.kind = "underline" if nxt == "_" else "italic"
        return entity, i + (1 if nxt == "_" else 0)
    if ch in "*~[":
        entity.kind = {"*": "bold", "~": "strikethrough", "[": "text_link"}[ch]
        return entity, i
    if ch == "|" and nxt == "|":
        entity.kind = "spoiler"
        return entity, i + 1
    if ch == "!" and nxt == "[":
        entity.kind = "custom_emoji"
        return entity, i + 1
    if ch == "`" and not text.startswith("```", i):
        entity.kind = "code"
        return entity, i
    if ch == "`":
        j = i + 3
        language_end = j
        while language_end < len(text) and not text[language_end].isspace():
            if text[language_end] == "`":
                break
            language_end += 1
        entity.kind = "pre"
        if j != language_end and language_end < len(text) and text[language_end] != "`":
            entity.kind, entity.language, j = "pre_code", text[j:language_end], language_end
        if text[j : j + 2] in ("\r\n", "\n\r"):
            j += 2
        elif text[j : j + 1] in ("\n", "\r"):
            j += 1
        return entity, j - 1
    raise _reserved(ch)


def _close_md2(text: str, i: int, top: _Open, out: Out) -> tuple[Entity | None, int]:
    """Close `top` at text[i]; returns the entity (None if dropped) and last consumed index."""
    entity: Entity = {"type": top.kind, "offset": top.start, "length": out.u16 - top.start}
    if top.kind in ("underline", "spoiler"):
        i += 1
    elif top.kind in ("pre", "pre_code"):
        i += 2
        entity["type"] = "pre"
        if top.language:
            entity["language"] = top.language
    elif top.kind in ("text_link", "custom_emoji"):
        inner = "".join(out.parts[top.parts_at :])
        if text[i + 1 : i + 2] == "(":
            url, i = _read_url(text, i + 1)
        else:
            url = inner
        if top.kind == "custom_emoji":
            if not url.startswith("tg://emoji?id="):
                raise ParseError("Custom emoji entity must contain a tg://emoji URL")
            entity["custom_emoji_id"] = url.removeprefix("tg://emoji?id=")
        else:
            normalized = normalize_url(url)
            if normalized is None:
                return None, i
            entity["url"] = normalized
    if entity["length"] <= 0:
        return None, i
    return entity, i


def parse_markdown_v2(text: str) -> tuple[str, list[Entity]]:
    out = Out()
    stack: list[_Open] = []
    entities: list[Entity] = []
    quote_start: int | None = None
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        at_line_start = i == 0 or text[i - 1] == "\n"
        if ch == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.add(text[i + 1])
            i += 2
            continue
        if ch == ">" and at_line_start and not stack:
            quote_start = out.u16 if quote_start is None else quote_start
            i += 1
            continue
        if ch == "\n" and quote_start is not None and text[i + 1 : i + 2] != ">":
            _add_quote(entities, quote_start, out.u16)
            quote_start = None
        in_code = bool(stack) and stack[-1].kind in ("code", "pre", "pre_code")
        if ch not in ("`" if in_code else _MD2_RESERVED):
            out.add(ch)
            i += 1
            continue
        if stack and _closes(stack[-1].kind, text, i):
            entity, i = _close_md2(text, i, stack.pop(), out)
            if entity is not None:
                entities.append(entity)
        else:
            opened, i = _open_md2(text, i, out)
            stack.append(opened)
        i += 1
    if stack:
        top = stack[-1]
        raise ParseError(
            f"Can't find end of {_MD2_NAMES[top.kind]} entity at byte offset {top.byte_at}"
        )
    if quote_start is not None:
        _add_quote(entities, quote_start, out.u16)
    return out.text(), entities


def _add_quote(entities: list[Entity], start: int, end: int) -> None:
    if end > start:
        entities.append({"type": "blockquote", "offset": start, "length": end - start})


# ----------------------------------------------------------------------------- legacy Markdown


def parse_markdown(text: str) -> tuple[str, list[Entity]]:
    """Legacy "Markdown": *bold* _italic_ `code` ```pre``` [text](url), no nesting."""
    out = Out()
    entities: list[Entity] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.add(text[i + 1])
            i += 2
            continue
        if ch not in "_*`[":
            out.add(ch)
            i += 1
            continue
        begin, start = i, out.u16
        language = ""
        if text.startswith("```", i):
            end_marker, i = "```", i + 3
            newline = text.find("\n", i)
            if newline >= 0 and text[i:newline] and " " not in text[i:newline]:
                language, i = text[i:newline], newline + 1
        else:
            end_marker, i = ("]" if ch == "[" else ch), i + 1
        end = text.find(end_marker, i)
        if end < 0:
            offset = byte_offset(text, begin)
            raise ParseError(f"Can't find end of the entity starting at byte offset {offset}")
        out.add(text[i:end])
        i = end + len(end_marker)
        kind = {"*": "bold", "_": "italic", "`": "code", "[": "text_link"}[ch]
        if end_marker == "```":
            kind = "pre"
        entity: Entity = {"type": kind, "offset": start, "length": out.u16 - start}
        if language:
            entity["language"] = language
        if kind == "text_link":
            url = None
            if text[i : i + 1] == "(":
                close = text.find(")", i)
                if close >= 0:
                    url, i = normalize_url(text[i + 1 : close]), close + 1
            if url is None:
                continue
            entity["url"] = url
        if entity["length"] > 0:
            entities.append(entity)
    return out.text(), entities
