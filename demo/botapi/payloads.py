"""Building the JSON Telegram sends: file ids, photo sizes, stickers, keyboards, messages."""

from __future__ import annotations

import hashlib
import io
import re
import struct
import zlib
from typing import Any

from demo.botapi.markup import utf16_len
from demo.botapi.models import SimChat, SimMessage
from demo.botapi.protocol import ApiError

#: Longest side of each PhotoSize Telegram generates (s, m, x, y, w).
PHOTO_BOXES = (90, 320, 800, 1280, 2560)
_COMMAND = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,64})?(?=$|\s)")


class FileIdFactory:
    """Deterministic, Telegram-looking file ids: the same sequence in every test run."""

    def __init__(self) -> None:
        self._counter = 0
        self._prefix = {
            "photo": ("AgACAgIAAxkBAAI", "AQAD"),
            "sticker": ("CAACAgIAAxkBAAI", "AgAD"),
        }

    def new(self, kind: str = "photo") -> tuple[str, str]:
        self._counter += 1
        digest = hashlib.blake2b(f"{kind}:{self._counter}".encode(), digest_size=24).hexdigest()
        prefix, unique_prefix = self._prefix.get(kind, ("BQACAgIAAxkBAAI", "AgAD"))
        return f"{prefix}{self._counter:05d}{digest}", f"{unique_prefix}{digest[:12]}"


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of an image: via Pillow when installed, else PNG header; None if unknown.

    Raises ApiError(400, IMAGE_PROCESS_FAILED) when Pillow is present but cannot read the bytes,
    which is what Telegram answers to a sendPhoto with something that is not an image.
    """
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # pragma: no cover - Pillow comes with qrcode[pil]
        if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
            width, height = struct.unpack(">II", data[16:24])
            return int(width), int(height)
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError):
        raise ApiError.bad_request("IMAGE_PROCESS_FAILED") from None


def solid_png(
    width: int = 64, height: int = 64, rgb: tuple[int, int, int] = (40, 90, 200)
) -> bytes:
    """A valid solid-colour PNG, built without Pillow (for photos sent by simulated users)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def photo_dimensions(width: int, height: int) -> list[tuple[int, int]]:
    """The (width, height) of each PhotoSize for an image, smallest first."""
    longest = max(width, height, 1)
    sizes: list[tuple[int, int]] = []
    for box in PHOTO_BOXES:
        scale = min(1.0, box / longest)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        if not sizes or sizes[-1] != size:
            sizes.append(size)
        if box >= longest:
            break
    return sizes


def sticker_json(file_id: str, file_unique_id: str, file_size: int) -> dict[str, Any]:
    return {
        "file_id": file_id,
        "file_unique_id": file_unique_id,
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": "\N{THUMBS UP SIGN}",
        "set_name": "SimulatedStickers",
        "file_size": file_size,
    }


def command_entities(text: str) -> list[dict[str, Any]]:
    """A bot_command entity for a leading "/command" (or "/command@bot"), as Telegram adds."""
    match = _COMMAND.match(text)
    if not match:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(match.group())}]


# ------------------------------------------------------------------------------ reply markup


def _clean(value: Any) -> Any:
    """Drop null members, so that markups compare equal however the client serialised them."""
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def _check_inline_keyboard(markup: dict[str, Any]) -> None:
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError.bad_request(
            'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
        )
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise ApiError.bad_request(
                    "can't parse inline keyboard button: Text is not a String"
                )
            if not any(action in button for action in _BUTTON_ACTIONS):
                raise ApiError.bad_request("text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise ApiError.bad_request("BUTTON_DATA_INVALID")
            url = button.get("url")
            if url is not None and not str(url).strip():
                raise ApiError.bad_request("BUTTON_URL_INVALID")


def parse_reply_markup(raw: Any, *, inline_only: bool = False) -> dict[str, Any] | None:
    """Validate a reply_markup (already JSON-decoded) the way Telegram does and normalise it."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ApiError.bad_request("can't parse reply keyboard markup JSON object")
    markup = _clean(raw)
    if "inline_keyboard" in markup:
        _check_inline_keyboard(markup)
        return markup
    if inline_only:
        raise ApiError.bad_request("inline keyboard expected")
    if "keyboard" in markup or "remove_keyboard" in markup or "force_reply" in markup:
        return markup
    raise ApiError.bad_request('can\'t find field "inline_keyboard"')


def message_json(message: SimMessage, chat: SimChat, sender: dict[str, Any]) -> dict[str, Any]:
    """The Message object Telegram would return / deliver for `message`."""
    data: dict[str, Any] = {
        "message_id": message.message_id,
        "from": sender,
        "chat": chat.to_json(),
        "date": message.date,
    }
    if message.edit_date is not None:
        data["edit_date"] = message.edit_date
    if message.protect_content:
        data["has_protected_content"] = True
    if message.text is not None:
        data["text"] = message.text
        if message.entities:
            data["entities"] = message.entities
    if message.photo_sizes is not None:
        data["photo"] = message.photo_sizes
    if message.sticker is not None:
        data["sticker"] = message.sticker
    if message.caption is not None:
        data["caption"] = message.caption
        if message.entities:
            data["caption_entities"] = message.entities
    if message.reply_markup and "inline_keyboard" in message.reply_markup:
        data["reply_markup"] = message.reply_markup
    return data
