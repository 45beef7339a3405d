"""`BotApiServer`: a `BotApiState` served over real HTTP, plus a JSON control API.

Bot side (what PTB's HTTPXRequest talks to)::

    POST|GET /bot<token>/<method>      query string, urlencoded, multipart or JSON params
    GET      /file/bot<token>/<path>   file downloads (File.download_*)

Control side, for tests or benchmarks in another process (JSON in, ``{"ok", "result"}`` out;
400 on bad input, 408 when a wait times out)::

    POST /_control/user              {"user_id", "first_name"?, "username"?, "last_name"?,
                                      "language_code"? (e.g. "de"; a new user: "en")}
    POST /_control/group             {"chat_id", "title"?}
    POST /_control/send_text         {"user_id", "text", "chat_id"?, "first_name"?, "username"?}
    POST /_control/send_sticker      {"user_id", "chat_id"?}
    POST /_control/send_photo        {"user_id", "chat_id"?, "image_base64"?, "caption"?}
    POST /_control/press_button      {"user_id", "message_id", "callback_data", "chat_id"?}
    POST /_control/block, /unblock   {"user_id"}
    POST /_control/remove_bot_from, /add_bot_to  {"chat_id"}  (a group the bot cannot reach)
    POST /_control/fail_next         {"method", "status"?, "count"?, "retry_after"?, "description"?}
    GET  /_control/messages          ?chat_id=..&include_deleted=0|1
    GET  /_control/user_messages     ?chat_id=..
    POST /_control/wait_for_message  {"chat_id", "after_message_id"?, "after_revision"?,
                                      "contains"?, "timeout"? (default 10)}
        Same rules as BotApiState.wait_for_message: sends and edits count; by default only
        changes after the latest simulated user action in the chat; returns the most recently
        sent-or-edited match (its "revision" is the cursor for the next wait).
    GET  /_control/calls             ?method=..&since=<index>
    GET  /_control/callback_answers
    GET  /_control/stats
    GET  /_control/chats             every chat: id, type, title, user, last message
    GET  /_control/history           ?chat_id=..: the chat as its window shows it, oldest
                                      first: live messages of the bot and of users, and the
                                      answers to button presses there
    POST /_control/wait_for_change   {"after", "timeout"? (default 25)}: a long poll; the
                                      state's change counter once it is above "after" (or at
                                      the timeout)
    GET  /_control/webhook           what setWebhook recorded (null: none)
    POST /_control/post_to_webhook   {"update", "secret_token"? (absent: no header)}
        One update POSTed to the webhook outside the queue; the result is the HTTP status.

Webhooks: after setWebhook, queued updates are POSTed to its URL (with the
X-Telegram-Bot-Api-Secret-Token header when a secret_token was set) instead of waiting for
getUpdates, which then answers 409; see demo/botapi/webhook.py.

Run standalone: ``python -m demo.botapi --port 8081 --token T``.

It is a stand-in for demos, training and tests, never for Telegram itself: it listens on the
loopback only and refuses a token shaped like one from @BotFather (`check_stand_in`).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import ipaddress
import json
import re
import signal
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from demo.botapi.models import SimChat, SimMessage, buttons
from demo.botapi.params import FileTuple
from demo.botapi.protocol import ApiError, dump_json, ok, render_response
from demo.botapi.state import BotApiState
from demo.botapi.webhook import WebhookSender

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: What @BotFather hands out: the bot's id (8 digits or more today), a colon, 35 characters.
REAL_TOKEN_SHAPE = re.compile(r"\d{8,}:[A-Za-z0-9_-]{35}")


def check_stand_in(token: str, host: str) -> None:
    """Refuse what would make the stand-in pass for Telegram: a token that looks like a real
    one (someone's bot would talk to a fake), or an address other machines reach."""
    if REAL_TOKEN_SHAPE.fullmatch(token):
        raise ValueError(
            "that looks like a real bot token from @BotFather; the stand-in takes made-up "
            "tokens only (e.g. 123456:LOCAL-TEST-SERVER-TOKEN-0123456789)"
        )
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ValueError(f"the stand-in listens on the loopback only (127.0.0.1), not {host!r}")


def sim_message_to_json(message: SimMessage) -> dict[str, Any]:
    """A SimMessage for the control API (photo bytes base64-encoded)."""
    return {
        "message_id": message.message_id,
        "chat_id": message.chat_id,
        "from_bot": message.from_bot,
        "from_id": message.from_id,
        "text": message.text,
        "caption": message.caption,
        "raw_text": message.raw_text,
        "raw_caption": message.raw_caption,
        "parse_mode": message.parse_mode,
        "entities": message.entities,
        "photo": base64.b64encode(message.photo).decode() if message.photo else None,
        "sticker": message.sticker,
        "reply_markup": message.reply_markup,
        "buttons": [list(pair) for pair in buttons(message)],
        "protect_content": message.protect_content,
        "deleted": message.deleted,
        "edited": message.edited,
        "date": message.date,
        "edit_date": message.edit_date,
        "revision": message.revision,
    }


def chat_summary(state: BotApiState, chat: SimChat) -> dict[str, Any]:
    """A chat for a chat list: who or what it is, and its latest live message."""
    live = [m for m in chat.messages.values() if not m.deleted]
    last = live[-1] if live else None
    return {
        **chat.to_json(),
        "user": chat.user.to_json() if chat.user else None,
        "last_message_id": chat.last_message_id,
        "last": None
        if last is None
        else {
            "message_id": last.message_id,
            "from_bot": last.from_bot,
            "text": last.content or ("[photo]" if last.photo else "[sticker]"),
        },
    }


def _json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=dump_json(body), content_type="application/json")


def _control_error(status: int, description: str) -> web.Response:
    return _json_response({"ok": False, "error_code": status, "description": description}, status)


LOCAL_TOKEN = "123456:LOCAL-TEST-SERVER-TOKEN-0123456789"


class BotApiServer:
    """Serves `state` (a fresh BotApiState by default) on 127.0.0.1; use ``async with``."""

    def __init__(
        self,
        state: BotApiState | None = None,
        *,
        setup: Callable[[web.Application], None] | None = None,
    ) -> None:
        """`setup` may add routes of its own to the application (the demo's chat page)."""
        self.state = state if state is not None else BotApiState()
        self._setup = setup
        self.webhooks = WebhookSender(self.state)
        self._runner: web.AppRunner | None = None
        self._address: tuple[str, int] | None = None

    # ----------------------------------------------------------------------------- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> BotApiServer:
        """Start listening on the loopback (port 0: a free port). Returns self."""
        check_stand_in(self.state.token, host)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._file)
        for name, handler in self._control_routes().items():
            app.router.add_route("*", f"/_control/{name}", self._control(handler))
        if self._setup is not None:
            self._setup(app)
        # A short shutdown timeout: control long-polls still waiting at stop() are cancelled
        # instead of holding the shutdown for aiohttp's default 60 s.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.webhooks.start()
        connect_host = "127.0.0.1" if host == "localhost" else host
        self._address = (connect_host, runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        """Stop serving. Waiting getUpdates calls are answered with [] first."""
        if self._runner is None:
            return
        self.state.release_pollers()
        await self.webhooks.stop()
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def post_to_webhook(self, update: dict[str, Any], secret_token: str | None) -> int:
        """POST one update to the bot's webhook with this secret token header (None: no
        header), outside the queue; the HTTP status the bot answered (0: no connection)."""
        return await self.webhooks.post(update, secret_token)

    async def __aenter__(self) -> BotApiServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def origin(self) -> str:
        if self._address is None:
            raise RuntimeError("BotApiServer is not started")
        host, port = self._address
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """For ``Bot(base_url=...)``: PTB appends the token itself."""
        return f"{self.origin}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.origin}/file/bot"

    @property
    def control_url(self) -> str:
        return f"{self.origin}/_control"

    # ------------------------------------------------------------------------------ bot side

    async def _api(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.state.token:
            return _json_response(ApiError(401).body(), 401)
        params: dict[str, str] = dict(request.query)
        files: dict[str, FileTuple] = {}
        if request.body_exists:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    body = None
                if not isinstance(body, dict):
                    error = ApiError.bad_request("can't parse JSON object")
                    return _json_response(error.body(), 400)
                for key, value in body.items():
                    params[key] = value if isinstance(value, str) else json.dumps(value)
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = (value.filename, value.file.read(), value.content_type)
                    else:
                        params[key] = str(value)
        status, body = await self.state.call(request.match_info["method"], params, files)
        payload, content_type = render_response(status, body)
        return web.Response(status=status, body=payload, content_type=content_type)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.state.token:
            return _json_response(ApiError(401).body(), 401)
        data = self.state.file_bytes(request.match_info["file_path"])
        if data is None:
            return _json_response(ApiError(404).body(), 404)
        return web.Response(body=data, content_type="application/octet-stream")

    # ---------------------------------------------------------------------------- control API

    def _control(self, handler: Callable[[dict[str, Any]], Awaitable[Any]]) -> Handler:
        """Wrap a control handler: merge query and JSON body, map errors to 400."""

        async def wrapped(request: web.Request) -> web.StreamResponse:
            args: dict[str, Any] = dict(request.query)
            if request.body_exists:
                try:
                    body = await request.json()
                except ValueError:
                    return _control_error(400, "body must be a JSON object")
                if not isinstance(body, dict):
                    return _control_error(400, "body must be a JSON object")
                args.update(body)
            try:
                result = await handler(args)
            except TimeoutError as exc:
                return _control_error(408, str(exc) or "timed out")
            except (KeyError, ValueError, TypeError, LookupError) as exc:
                return _control_error(400, f"{type(exc).__name__}: {exc}")
            return _json_response(ok(result))

        return wrapped

    def _control_routes(self) -> dict[str, Callable[[dict[str, Any]], Awaitable[Any]]]:
        state = self.state

        def chat_id(args: dict[str, Any]) -> int | None:
            return int(args["chat_id"]) if args.get("chat_id") not in (None, "") else None

        def ensure_user(args: dict[str, Any]) -> int:
            user_id = int(args["user_id"])
            if "first_name" in args or "username" in args or user_id not in state.users:
                state.user(user_id, args.get("first_name"), args.get("username"))
            return user_id

        async def user(args: dict[str, Any]) -> Any:
            sim = state.user(
                int(args["user_id"]),
                args.get("first_name"),
                args.get("username"),
                args.get("last_name"),
                started=bool(args.get("started", False)),
                language_code=args.get("language_code"),
            )
            return sim.to_json()

        async def group(args: dict[str, Any]) -> Any:
            return state.group(int(args["chat_id"]), args.get("title", "Test group")).to_json()

        async def send_text(args: dict[str, Any]) -> Any:
            return state.send_text(ensure_user(args), str(args["text"]), chat_id(args))

        async def send_sticker(args: dict[str, Any]) -> Any:
            return state.send_sticker(ensure_user(args), chat_id(args))

        async def send_photo(args: dict[str, Any]) -> Any:
            image = args.get("image_base64")
            return state.send_photo_from_user(
                ensure_user(args),
                chat_id(args),
                base64.b64decode(image) if image else None,
                args.get("caption"),
            )

        async def press_button(args: dict[str, Any]) -> Any:
            return state.press_button(
                ensure_user(args),
                int(args["message_id"]),
                str(args["callback_data"]),
                chat_id(args),
            )

        async def block(args: dict[str, Any]) -> Any:
            return state.block(int(args["user_id"]))

        async def unblock(args: dict[str, Any]) -> Any:
            return state.unblock(int(args["user_id"]))

        async def fail_next(args: dict[str, Any]) -> Any:
            retry_after = args.get("retry_after")
            state.fail_next(
                str(args["method"]),
                int(args.get("status", 500)),
                int(args.get("count", 1)),
                int(retry_after) if retry_after is not None else None,
                args.get("description"),
            )
            return True

        async def messages(args: dict[str, Any]) -> Any:
            include_deleted = str(args.get("include_deleted", "0")).lower() in ("1", "true")
            found = state.messages(int(args["chat_id"]), include_deleted)
            return [sim_message_to_json(m) for m in found]

        async def user_messages(args: dict[str, Any]) -> Any:
            return [sim_message_to_json(m) for m in state.user_messages(int(args["chat_id"]))]

        async def wait_for_message(args: dict[str, Any]) -> Any:
            contains = args.get("contains")
            after_id, after_rev = args.get("after_message_id"), args.get("after_revision")
            message = await state.wait_for_message(
                int(args["chat_id"]),
                (lambda m: contains in m.content) if contains else None,
                float(args.get("timeout", 10.0)),
                after_message_id=int(after_id) if after_id is not None else None,
                after_revision=int(after_rev) if after_rev is not None else None,
            )
            return sim_message_to_json(message)

        async def calls(args: dict[str, Any]) -> Any:
            since, method = int(args.get("since", 0)), args.get("method")
            return [
                {"index": index, "method": name, "params": params}
                for index, (name, params) in enumerate(state.calls[since:], start=since)
                if method is None or name.lower() == str(method).lower()
            ]

        async def callback_answers(args: dict[str, Any]) -> Any:
            return state.callback_answers

        async def remove_bot_from(args: dict[str, Any]) -> Any:
            state.remove_bot_from(int(args["chat_id"]))
            return True

        async def add_bot_to(args: dict[str, Any]) -> Any:
            state.add_bot_to(int(args["chat_id"]))
            return True

        async def webhook(args: dict[str, Any]) -> Any:
            hook = state.webhook
            return None if hook is None else {**vars(hook), "delivered": self.webhooks.delivered}

        async def post_to_webhook(args: dict[str, Any]) -> Any:
            update = args["update"]
            if not isinstance(update, dict):
                raise TypeError("update must be a JSON object")
            return await self.post_to_webhook(update, args.get("secret_token"))

        async def stats(args: dict[str, Any]) -> Any:
            return {
                "calls": len(state.calls),
                "pending_updates": len(state.pending_updates()),
                "users": len(state.users),
                "bot_messages": sum(len(state.messages(chat)) for chat in state.chats),
                "revision": state.revision,
            }

        async def chats(args: dict[str, Any]) -> Any:
            return [chat_summary(state, chat) for chat in state.chats.values()]

        async def history(args: dict[str, Any]) -> Any:
            chat = state.chats.get(int(args["chat_id"]))
            if chat is None:
                raise LookupError(f"no chat {args['chat_id']}")
            shown = [m for m in chat.messages.values() if not m.deleted]
            answers = [
                {
                    "query_id": q.query_id,
                    "message_id": q.message_id,
                    **state.callback_answers[q.query_id],
                }
                for q in state.callback_queries(chat.id)
                if q.query_id in state.callback_answers
            ]
            return {
                "chat": chat_summary(state, chat),
                "messages": [sim_message_to_json(m) for m in shown],
                "callback_answers": answers,
                "changes": state.changes,
            }

        async def wait_for_change(args: dict[str, Any]) -> Any:
            return await state.wait_for_change(
                int(args.get("after", 0)), min(float(args.get("timeout", 25.0)), 60.0)
            )

        return {
            "chats": chats,
            "history": history,
            "wait_for_change": wait_for_change,
            "user": user,
            "group": group,
            "send_text": send_text,
            "send_sticker": send_sticker,
            "send_photo": send_photo,
            "press_button": press_button,
            "block": block,
            "unblock": unblock,
            "fail_next": fail_next,
            "remove_bot_from": remove_bot_from,
            "add_bot_to": add_bot_to,
            "webhook": webhook,
            "post_to_webhook": post_to_webhook,
            "messages": messages,
            "user_messages": user_messages,
            "wait_for_message": wait_for_message,
            "calls": calls,
            "callback_answers": callback_answers,
            "stats": stats,
        }


# ------------------------------------------------------------------------------- standalone


async def _serve(host: str, port: int, token: str, bot_username: str) -> None:
    prefix = token.split(":", 1)[0]
    bot_id = int(prefix) if prefix.isdigit() else 123456
    server = BotApiServer(BotApiState(token=token, bot_id=bot_id, bot_username=bot_username))
    await server.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(server.base_url, flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a simulated Telegram Bot API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    # Shaped like a real token, so that `python -m bot` accepts it as TELEGRAM_BOT_TOKEN.
    parser.add_argument("--token", default=LOCAL_TOKEN)
    parser.add_argument("--bot-username", default="twofa_desk_bot")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.host, args.port, args.token, args.bot_username))


if __name__ == "__main__":
    main()
