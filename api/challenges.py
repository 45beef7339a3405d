"""``/v1/challenges``: a login asks for approval in the chat, waits for it, or gives up.

The rules are core/challenges.py's; here the request is checked (400 for anything the
SPEC does not allow, with the API's ``error``) and the answer rendered. A client sees
only its own challenges: another's id is a 404, as an unknown one is.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from api.auth import CLIENT, requires
from api.errors import ApiError, bad_request
from api.routes import SERVICES, _account, _json_object, iso
from core.challenges import (
    LONGEST_WAIT_S,
    InvalidContext,
    Opened,
    Reading,
    Refusal,
    Status,
    parse_context,
)
from core.clients import Scope

routes = web.RouteTableDef()

BODY_FIELDS = frozenset({"account", "context", "kind"})
KINDS = {"number_match": True, "approve": False}  # approve: no screen shows a number
_WAIT = re.compile(r"[0-9]{1,2}")
_ID = re.compile(r"[0-9a-z]{1,32}")

_REFUSALS = {
    Refusal.DISABLED: (403, "push_approval_off", "approval in the chat is turned off"),
    Refusal.NOT_ENROLLED: (409, "not_enrolled", "2FA is not set up for this account"),
    Refusal.ENROLLMENT_REQUIRED: (
        409,
        "enrollment_required",
        "no device can answer: the user sets up a new device first",
    ),
    Refusal.LOCKED: (409, "locked", "the account is locked after too many failed codes"),
    Refusal.NO_CHAT: (409, "no_chat", "nobody manages this account from Telegram"),
    Refusal.TOO_MANY: (
        429,
        "too_many_challenges",
        "a challenge is pending, or too many were declined or expired: try later",
    ),
}


@routes.post("/v1/challenges")
@requires(Scope.CHALLENGES)
async def open_challenge(request: web.Request) -> web.Response:
    body = await _json_object(request)
    unknown = sorted(set(body) - BODY_FIELDS)
    if unknown:
        raise bad_request("unknown_field", f"unknown field {unknown[0]!r}")
    account = _account(body.get("account"))
    kind = body.get("kind", "number_match")
    if not isinstance(kind, str) or kind not in KINDS:
        raise bad_request("invalid_kind", "kind must be number_match or approve")
    try:
        context = parse_context(body.get("context"))
    except InvalidContext as exc:
        raise bad_request(exc.error, exc.message) from None
    services = request.app[SERVICES]
    opened = await services.challenges.open(
        account, context, actor=request[CLIENT].actor, match_number=KINDS[kind]
    )
    return opened_response(opened)


def opened_response(opened: Opened) -> web.Response:
    if opened.refusal is Refusal.DEACTIVATED:
        return web.json_response(
            {"status": "deactivated", "until": iso(opened.deactivated_until)}, status=200
        )
    if opened.refusal is not None:
        status, error, message = _REFUSALS[opened.refusal]
        body: dict[str, Any] = {"error": error, "message": message}
        headers = {}
        if opened.retry_after is not None:
            body["retry_after"] = opened.retry_after
            headers["Retry-After"] = str(opened.retry_after)
        return web.json_response(body, status=status, headers=headers)
    challenge = opened.challenge
    assert challenge is not None
    return web.json_response(
        {
            "id": challenge.id,
            "number": challenge.number,
            "status": challenge.status,
            "expires_at": iso(challenge.expires_at),
        },
        status=201,
    )


@routes.get("/v1/challenges/{id}")
@requires(Scope.CHALLENGES)
async def read_challenge(request: web.Request) -> web.Response:
    challenge_id = _challenge_id(request)
    wait = _wait(request)
    services = request.app[SERVICES]
    actor = request[CLIENT].actor
    # wait=0 is one read: the wait looks once and returns.
    reading = await services.challenges.wait(challenge_id, actor=actor, seconds=wait)
    return _reading_response(reading)


@routes.delete("/v1/challenges/{id}")
@requires(Scope.CHALLENGES)
async def cancel_challenge(request: web.Request) -> web.Response:
    challenge_id = _challenge_id(request)
    services = request.app[SERVICES]
    reading = await services.challenges.cancel(challenge_id, actor=request[CLIENT].actor)
    return _reading_response(reading)


def _reading_response(reading: Reading | None) -> web.Response:
    if reading is None:
        raise ApiError(404, "not_found", "no such challenge")
    if reading.used:
        raise ApiError(
            409,
            "already_used",
            "this challenge was accepted and its verdict read already: it is one login",
        )
    challenge = reading.challenge
    body: dict[str, Any] = {"id": challenge.id, "status": reading.status.value}
    if reading.status is Status.DECLINED and challenge.reason is not None:
        body["reason"] = challenge.reason
    if reading.status is Status.PENDING:
        body["expires_at"] = iso(challenge.expires_at)
    else:
        body["decided_at"] = iso(challenge.decided_at)
    return web.json_response(body)


def _challenge_id(request: web.Request) -> str:
    challenge_id = request.match_info["id"]
    if not _ID.fullmatch(challenge_id):
        raise ApiError(404, "not_found", "no such challenge")
    return challenge_id


def _wait(request: web.Request) -> int:
    values = request.query.getall("wait", [])
    if not values:
        return 0
    if len(values) > 1 or not _WAIT.fullmatch(values[0]) or int(values[0]) > LONGEST_WAIT_S:
        raise bad_request("invalid_wait", f"wait must be a whole number from 0 to {LONGEST_WAIT_S}")
    return int(values[0])
