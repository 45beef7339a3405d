"""Helpers shared by the parse_mode parsers."""

from __future__ import annotations

from typing import Any

from demo.botapi.protocol import ApiError

Entity = dict[str, Any]


class ParseError(Exception):
    """A formatting error; the message is the part after "can't parse entities: "."""

    def to_api_error(self) -> ApiError:
        return ApiError.bad_request(f"can't parse entities: {self}")


def utf16_len(text: str) -> int:
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


class Out:
    """Accumulates plain text while tracking its length in UTF-16 code units."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.u16 = 0

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.u16 += utf16_len(text)

    def text(self) -> str:
        return "".join(self.parts)


def byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8", "surrogatepass"))


def normalize_url(url: str) -> str | None:
    """Telegram accepts scheme-less domains (adds http://) and drops clearly invalid URLs."""
    url = url.strip()
    if not url:
        return None
    if "://" in url or url.startswith(("tg:", "mailto:")):
        return url
    host = url.split("/", 1)[0]
    if "." not in host or host.startswith(".") or host.endswith("."):
        return None
    return f"http://{url}" if "/" in url else f"http://{url}/"
