"""``POST /v1/radius/check``: a code check in the words FreeRADIUS's rlm_rest reads.

rlm_rest takes any 2xx for a success, so ``POST /v1/verify``'s ``200 {"result":
"rejected"}`` would let a login in. Here the HTTP status carries the decision (the
mapping table is in the README, "RADIUS"): 200 only when the login may go on (a code was
accepted, or support deactivated 2FA), 401 for every refusal, with a ``Reply-Message``
in rlm_rest's JSON attribute format (rlm_rest decodes the body of a 2xx and of a 401,
not of a 403 or 404), 400 for a request that FreeRADIUS should never send (a
configuration mistake: rlm_rest then answers "invalid", a Reject). Every answer that is
not 200 is a Reject, and so is a timeout or a 5xx: FreeRADIUS fails closed.

The body is ``application/x-www-form-urlencoded``, ``user=...&pass=...``, each value
percent-encoded by FreeRADIUS (``%{urlquote:...}``), so any bytes a RADIUS client puts
into User-Name or User-Password arrive intact; what is not UTF-8, or not a valid
account id, is refused here with a Reject, never an error. The check itself is the one
``POST /v1/verify`` makes (``services.verification``).
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from api.auth import CLIENT, requires
from api.errors import bad_request
from api.routes import SERVICES, iso
from core.challenges import LONGEST_WAIT_S, Refusal, Status
from core.clients import Scope
from core.identifiers import InvalidIdentifier, normalise_account_id
from core.services import Services
from core.verification import Result, Verdict, is_code_shaped

routes = web.RouteTableDef()

FORM = "application/x-www-form-urlencoded"
# What a RADIUS user types to ask for approval in the chat (besides nothing at all).
APPROVAL_WORDS = frozenset({"", "push"})
# User-Name and User-Password are at most 253 bytes each; percent-encoded, three times
# that. Anything longer did not come from the shipped configuration.
MAX_FIELD_CHARS = 3 * 253


@dataclass(frozen=True)
class RadiusAnswer:
    """What FreeRADIUS is told: ``accept`` (HTTP 200) or not (401), and the
    Reply-Message the VPN may show."""

    accept: bool
    message: str

    def response(self) -> web.Response:
        # The long form of an attribute, so that the text is taken as it is: rlm_rest
        # expands "%{...}" in response values unless told not to (do_xlat).
        reply = {"op": ":=", "value": self.message, "do_xlat": False}
        return web.json_response({"reply:Reply-Message": reply}, status=200 if self.accept else 401)


def reject(message: str) -> RadiusAnswer:
    return RadiusAnswer(False, message)


INVALID_ACCOUNT = reject("2FA: the user name is not a valid account")
PUSH_NOT_ALLOWED = reject(
    "2FA: approval in the chat is not enabled for this RADIUS client: enter the 6-digit code"
    " from your app"
)
NOT_A_CODE = reject("2FA: enter the 6-digit code from your authenticator app or a recovery code")
APPROVAL_OFF = reject(
    "2FA: approval in the chat is turned off: enter the 6-digit code from your app"
)
APPROVAL_REFUSED = {
    Refusal.NOT_ENROLLED: reject("2FA is not set up for this account: set it up in Telegram first"),
    Refusal.ENROLLMENT_REQUIRED: reject(
        "2FA: no device can answer: set up a new device in Telegram first"
    ),
    Refusal.LOCKED: reject("2FA: locked after too many wrong codes: try again later"),
    Refusal.NO_CHAT: reject("2FA: nobody to ask in Telegram: enter the 6-digit code from your app"),
    Refusal.TOO_MANY: reject(
        "2FA: too many approvals asked for: wait, or enter the 6-digit code from your app"
    ),
}
APPROVED = RadiusAnswer(True, "2FA: approved in Telegram")
DECLINED = reject("2FA: declined in Telegram")
NOT_APPROVED_IN_TIME = reject("2FA: not approved in Telegram in time")
# What a RADIUS login shows in the chat as the app: there is no more to say.
RADIUS_CONTEXT = {"app": "RADIUS"}


@routes.post("/v1/radius/check")
@requires(Scope.VERIFY)
async def radius_check(request: web.Request) -> web.Response:
    user, password = await _form(request)
    services = request.app[SERVICES]
    client = request[CLIENT]
    push = client.allows(Scope.CHALLENGES)
    return (await check(services, user, password, client.actor, push=push)).response()


async def check(
    services: Services, user: bytes, password: bytes, actor: str, *, push: bool = True
) -> RadiusAnswer:
    """The answer for a User-Name and User-Password as FreeRADIUS received them."""
    try:
        account = normalise_account_id(user.decode("utf-8"))
    except (UnicodeDecodeError, InvalidIdentifier):
        return INVALID_ACCOUNT
    try:
        code = password.decode("utf-8")
    except UnicodeDecodeError:
        return NOT_A_CODE
    # Spaces only, as the shipped FreeRADIUS site tells "push" from a code (/^ *push *$/i).
    if code.strip(" ").lower() in APPROVAL_WORDS:
        if not push:  # asking people in the chat takes the challenges scope, as the API does
            return PUSH_NOT_ALLOWED
        return await approval_in_chat(services, account, actor)
    if not is_code_shaped(code):
        # Refused without a check, as POST /v1/verify refuses it (400): not counted.
        # The same shapes as there: six digits or a recovery code, nothing around them.
        return NOT_A_CODE
    verdict = await services.verification.verify(account, code, actor=actor)
    return answer_for(verdict, services.clock.now())


async def approval_in_chat(services: Services, account: str, actor: str) -> RadiusAnswer:
    """An empty User-Password or ``push``: the login waits for approval in the chat, at
    most ``LONGEST_WAIT_S`` (rlm_rest's push instance waits a little longer). There is no
    login screen to show a number, so the message asks for a plain approval. A challenge
    not decided by then is cancelled: its message says so, and a later tap does nothing."""
    challenges = services.challenges
    opened = await challenges.open(account, RADIUS_CONTEXT, actor=actor, match_number=False)
    if opened.refusal is Refusal.DEACTIVATED:
        return deactivated(opened.deactivated_until)
    if opened.refusal is Refusal.DISABLED:
        return APPROVAL_OFF
    if opened.challenge is None:
        assert opened.refusal is not None
        return APPROVAL_REFUSED.get(opened.refusal, DECLINED)
    challenge_id = opened.challenge.id
    reading = await challenges.wait(challenge_id, actor=actor, seconds=LONGEST_WAIT_S)
    if reading is not None and reading.status is Status.PENDING:
        reading = await challenges.cancel(challenge_id, actor=actor)
    if reading is None:
        return NOT_APPROVED_IN_TIME
    if reading.status is Status.ACCEPTED and not reading.used:
        return APPROVED
    if reading.status is Status.DECLINED:
        return DECLINED
    return NOT_APPROVED_IN_TIME


def answer_for(verdict: Verdict, now: datetime) -> RadiusAnswer:
    """Accept only what lets a login go on; everything else, and any result this
    module does not know, is a Reject."""
    result = verdict.result
    if result is Result.ACCEPTED:
        if verdict.method == "recovery_code":
            left = verdict.recovery_codes_left
            return RadiusAnswer(True, f"2FA: recovery code accepted ({left} left)")
        return RadiusAnswer(True, "2FA: code accepted")
    if result is Result.DEACTIVATED:
        return deactivated(verdict.deactivated_until)
    if result is Result.LOCKED:
        if verdict.hard_locked or verdict.locked_until is None:
            return reject("2FA: locked after too many wrong codes: contact support")
        return reject(f"2FA: locked after too many wrong codes until {iso(verdict.locked_until)}")
    if result is Result.REJECTED:
        return reject(
            f"2FA: wrong or already used code ({verdict.tries_left} tries left before a lock)"
        )
    if result is Result.NOT_ENROLLED:
        return APPROVAL_REFUSED[Refusal.NOT_ENROLLED]
    if result is Result.ENROLLMENT_REQUIRED:
        return APPROVAL_REFUSED[Refusal.ENROLLMENT_REQUIRED]
    return reject("2FA: the code was not accepted")


def deactivated(until: datetime | None) -> RadiusAnswer:
    """Support turned 2FA off for a while: the password alone lets the login in."""
    return RadiusAnswer(
        True, f"2FA is deactivated by support until {iso(until)}: login with the password alone"
    )


async def _form(request: web.Request) -> tuple[bytes, bytes]:
    """``user`` and ``pass`` as bytes, percent-decoded, or a 400."""
    if request.content_type != FORM:
        raise bad_request("invalid_content_type", f"send {FORM} (user=...&pass=...)")
    try:
        text = (await request.read()).decode("ascii")
    except UnicodeDecodeError:
        raise bad_request("invalid_form", "percent-encode every value (urlquote)") from None
    fields: dict[str, bytes] = {}
    for pair in text.split("&"):
        name, separator, value = pair.partition("=")
        if not separator or name not in ("user", "pass") or name in fields:
            raise bad_request("invalid_form", "send user=...&pass=..., each once")
        if len(value) > MAX_FIELD_CHARS:
            raise bad_request("invalid_form", f"{name} is longer than RADIUS allows")
        fields[name] = urllib.parse.unquote_to_bytes(value)
    if len(fields) != 2:
        raise bad_request("missing_field", "user and pass are required")
    return fields["user"], fields["pass"]
