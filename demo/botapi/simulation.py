"""The test side of `BotApiState`: simulated users writing, pressing buttons, blocking.

Each method updates the simulated Telegram synchronously (so it is safe to call while the bot
is in a getUpdates long poll), queues the resulting update unless ``queue_updates`` is off,
and returns the update exactly as the bot will receive it.
"""

from __future__ import annotations

import copy
from typing import Any

from demo.botapi.core import StateCore
from demo.botapi.models import CallbackRecord, SimChat, SimMessage, SimUser
from demo.botapi.payloads import command_entities, image_size, solid_png, sticker_json


class UserSimulation(StateCore):
    """Mixin for BotApiState: the users' side of the conversation."""

    def user(
        self,
        user_id: int,
        first_name: str | None = None,
        username: str | None = None,
        last_name: str | None = None,
        *,
        started: bool = False,
        language_code: str | None = None,
    ) -> SimUser:
        """Register a user (first name "Ann" unless given), or update the given fields of an
        existing one, and return it. Their private chat id is `user_id`. `language_code` is
        what their Telegram app reports in every update from them (a new user: "en").

        The bot can only reach the chat once the user has talked to it (any simulated update
        from them) or with ``started=True``.
        """
        existing = self.users.get(user_id)
        if existing is None:
            existing = self.users[user_id] = SimUser(
                user_id, first_name or "Ann", username, last_name
            )
            self.chats[user_id] = SimChat(user_id, "private", user=existing)
        else:
            existing.first_name = first_name or existing.first_name
            existing.username = username if username is not None else existing.username
            existing.last_name = last_name if last_name is not None else existing.last_name
        existing.started = existing.started or started
        if language_code is not None:
            existing.language_code = language_code
        self._changed()
        return existing

    def group(self, chat_id: int, title: str = "Test group") -> SimChat:
        """Register a group the bot is a member of (supergroup when the id starts with -100)."""
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        chat = self.chats.setdefault(chat_id, SimChat(chat_id, kind, title=title))
        chat.title = title
        self._changed()
        return chat

    def _sender(self, user_id: int, chat_id: int | None) -> tuple[SimUser, SimChat]:
        user = self.users.get(user_id) or self.user(user_id)
        if chat_id is None or chat_id == user_id:
            user.started = True
            return user, self.chats[user_id]
        chat = self.chats.get(chat_id)
        if chat is None or chat.type == "private":
            raise LookupError(f"chat {chat_id} is not a registered group; call group() first")
        return user, chat

    def _user_message(self, user_id: int, chat_id: int | None, **fields: Any) -> dict[str, Any]:
        user, chat = self._sender(user_id, chat_id)
        message = SimMessage(
            chat.next_message_id(),
            chat.id,
            date=self.now(),
            from_bot=False,
            from_id=user.id,
            **fields,
        )
        chat.messages[message.message_id] = message
        chat.last_user_revision = self.revision
        self._changed()
        return self._enqueue("message", self.message_json(message))

    def _enqueue(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": self._next_update_id, kind: payload}
        self._next_update_id += 1
        if self.queue_updates:
            self._updates.append(update)
            self._signals.notify("updates")
        return copy.deepcopy(update)

    def send_text(self, user_id: int, text: str, chat_id: int | None = None) -> dict[str, Any]:
        """The user writes `text` (in their private chat, or in group `chat_id`). A leading
        "/command" gets a bot_command entity. Unknown users are registered with defaults."""
        return self._user_message(
            user_id, chat_id, text=text, raw_text=text, entities=command_entities(text)
        )

    def send_sticker(self, user_id: int, chat_id: int | None = None) -> dict[str, Any]:
        stored = self.store_file(solid_png(32, 32), "sticker", "webp", "image/webp")
        sticker = sticker_json(stored.file_id, stored.file_unique_id, len(stored.data))
        return self._user_message(user_id, chat_id, sticker=sticker)

    def send_photo_from_user(
        self,
        user_id: int,
        chat_id: int | None = None,
        image: bytes | None = None,
        caption: str | None = None,
    ) -> dict[str, Any]:
        """The user sends a photo (default: a 640x480 solid PNG); the bot can getFile it."""
        data = image if image is not None else solid_png(640, 480)
        width, height = image_size(data) or (640, 480)
        sizes = self.photo_sizes(data, width, height)
        return self._user_message(
            user_id, chat_id, photo=data, photo_sizes=sizes, caption=caption, raw_caption=caption
        )

    def press_button(
        self,
        user_id: int,
        message_id: int,
        callback_data: str,
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        """The user presses a button on bot message `message_id`. `callback_data` may be any
        string, also one no button carries (a forged or stale press)."""
        user, chat = self._sender(user_id, chat_id)
        message = chat.messages.get(message_id)
        if message is None or message.deleted or not message.from_bot:
            raise LookupError(f"no bot message {message_id} in chat {chat.id} to press on")
        self._next_query += 1
        query_id = str(4_000_000_000_000_000_000 + self._next_query * 7_919)
        self._queries[query_id] = CallbackRecord(
            query_id, user.id, chat.id, message_id, callback_data
        )
        chat.last_user_revision = self.revision
        return self._enqueue(
            "callback_query",
            {
                "id": query_id,
                "from": user.to_json(),
                "message": self.message_json(message),
                "chat_instance": str((chat.id * 2_654_435_761) % 10**19),
                "data": callback_data,
            },
        )

    def block(self, user_id: int) -> dict[str, Any]:
        """The user blocks the bot; the bot gets a my_chat_member update (status "kicked")."""
        return self._set_blocked(user_id, blocked=True)

    def unblock(self, user_id: int) -> dict[str, Any]:
        return self._set_blocked(user_id, blocked=False)

    def _set_blocked(self, user_id: int, *, blocked: bool) -> dict[str, Any]:
        user = self.users.get(user_id) or self.user(user_id)
        user.blocked = blocked
        member = {"user": self.bot_json(), "status": "member"}
        kicked = {"user": self.bot_json(), "status": "kicked", "until_date": 0}
        return self._enqueue(
            "my_chat_member",
            {
                "chat": self.chats[user_id].to_json(),
                "from": user.to_json(),
                "date": self.now(),
                "old_chat_member": member if blocked else kicked,
                "new_chat_member": kicked if blocked else member,
            },
        )

    def remove_bot_from(self, chat_id: int) -> None:
        """The bot is removed from group `chat_id`: every call there answers 403 until
        `add_bot_to` (an ops chat the bot cannot reach). No update is sent for it."""
        if chat_id not in self.chats or self.chats[chat_id].type == "private":
            raise LookupError(f"chat {chat_id} is not a registered group; call group() first")
        self.removed_from.add(chat_id)

    def add_bot_to(self, chat_id: int) -> None:
        """The bot is back in group `chat_id`."""
        self.removed_from.discard(chat_id)
