"""The Bot API methods of `BotApiState` (bot side). One ``api_<lowercase name>`` per method.

Results and error descriptions follow api.telegram.org; `ApiError` raised here becomes the
``{"ok": false, ...}`` answer. Validation happens before any mutation, so a failing call
leaves no trace except in ``calls``.
"""

from __future__ import annotations

import json
import re
from collections import deque
from typing import Any

from demo.botapi.core import StateCore
from demo.botapi.markup import parse_text, utf16_len
from demo.botapi.models import SimChat, SimMessage, Webhook
from demo.botapi.params import Params
from demo.botapi.payloads import image_size, parse_reply_markup
from demo.botapi.protocol import NOT_MODIFIED, ApiError

CANONICAL_NAMES = {
    name.lower(): name
    for name in (
        "getMe",
        "logOut",
        "close",
        "getUpdates",
        "setWebhook",
        "deleteWebhook",
        "getWebhookInfo",
        "sendMessage",
        "sendPhoto",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
        "deleteMessage",
        "deleteMessages",
        "answerCallbackQuery",
        "setMyCommands",
        "getMyCommands",
        "deleteMyCommands",
        "setMyDescription",
        "setMyShortDescription",
        "setMyName",
        "sendChatAction",
        "getFile",
        "getChat",
    )
}
_ALL_UPDATE_TYPES = None  # None: every type is delivered
_CHAT_ACTIONS = {
    "typing",
    "upload_photo",
    "record_video",
    "upload_video",
    "record_voice",
    "upload_voice",
    "upload_document",
    "choose_sticker",
    "find_location",
    "record_video_note",
    "upload_video_note",
}
_BLOCKED = "Forbidden: bot was blocked by the user"
_REMOVED = "Forbidden: bot was kicked from the {kind} chat"
_WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
_QUERY_INVALID = "query is too old and response timeout expired or query ID is invalid"


class ApiMethods(StateCore):
    """Mixin for BotApiState: every method takes `Params` and returns the JSON result."""

    # ---------------------------------------------------------------------------- helpers

    def _chat(self, p: Params, *, writing: bool = True) -> SimChat:
        """The target chat. Private chats exist only once the user has talked to the bot;
        `writing` calls (send, edit, chat action) to a user who blocked the bot answer 403."""
        chat = self.chats.get(p.chat_id())
        if chat is None or (chat.user is not None and not chat.user.started):
            raise ApiError.bad_request("chat not found")
        if chat.id in self.removed_from:
            raise ApiError(403, _REMOVED.format(kind=chat.type))
        if writing and chat.user is not None and chat.user.blocked:
            raise ApiError(403, _BLOCKED)
        return chat

    def _bot_message(self, p: Params, action: str) -> SimMessage:
        if p.text("inline_message_id"):
            raise ApiError.bad_request(f"message to {action} not found")
        chat = self._chat(p, writing=action == "edit")
        message = chat.messages.get(p.message_id())
        if message is None or message.deleted:
            raise ApiError.bad_request(f"message to {action} not found")
        if action == "edit" and not message.from_bot:
            raise ApiError.bad_request("message can't be edited")
        return message

    @staticmethod
    def _render(p: Params, field: str, limit: int, *, required: bool) -> tuple[str | None, list]:
        """Text or caption as displayed, with entities: from parse_mode, or taken as given in
        `entities` / `caption_entities` (Telegram ignores parse_mode then)."""
        raw = p.text(field)
        given = p.json("entities" if field == "text" else "caption_entities")
        if raw is not None and raw.strip() and isinstance(given, list):
            text, entities = raw, given
        elif raw is not None and raw.strip():
            text, entities = parse_text(raw, p.text("parse_mode"))
        else:
            text, entities = "", []
        if not text:
            if required:
                raise ApiError.bad_request("message text is empty")
            return None, []
        if utf16_len(text) > limit:
            what = "message is too long" if field == "text" else "message caption is too long"
            raise ApiError.bad_request(what)
        return text, entities

    def _new_message(self, chat: SimChat, p: Params, **fields: Any) -> dict:
        message = SimMessage(
            chat.next_message_id(),
            chat.id,
            date=self.now(),
            from_id=self.bot_id,
            protect_content=p.flag("protect_content"),
            parse_mode=p.text("parse_mode"),
            **fields,
        )
        chat.messages[message.message_id] = message
        self._touch(message)
        return self.message_json(message)

    def _edited(self, message: SimMessage, raw: dict[str, Any], **changes: Any) -> dict:
        """Apply an edit. Like Telegram, compare what is displayed (rendered text, entities,
        keyboard), not the raw markup: "<b>x</b>" in HTML equals "*x*" in MarkdownV2."""
        if all(getattr(message, name) == value for name, value in changes.items()):
            raise ApiError.bad_request(NOT_MODIFIED.removeprefix("Bad Request: "))
        for name, value in {**changes, **raw}.items():
            setattr(message, name, value)
        message.edited = True
        message.edit_date = self.now()
        self._touch(message)
        return self.message_json(message)

    # ------------------------------------------------------------------------ bot & updates

    async def api_getme(self, p: Params) -> dict:
        return {
            **self.bot_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def api_logout(self, p: Params) -> bool:
        return True

    async def api_close(self, p: Params) -> bool:
        return True

    async def api_setwebhook(self, p: Params) -> bool:
        """Updates are POSTed to `url` from now on (an empty url removes the webhook). The
        simulated Telegram accepts http:// too, as a self-hosted Bot API server does."""
        url = p.text("url") or ""
        if not url:
            return await self.api_deletewebhook(p)
        if not url.startswith(("http://", "https://")):
            raise ApiError.bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.text("secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(secret):
            raise ApiError.bad_request("secret token contains unallowed characters")
        allowed = p.json("allowed_updates")
        if p.flag("drop_pending_updates"):
            self._updates.clear()
        self.webhook = Webhook(
            url,
            secret,
            list(allowed) if isinstance(allowed, list) and allowed else None,
            p.integer("max_connections") or 40,
        )
        self._signals.notify("updates")  # a waiting getUpdates ends, the sender starts
        return True

    async def api_deletewebhook(self, p: Params) -> bool:
        if p.flag("drop_pending_updates"):
            self._updates.clear()
        self.webhook = None
        self._signals.notify("updates")
        return True

    async def api_getwebhookinfo(self, p: Params) -> dict:
        info: dict[str, Any] = {
            "url": self.webhook.url if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook is not None:
            info["max_connections"] = self.webhook.max_connections
            if self.webhook.allowed_updates is not None:
                info["allowed_updates"] = self.webhook.allowed_updates
            if self.webhook.last_error_date is not None:
                info["last_error_date"] = self.webhook.last_error_date
                info["last_error_message"] = self.webhook.last_error_message
        return info

    # ------------------------------------------------------------- webhook delivery side

    async def next_webhook_update(self) -> tuple[Webhook, dict[str, Any]]:
        """Wait for a webhook and an update for it, oldest first. Updates of a kind the
        webhook's allowed_updates leave out are dropped, as Telegram does."""

        def check() -> tuple[Webhook, dict[str, Any]] | None:
            hook = self.webhook
            while hook is not None and self._updates:
                update = self._updates[0]
                allowed = hook.allowed_updates
                if allowed is None or any(kind in update for kind in allowed):
                    return hook, update
                self._updates.popleft()
            return None

        return await self._wait_until("updates", check, None)

    def webhook_delivered(self, update: dict[str, Any]) -> None:
        """The webhook answered 2xx: the update is confirmed."""
        if self._updates and self._updates[0] is update:
            self._updates.popleft()

    def webhook_failed(self, message: str) -> None:
        """The webhook did not take an update: kept for the next try (getWebhookInfo)."""
        if self.webhook is not None:
            self.webhook.last_error_date = self.now()
            self.webhook.last_error_message = message

    async def api_getupdates(self, p: Params) -> list:
        """Long polling: answers as soon as there are updates at or after `offset`, else after
        `timeout` seconds with []. A newer getUpdates ends a waiting one with 409, as on
        Telegram (two pollers on one token)."""
        if self.webhook is not None:
            raise ApiError(409, _WEBHOOK_ACTIVE)
        offset = p.integer("offset") or 0
        limit = min(max(p.integer("limit") or 100, 1), 100)
        timeout = max(p.number("timeout") or 0.0, 0.0)
        allowed = p.json("allowed_updates")
        if allowed is not None:
            self._allowed_updates = list(allowed) or _ALL_UPDATE_TYPES
        _confirm(self._updates, offset)
        self._poll_epoch += 1
        epoch, release = self._poll_epoch, self._release_epoch
        self._signals.notify("updates")

        def ready() -> list | None:
            if self._poll_epoch != epoch or self._release_epoch != release or self.webhook:
                return []
            batch = _pending(self._updates, limit, self._allowed_updates)
            return batch or None

        try:
            batch = await self._wait_until("updates", ready, timeout)
        except TimeoutError:
            return []
        if self._poll_epoch != epoch:
            raise ApiError(409)
        return batch

    # ---------------------------------------------------------------------------- messages

    async def api_sendmessage(self, p: Params) -> dict:
        chat = self._chat(p)
        text, entities = self._render(p, "text", 4096, required=True)
        markup = parse_reply_markup(p.json("reply_markup"))
        return self._new_message(
            chat, p, text=text, raw_text=p.text("text"), entities=entities, reply_markup=markup
        )

    async def api_sendphoto(self, p: Params) -> dict:
        chat = self._chat(p)
        photo = p.input_file("photo")
        caption, entities = self._render(p, "caption", 1024, required=False)
        markup = parse_reply_markup(p.json("reply_markup"))
        if photo is None:
            raise ApiError.bad_request("there is no photo in the request")
        if isinstance(photo, str):
            stored = self.files.get(photo)
            if stored is None:
                if photo.startswith(("http://", "https://")):
                    raise ApiError.bad_request("failed to get HTTP URL content")
                raise ApiError.bad_request("wrong file identifier/HTTP URL specified")
            data = stored.data
        else:
            data = photo[1]
        if not data:
            raise ApiError.bad_request("file must be non-empty")
        width, height = image_size(data) or (512, 512)
        return self._new_message(
            chat,
            p,
            photo=data,
            photo_sizes=self.photo_sizes(data, width, height),
            caption=caption,
            raw_caption=p.text("caption"),
            entities=entities,
            reply_markup=markup,
        )

    async def api_editmessagetext(self, p: Params) -> dict:
        message = self._bot_message(p, "edit")
        text, entities = self._render(p, "text", 4096, required=True)
        markup = parse_reply_markup(p.json("reply_markup"), inline_only=True)
        if message.text is None:
            raise ApiError.bad_request("there is no text in the message to edit")
        raw = {"raw_text": p.text("text"), "parse_mode": p.text("parse_mode")}
        return self._edited(message, raw, text=text, entities=entities, reply_markup=markup)

    async def api_editmessagecaption(self, p: Params) -> dict:
        message = self._bot_message(p, "edit")
        caption, entities = self._render(p, "caption", 1024, required=False)
        markup = parse_reply_markup(p.json("reply_markup"), inline_only=True)
        if message.text is not None:
            raise ApiError.bad_request("there is no caption in the message to edit")
        raw = {"raw_caption": p.text("caption"), "parse_mode": p.text("parse_mode")}
        return self._edited(message, raw, caption=caption, entities=entities, reply_markup=markup)

    async def api_editmessagereplymarkup(self, p: Params) -> dict:
        message = self._bot_message(p, "edit")
        markup = parse_reply_markup(p.json("reply_markup"), inline_only=True)
        return self._edited(message, {}, reply_markup=markup)

    async def api_deletemessage(self, p: Params) -> bool:
        self._bot_message(p, "delete").deleted = True
        self._changed()
        return True

    async def api_deletemessages(self, p: Params) -> bool:
        chat = self._chat(p, writing=False)
        ids = p.json("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise ApiError.bad_request("message_ids must be a non-empty Array of up to 100 ids")
        for message_id in ids:
            message = chat.messages.get(int(message_id))
            if message is not None:
                message.deleted = True
        self._changed()
        return True

    async def api_answercallbackquery(self, p: Params) -> bool:
        record = self._queries.get(p.text("callback_query_id") or "")
        if record is None or record.answered:
            raise ApiError.bad_request(_QUERY_INVALID)
        text = p.text("text")
        if text is not None and len(text) > 200:
            raise ApiError.bad_request("MESSAGE_TOO_LONG")
        record.answered = True
        self.callback_answers[record.query_id] = {
            "text": text,
            "show_alert": p.flag("show_alert"),
            "url": p.text("url"),
            "cache_time": p.integer("cache_time"),
        }
        self._changed()
        return True

    # ------------------------------------------------------------------- bot configuration

    @staticmethod
    def _commands_key(p: Params) -> tuple[str, str]:
        scope = p.json("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), p.text("language_code") or ""

    async def api_setmycommands(self, p: Params) -> bool:
        commands = p.json("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError.bad_request("commands must be an Array of at most 100 BotCommand")
        for command in commands:
            name = str(command.get("command", "")) if isinstance(command, dict) else ""
            ok_name = 1 <= len(name) <= 32 and all(c.isalnum() or c == "_" for c in name)
            if not ok_name or name != name.lower() or not name.isascii():
                raise ApiError.bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise ApiError.bad_request("command description must be non-empty")
        self.my_commands[self._commands_key(p)] = commands
        return True

    async def api_getmycommands(self, p: Params) -> list:
        return self.my_commands.get(self._commands_key(p), [])

    async def api_deletemycommands(self, p: Params) -> bool:
        self.my_commands.pop(self._commands_key(p), None)
        return True

    async def _set_profile(self, p: Params, field: str, limit: int) -> bool:
        value = p.text(field) or ""
        if len(value) > limit:
            raise ApiError.bad_request(f"{field} is too long")
        self.profile[(field, p.text("language_code") or "")] = value
        return True

    async def api_setmydescription(self, p: Params) -> bool:
        return await self._set_profile(p, "description", 512)

    async def api_setmyshortdescription(self, p: Params) -> bool:
        return await self._set_profile(p, "short_description", 120)

    async def api_setmyname(self, p: Params) -> bool:
        return await self._set_profile(p, "name", 64)

    # -------------------------------------------------------------------------- chats, files

    async def api_sendchataction(self, p: Params) -> bool:
        chat = self._chat(p)
        action = p.text("action") or ""
        if action not in _CHAT_ACTIONS:
            raise ApiError.bad_request("wrong parameter action in request")
        self.chat_actions.append((chat.id, action))
        return True

    async def api_getfile(self, p: Params) -> dict:
        stored = self.files.get(p.text("file_id") or "")
        if stored is None:
            raise ApiError.bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    async def api_getchat(self, p: Params) -> dict:
        chat = self._chat(p, writing=False)
        gifts = dict.fromkeys(
            (
                "unlimited_gifts",
                "limited_gifts",
                "unique_gifts",
                "premium_subscription",
                "gifts_from_channels",
            ),
            False,
        )
        return {
            **chat.to_json(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": gifts,
        }


def _confirm(updates: deque[dict[str, Any]], offset: int) -> None:
    """getUpdates offset semantics: forget updates below `offset`; negative = keep the last N."""
    if offset > 0:
        while updates and updates[0]["update_id"] < offset:
            updates.popleft()
    elif offset < 0:
        while len(updates) > -offset:
            updates.popleft()


def _pending(
    updates: deque[dict[str, Any]], limit: int, allowed: list[str] | None
) -> list[dict[str, Any]]:
    batch = []
    for update in updates:
        if allowed is None or any(kind in update for kind in allowed):
            batch.append(update)
            if len(batch) >= limit:
                break
    return batch


__all__ = ["CANONICAL_NAMES", "ApiMethods"]
