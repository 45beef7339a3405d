"""The endpoints: parse and validate, call the core, render JSON."""

from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from api.auth import CLIENT, public, requires
from api.errors import ApiError, bad_request
from api.health import Role
from core.clients import Scope
from core.identifiers import InvalidIdentifier, normalise_account_id
from core.metrics import CONTENT_TYPE
from core.services import Services
from core.verification import Result, Verdict, is_code_shaped


@dataclass
class BotUsername:
    """The bot's username for enrolment links; None until it is known (getMe)."""

    value: str | None = None


SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
BOT_USERNAME: web.AppKey[BotUsername] = web.AppKey("bot_username", BotUsername)
ROLE: web.AppKey[Role] = web.AppKey("role", Role)

routes = web.RouteTableDef()


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


async def _json_object(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise bad_request(
            "invalid_content_type", "send a JSON body (Content-Type: application/json)"
        )
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise bad_request("invalid_json", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise bad_request("invalid_json", "the body must be a JSON object")
    return body


def _account(value: object) -> str:
    """An account id from a request, in its one spelling (NFC), or a 400."""
    if value is None:
        raise bad_request("missing_field", "account is required")
    if not isinstance(value, str):
        raise bad_request("invalid_account", "account must be a string")
    try:
        return normalise_account_id(value)
    except InvalidIdentifier as exc:
        raise bad_request("invalid_account", exc.message) from None


def _path_account(request: web.Request) -> str:
    """The ``{account}`` path segment, decoded here rather than by aiohttp: aiohttp
    keeps percent-encoding that is not UTF-8 as it is ("%FF" would become the account
    "%FF"), while here it is a 400. The route matched ``/v1/accounts/{account}`` with
    "%2F" still encoded, so the segment is what follows the third "/" of the raw path."""
    raw_segment = request.rel_url.raw_path.split("/", 3)[3]
    try:
        decoded = urllib.parse.unquote(raw_segment, errors="strict")
    except UnicodeDecodeError:
        raise bad_request("invalid_account", "account is not valid UTF-8") from None
    return _account(decoded)


@routes.post("/v1/verify")
@requires(Scope.VERIFY)
async def verify(request: web.Request) -> web.Response:
    body = await _json_object(request)
    account = _account(body.get("account"))
    code = body.get("code")
    if code is None:
        raise bad_request("missing_field", "code is required")
    if not isinstance(code, str) or not is_code_shaped(code):
        raise bad_request("invalid_code", "code must be a string of 6 digits or a recovery code")
    services = request.app[SERVICES]
    verdict = await services.verification.verify(account, code, actor=request[CLIENT].actor)
    return web.json_response(_verdict_json(verdict, services.clock.now()))


def _verdict_json(verdict: Verdict, now: datetime) -> dict[str, Any]:
    body: dict[str, Any] = {"result": verdict.result.value}
    if verdict.result is Result.ACCEPTED:
        body["method"] = verdict.method
        if verdict.device is not None:
            body["device"] = verdict.device.name
        if verdict.recovery_codes_left is not None:
            body["recovery_codes_left"] = verdict.recovery_codes_left
    elif verdict.result is Result.REJECTED:
        body["tries_left"] = verdict.tries_left
    elif verdict.result is Result.LOCKED:
        body["retry_after"] = verdict.retry_after(now)
        body["locked_until"] = iso(verdict.locked_until)
        body["support_required"] = verdict.hard_locked
    elif verdict.result is Result.DEACTIVATED:
        body["until"] = iso(verdict.deactivated_until)
    return body


# Any character, a newline too ("." would leave "%0A" to a 404): _path_account refuses.
@routes.get(r"/v1/accounts/{account:[\s\S]+}")
@requires(Scope.ACCOUNTS)
async def account_state(request: web.Request) -> web.Response:
    account = _path_account(request)
    state = await request.app[SERVICES].accounts.describe(account)
    return web.json_response(
        {
            "account": state.account_id,
            "enrolled": state.enrolled,
            "required": state.required,
            "devices": [
                {
                    "name": device.name,
                    "added": iso(device.created_at),
                    "last_used": iso(device.last_used_at),
                }
                for device in state.devices
            ],
            "deactivated_until": iso(state.deactivated_until),
            "lock": {
                "locked": state.locked_until is not None or state.hard_locked,
                "locked_until": iso(state.locked_until),
                "support_required": state.hard_locked,
                "consecutive_failures": state.consecutive_failures,
            },
        }
    )


@routes.post("/v1/enrollment-links")
@requires(Scope.LINKS)
async def enrollment_link(request: web.Request) -> web.Response:
    body = await _json_object(request)
    account = _account(body.get("account"))
    username = request.app[BOT_USERNAME].value
    if username is None:
        raise ApiError(
            503,
            "bot_username_unknown",
            "the bot's username is not known yet (Telegram did not answer getMe); "
            "set TELEGRAM_BOT_USERNAME, or retry in a few seconds",
            {"Retry-After": "5"},
        )
    link = await request.app[SERVICES].links.mint(account, actor=request[CLIENT].actor)
    url = f"https://t.me/{username}?start={link.token}"
    return web.json_response(
        {"url": url, "account": account, "expires_at": iso(link.expires_at)}, status=201
    )


@routes.get("/metrics")
@requires(Scope.METRICS)
async def metrics(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    services.metrics.open_requests.set(await services.deactivation.open_count())
    services.metrics.alert_outbox.set(await services.alerts.depth())
    webhooks = await services.webhooks.outbox()
    services.metrics.webhook_outbox.set(webhooks.waiting)
    services.metrics.webhook_oldest_age.set(
        0
        if webhooks.oldest_waiting_at is None
        else max(0.0, (services.clock.now() - webhooks.oldest_waiting_at).total_seconds())
    )
    response = web.Response(body=services.metrics.render())
    response.headers["Content-Type"] = CONTENT_TYPE
    return response


@routes.get("/healthz")
@public
async def healthz(request: web.Request) -> web.Response:
    """Which role answers (``bot``, active or standby, or ``api``); 503 without a database.

    A standby bot serves the API as well as the active one does: both are healthy."""
    role = request.app[ROLE].describe()
    if await request.app[SERVICES].db.ping():
        return web.json_response({"status": "ok", **role})
    body = {"error": "database_unavailable", "message": "the database does not answer", **role}
    return web.json_response(body, status=503)
