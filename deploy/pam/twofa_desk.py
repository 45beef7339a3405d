"""2FA Desk for PAM (SSH, sudo, desktops): the second factor, checked over the HTTP API.

Runs inside Debian's libpam-python (``pam_python.so``), with the standard library only:

    auth required pam_python.so /usr/local/lib/twofa-desk/twofa_desk.py \\
        url=https://2fa.example.org token_file=/etc/twofa-desk/token \\
        [account={user}@example.org] [timeout=10] [ca_file=/path/ca.pem]

It asks "2FA code (Enter: approve in Telegram):" (no echo) and checks the answer with
``POST /v1/verify`` as any login would. PAM_SUCCESS only for ``accepted`` (a code from
the app or a recovery code) and ``deactivated`` (support turned 2FA off for a while: the
password alone is enough); everything else is PAM_AUTH_ERR: a wrong, replayed or locked
code, no 2FA set up, a token file others may read, and a 2FA Desk that does not answer
within ``timeout`` seconds (each connect and each read).

An empty answer asks for approval in the chat (``POST /v1/challenges`` with ``kind``
``approve``, then ``GET /v1/challenges/{id}?wait=25`` until decided): everyone who
manages the account gets Approve / This wasn't me, with the service and the remote host.
PAM_SUCCESS only when it was approved (or 2FA is deactivated). It is a plain approval,
not a number to match: OpenSSH passes a PAM_TEXT_INFO message on only with the next
prompt, so a number shown while the login waits would often never be seen.

The bearer token is read from ``token_file``, which must belong to root (or to the user
the login process runs as) and be readable by nobody else (chmod 600): a token that
others can read is refused, with a line in the auth log. Codes and the token are never
logged.
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import stat
import syslog
import urllib.error
import urllib.request
from typing import Any

PROMPT = "2FA code (Enter: approve in Telegram): "
DEFAULT_TIMEOUT = 10.0
# What lets a login go on; every other result (and any result added later) does not.
LOGIN_RESULTS = frozenset({"accepted", "deactivated"})
MAX_TOKEN_BYTES = 4096
MAX_ANSWER_CHARS = 128
LONG_POLL_S = 25  # GET /v1/challenges/{id}?wait=, at most what 2FA Desk allows
MAX_POLLS = 8  # a challenge lives CHALLENGE_SECONDS (60 s by default): well within
MAX_CONTEXT_CHARS = 100


class Refused(Exception):
    """The login cannot go on; the message goes to the auth log (never a secret)."""


def pam_sm_authenticate(pamh: Any, flags: int, argv: list[str]) -> int:
    try:
        options = parse_options(argv[1:])
        user = pamh.get_user(None)
        if not user:
            raise Refused("no user name")
        account = options.get("account", "{user}").replace("{user}", user)
        answer = ask(pamh, PROMPT)
        if answer.strip() == "":
            return approval_in_chat(pamh, options, account)
        body = verify(options, account, answer.strip())
    except Refused as exc:
        log(syslog.LOG_WARNING, f"2FA refused: {exc}")
        return pamh.PAM_AUTH_ERR
    except pamh.exception as exc:
        log(syslog.LOG_WARNING, f"2FA refused: PAM error {exc.pam_result}")
        return pamh.PAM_AUTH_ERR
    except Exception as exc:  # never let an error turn into anything but a refusal
        log(syslog.LOG_ERR, f"2FA refused: unexpected {type(exc).__name__}")
        return pamh.PAM_AUTH_ERR
    result = body.get("result")
    tell(pamh, explain(body))
    if result in LOGIN_RESULTS:
        return pamh.PAM_SUCCESS
    log(syslog.LOG_NOTICE, f"2FA refused for {account!r}: {result}")
    return pamh.PAM_AUTH_ERR


def approval_in_chat(pamh: Any, options: dict[str, str], account: str) -> int:
    """An empty answer: the login waits until someone who manages the account approves
    it in Telegram (a plain approval: see the module docstring)."""
    context = {
        key: value
        for key, value in (("app", _attribute(pamh, "service")), ("ip", _attribute(pamh, "rhost")))
        if value
    }
    status, body = call(
        options,
        "POST",
        "/v1/challenges",
        {"account": account, "kind": "approve", "context": context},
    )
    if status == 200 and body.get("status") == "deactivated":
        tell(pamh, f"2FA is deactivated by support until {body.get('until')}")
        return pamh.PAM_SUCCESS
    if status != 201 or not isinstance(body.get("id"), str):
        tell(pamh, _refusal(status, body))
        log(syslog.LOG_NOTICE, f"2FA approval for {account!r} not asked: {body.get('error')}")
        return pamh.PAM_AUTH_ERR
    challenge = "/v1/challenges/" + body["id"]
    tell(pamh, "2FA: approve this login in Telegram")
    state = "pending"
    try:
        for _ in range(MAX_POLLS):
            status, body = call(
                options, "GET", f"{challenge}?wait={LONG_POLL_S}", None, LONG_POLL_S
            )
            state = str(body.get("status")) if status == 200 else "error"
            if state != "pending":
                break
    finally:
        if state in ("pending", "error"):
            with contextlib.suppress(Refused):
                call(options, "DELETE", challenge, None)
    if state == "accepted":
        tell(pamh, "2FA: approved in Telegram")
        return pamh.PAM_SUCCESS
    tell(pamh, "2FA: declined in Telegram" if state == "declined" else "2FA: not approved in time")
    log(syslog.LOG_NOTICE, f"2FA refused for {account!r}: approval {state}")
    return pamh.PAM_AUTH_ERR


def _attribute(pamh: Any, name: str) -> str | None:
    """A PAM item (the service, the remote host) as context: one short line, or None."""
    with contextlib.suppress(Exception):
        value = getattr(pamh, name, None)
        if isinstance(value, str) and value.isprintable() and value.strip():
            return value.strip()[:MAX_CONTEXT_CHARS]
    return None


def _refusal(status: int, body: dict[str, Any]) -> str:
    error = body.get("error")
    if error == "not_enrolled":
        return "2FA is not set up for this account: set it up in Telegram first"
    if error == "no_chat":
        return "2FA: nobody to ask in Telegram: enter the code from your app"
    if error == "locked":
        return "2FA: locked after too many wrong codes: try again later"
    if error == "too_many_challenges":
        return "2FA: too many approvals asked for: wait, or enter the code from your app"
    if status == 403:
        return "2FA: approval in Telegram is turned off: enter the code from your app"
    return "2FA: approval in Telegram is not possible now: enter the code from your app"


def pam_sm_setcred(pamh: Any, flags: int, argv: list[str]) -> int:
    return pamh.PAM_SUCCESS


def pam_sm_acct_mgmt(pamh: Any, flags: int, argv: list[str]) -> int:
    return pamh.PAM_IGNORE


def pam_sm_open_session(pamh: Any, flags: int, argv: list[str]) -> int:
    return pamh.PAM_IGNORE


def pam_sm_close_session(pamh: Any, flags: int, argv: list[str]) -> int:
    return pamh.PAM_IGNORE


def pam_sm_chauthtok(pamh: Any, flags: int, argv: list[str]) -> int:
    return pamh.PAM_IGNORE


def parse_options(args: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    for arg in args:
        name, separator, value = arg.partition("=")
        if not separator or name not in ("url", "token_file", "account", "timeout", "ca_file"):
            raise Refused(f"unknown option {name!r} in the PAM configuration")
        options[name] = value
    for required in ("url", "token_file"):
        if not options.get(required):
            raise Refused(f"{required}= is missing in the PAM configuration")
    if not options["url"].startswith(("https://", "http://")):
        raise Refused("url= must start with https:// (or http:// on the same host)")
    if "{user}" not in options.get("account", "{user}"):
        raise Refused("account= must contain {user}")
    return options


def read_token(path: str) -> str:
    """The bearer token, from a file no one but its owner (root) may read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise Refused(f"token_file {path} cannot be opened ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise Refused(f"token_file {path} is not a regular file")
        if info.st_mode & 0o077:
            raise Refused(f"token_file {path} may be read by others: chmod 600 it")
        if info.st_uid not in (0, os.geteuid()):
            raise Refused(f"token_file {path} belongs to another user: chown root it")
        token = file.read(MAX_TOKEN_BYTES).decode("utf-8", "replace").strip()
    if not token:
        raise Refused(f"token_file {path} is empty")
    return token


def verify(options: dict[str, str], account: str, code: str) -> dict[str, Any]:
    """``POST /v1/verify``; the JSON answer, or ``Refused`` for anything but a 200."""
    if len(code) > MAX_ANSWER_CHARS:
        raise Refused("the answer is too long to be a code")
    token = read_token(options["token_file"])
    try:
        timeout = float(options.get("timeout", DEFAULT_TIMEOUT))
    except ValueError:
        raise Refused("timeout= is not a number of seconds") from None
    request = urllib.request.Request(  # noqa: S310 (http(s) only: parse_options)
        options["url"].rstrip("/") + "/v1/verify",
        data=json.dumps({"account": account, "code": code}).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {token}",
            "User-Agent": "twofa-desk-pam",
        },
        method="POST",
    )
    context = None
    if options["url"].startswith("https://"):
        context = ssl.create_default_context(cafile=options.get("ca_file") or None)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310
            body = json.loads(response.read(65536))
    except urllib.error.HTTPError as exc:
        raise Refused(f"2FA Desk answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Refused(f"2FA Desk cannot be reached ({reason})") from None
    except ValueError:
        raise Refused("2FA Desk's answer is not JSON") from None
    if not isinstance(body, dict):
        raise Refused("2FA Desk's answer is not a JSON object")
    return body


def call(
    options: dict[str, str],
    method: str,
    path: str,
    payload: dict[str, Any] | None,
    longer_by: float = 0.0,
) -> tuple[int, dict[str, Any]]:
    """One request to 2FA Desk: (HTTP status, JSON object). ``Refused`` when it cannot be
    reached or does not answer JSON; a 4xx is returned (its ``error`` says why)."""
    token = read_token(options["token_file"])
    try:
        timeout = float(options.get("timeout", DEFAULT_TIMEOUT)) + longer_by
    except ValueError:
        raise Refused("timeout= is not a number of seconds") from None
    request = urllib.request.Request(  # noqa: S310 (http(s) only: parse_options)
        options["url"].rstrip("/") + path,
        data=None if payload is None else json.dumps(payload).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {token}",
            "User-Agent": "twofa-desk-pam",
        },
        method=method,
    )
    context = None
    if options["url"].startswith("https://"):
        context = ssl.create_default_context(cafile=options.get("ca_file") or None)
    try:
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310
                status, raw = response.status, response.read(65536)
        except urllib.error.HTTPError as exc:
            if exc.code >= 500:
                raise Refused(f"2FA Desk answered HTTP {exc.code}") from None
            status, raw = exc.code, exc.read(65536)
        body = json.loads(raw)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Refused(f"2FA Desk cannot be reached ({reason})") from None
    except ValueError:
        raise Refused("2FA Desk's answer is not JSON") from None
    if not isinstance(body, dict):
        raise Refused("2FA Desk's answer is not a JSON object")
    return status, body


def explain(body: dict[str, Any]) -> str | None:
    """What the person at the prompt is told, if anything."""
    result = body.get("result")
    if result == "deactivated":
        return f"2FA is deactivated by support until {body.get('until')}"
    if result == "locked":
        if body.get("support_required") or not body.get("locked_until"):
            return "2FA: locked after too many wrong codes: contact support"
        return f"2FA: locked after too many wrong codes until {body.get('locked_until')}"
    if result == "not_enrolled":
        return "2FA is not set up for this account: set it up in Telegram first"
    if result == "enrollment_required":
        return "2FA: no device can answer: set up a new device in Telegram first"
    return None


def ask(pamh: Any, prompt: str) -> str:
    response = pamh.conversation(pamh.Message(pamh.PAM_PROMPT_ECHO_OFF, prompt))
    return response.resp or ""


def tell(pamh: Any, text: str | None) -> None:
    if not text:
        return
    # A client that shows no text changes nothing.
    with contextlib.suppress(Exception):
        pamh.conversation(pamh.Message(pamh.PAM_TEXT_INFO, text))


def log(priority: int, message: str) -> None:
    syslog.openlog("pam_twofa_desk", syslog.LOG_PID, syslog.LOG_AUTHPRIV)
    syslog.syslog(priority, message)
