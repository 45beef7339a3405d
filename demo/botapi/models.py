"""Records the simulated Telegram keeps: users, chats, messages, files, callback queries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class SimUser:
    id: int
    first_name: str = "Ann"
    username: str | None = None
    last_name: str | None = None
    language_code: str | None = "en"
    #: The user blocked the bot: sends, edits and chat actions answer 403.
    blocked: bool = False
    #: The user has written to (or pressed a button of) the bot. Until then the bot cannot
    #: reach the private chat ("chat not found"), as on Telegram.
    started: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data


@dataclass
class SimMessage:
    """A message in a chat, sent by the bot (``from_bot``) or by a simulated user.

    ``text`` and ``caption`` are what Telegram displays, i.e. after parse_mode rendering
    ("<b>Hi</b>" with HTML is stored as "Hi", entities in ``entities``); the bot's raw input is
    kept in ``raw_text`` / ``raw_caption``. ``revision`` is a state-wide counter value, bumped on
    every send and edit: the larger, the more recent the change.
    """

    message_id: int
    chat_id: int
    text: str | None = None
    caption: str | None = None
    photo: bytes | None = None
    reply_markup: dict[str, Any] | None = None
    protect_content: bool = False
    parse_mode: str | None = None
    deleted: bool = False
    edited: bool = False
    date: int = 0
    from_bot: bool = True
    from_id: int = 0
    raw_text: str | None = None
    raw_caption: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    photo_sizes: list[dict[str, Any]] | None = None
    sticker: dict[str, Any] | None = None
    edit_date: int | None = None
    revision: int = 0

    @property
    def content(self) -> str:
        """Text or caption, whichever the message has ("" if neither)."""
        return self.text if self.text is not None else (self.caption or "")

    # The shown_* properties are for tests that expect a message of a kind, as in
    # ``assert "Locked" in answer.shown_text``: they fail the test (AssertionError) for a
    # message without that part, where ``answer.text`` would be None.

    @property
    def shown_text(self) -> str:
        """The text of a text message (as displayed); fails for a photo, a sticker..."""
        return self._expect("text", self.text)

    @property
    def shown_caption(self) -> str:
        """The caption of a photo (as displayed); fails if the message has none."""
        return self._expect("caption", self.caption)

    @property
    def shown_photo(self) -> bytes:
        """The image of a photo message; fails for any other message."""
        return self._expect("photo", self.photo)

    def _expect(self, part: str, value: T | None) -> T:
        if value is None:
            raise AssertionError(
                f"message {self.message_id} in chat {self.chat_id} has no {part}; "
                f"it shows {self.content[:80]!r}{' and a photo' if self.photo else ''}"
            )
        return value

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """The inline keyboard as (text, callback_data) pairs, see `buttons`."""
        return buttons(self)


@dataclass
class SimChat:
    id: int
    type: str  # "private" | "group" | "supergroup"
    title: str | None = None
    user: SimUser | None = None
    messages: dict[int, SimMessage] = field(default_factory=dict)
    last_message_id: int = 0
    #: State revision when a simulated user last acted here (message, button press): the
    #: default starting point of wait_for_message.
    last_user_revision: int = 0

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id

    def to_json(self) -> dict[str, Any]:
        if self.user is None:
            return {"id": self.id, "title": self.title or "", "type": self.type}
        data: dict[str, Any] = {"id": self.id, "first_name": self.user.first_name}
        if self.user.last_name:
            data["last_name"] = self.user.last_name
        if self.user.username:
            data["username"] = self.user.username
        data["type"] = "private"
        return data


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    mime_type: str = "application/octet-stream"


@dataclass
class CallbackRecord:
    query_id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    answered: bool = False


@dataclass
class Webhook:
    """What setWebhook recorded: updates are then POSTed here instead of waiting for
    getUpdates (demo/botapi/webhook.py delivers them)."""

    url: str
    secret_token: str | None = None
    allowed_updates: list[str] | None = None
    max_connections: int = 40
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class Fault:
    method: str  # lower-case method name or "*"
    status: int
    remaining: int
    retry_after: int | None = None
    description: str | None = None


def buttons(message: SimMessage | Mapping[str, Any]) -> list[tuple[str, str]]:
    """Flatten an inline keyboard into (text, callback_data) pairs, row by row.

    Accepts a SimMessage or message JSON (e.g. from an update or the control API). Buttons
    without callback_data (URL buttons...) appear with "" as their data.
    """
    if isinstance(message, SimMessage):
        markup = message.reply_markup
    else:
        markup = message.get("reply_markup")
    rows = (markup or {}).get("inline_keyboard") or []
    return [(b.get("text", ""), b.get("callback_data", "")) for row in rows for b in row]
