"""Typed access to Bot API parameters as they arrive over HTTP: every value a string."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from demo.botapi.protocol import ApiError

#: A multipart part: (filename, content, mimetype), as PTB's RequestData.multipart_data has it.
FileTuple = tuple[str, bytes, str]

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


class Params:
    """Decodes string parameters with Telegram's error messages for bad or missing ones."""

    def __init__(self, raw: Mapping[str, str], files: Mapping[str, FileTuple] | None = None):
        self.raw = raw
        self.files = files or {}

    def __contains__(self, name: str) -> bool:
        return name in self.raw

    def text(self, name: str, *, empty_error: str | None = None) -> str | None:
        """The string value; if `empty_error` is given, a missing/empty value is a 400 with it."""
        value = self.raw.get(name)
        if empty_error is not None and not (value or "").strip():
            raise ApiError.bad_request(empty_error)
        return value

    def integer(self, name: str, *, missing_error: str | None = None) -> int | None:
        value = self.raw.get(name)
        if value is None or value == "":
            if missing_error is not None:
                raise ApiError.bad_request(missing_error)
            return None
        try:
            return int(value)
        except ValueError:
            raise ApiError.bad_request(f"invalid {name} specified") from None

    def number(self, name: str) -> float | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        try:
            return float(value)
        except ValueError:
            raise ApiError.bad_request(f"invalid {name} specified") from None

    def flag(self, name: str) -> bool:
        value = (self.raw.get(name) or "").strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ApiError.bad_request(f"invalid {name} specified")

    def json(self, name: str) -> Any:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError.bad_request(f"can't parse {name} JSON object") from None

    def chat_id(self) -> int:
        """chat_id as int. Telegram answers "chat not found" for ids and @usernames it can't use."""
        value = (self.raw.get("chat_id") or "").strip()
        if not value:
            raise ApiError.bad_request("chat_id is empty")
        try:
            return int(value)
        except ValueError:
            raise ApiError.bad_request("chat not found") from None

    def message_id(self) -> int:
        message_id = self.integer("message_id", missing_error="message identifier is not specified")
        assert message_id is not None
        return message_id

    def input_file(self, name: str) -> FileTuple | str | None:
        """An InputFile parameter: an uploaded part (directly under `name` or referenced by
        ``attach://<part>``), or a string (file_id / URL), or None when absent."""
        value = self.raw.get(name)
        if value and value.startswith("attach://"):
            part = self.files.get(value.removeprefix("attach://"))
            if part is None:
                raise ApiError.bad_request(f"{name} not found in the multipart request")
            return part
        if name in self.files:
            return self.files[name]
        return value or None
