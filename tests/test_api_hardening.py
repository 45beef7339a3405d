"""The API against hostile input: bytes that are not UTF-8, lone surrogates, malformed
HTTP, and account ids that only look alike. Each answer is a 4xx with the JSON
``error`` field; none is a 500, a traceback or an operator alert."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.parse
from typing import Any

import pytest

from tests.harness import API_TOKEN, Api, code_for
from tests.helpers import decode_qr, parse_key_uri


@pytest.fixture
def alerts_raised(api: Api, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The kinds of alert raised while the test runs."""
    alerts = api.harness.app.bot_data["services"].alerts
    kinds: list[str] = []
    original = alerts.raise_event

    async def spy(kind: str, *args: Any, **kwargs: Any) -> None:
        kinds.append(kind)
        await original(kind, *args, **kwargs)

    monkeypatch.setattr(alerts, "raise_event", spy)
    return kinds


async def raw_exchange(api: Api, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are over a real socket; read the answer until the server closes."""
    port = int(api.base.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


# Finding 6: no token, yet a 500, a traceback and a critical alert.


async def test_a_bearer_token_that_is_not_utf8_is_401_without_an_alert(
    api: Api,
    alerts_raised: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    for path in (b"/v1/accounts/alice", b"/metrics"):
        status, headers, body = await raw_exchange(
            api,
            b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n",
        )
        assert status == 401, body
        assert json.loads(body)["error"] == "invalid_token"
        assert headers["www-authenticate"].startswith("Bearer")
    assert alerts_raised == []
    assert errors_logged(caplog) == []


async def test_the_right_token_still_opens_the_api(api: Api) -> None:
    status, _, body = await raw_exchange(
        api,
        b"GET /v1/accounts/alice HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + API_TOKEN.encode() + b"\r\nConnection: close\r\n\r\n",
    )
    assert status == 200 and json.loads(body)["account"] == "alice"


@pytest.mark.parametrize("account", ["\ud800", "alice\udcff", "\udfff\ud800"])
async def test_a_lone_surrogate_is_400_without_an_alert(
    api: Api,
    alerts_raised: list[str],
    caplog: pytest.LogCaptureFixture,
    account: str,
) -> None:
    for path, body in (
        ("/v1/verify", {"account": account, "code": "123456"}),
        ("/v1/enrollment-links", {"account": account}),
    ):
        status, answer, _ = await api.call("POST", path, body)
        assert status == 400 and answer["error"] == "invalid_account", (path, answer)
    assert alerts_raised == []
    assert errors_logged(caplog) == []


async def test_a_lone_surrogate_as_the_code_is_400(api: Api) -> None:
    status, answer, _ = await api.call("POST", "/v1/verify", {"account": "a", "code": "\ud800"})
    assert status == 400 and answer["error"] == "invalid_code"


# Finding 7: malformed HTTP answered in plain text that echoes the line, logged at ERROR.

SECRET_MARK = "do-not-echo-7f3a"


@pytest.mark.parametrize(
    "request_bytes",
    [
        # a header line without a colon
        (
            f"GET /v1/accounts/alice HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization Bearer {SECRET_MARK}\r\n\r\n"
        ).encode(),
        # a request line with raw bytes in the path
        f"GET /v1/accounts/{SECRET_MARK}\xff HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode("latin-1"),
        # not a request line at all
        f"{SECRET_MARK} nonsense\r\n\r\n".encode(),
        # a bad method after a good request in one packet (aiohttp answers one 400)
        (
            f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            f"G@T /{SECRET_MARK} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        ).encode(),
        # a header name with a space
        f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX {SECRET_MARK}: 1\r\n\r\n".encode(),
        # a request line longer than aiohttp accepts
        f"GET /{SECRET_MARK}{'a' * 9000} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode(),
    ],
)
async def test_malformed_http_is_a_json_400_that_echoes_nothing(
    api: Api,
    alerts_raised: list[str],
    caplog: pytest.LogCaptureFixture,
    request_bytes: bytes,
) -> None:
    caplog.set_level(logging.DEBUG)
    status, headers, body = await raw_exchange(api, request_bytes)
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    answer = json.loads(body)
    assert answer["error"] == "malformed_request" and answer["message"]
    assert SECRET_MARK.encode() not in body
    # One line in the log, no traceback, nothing of the request in it.
    assert errors_logged(caplog) == []
    mentions = [r for r in caplog.records if "malformed" in r.getMessage().lower()]
    assert len(mentions) == 1
    (record,) = mentions
    assert "\n" not in record.getMessage() and SECRET_MARK not in record.getMessage()
    assert all(SECRET_MARK not in r.getMessage() for r in caplog.records)
    assert alerts_raised == []


async def test_a_well_formed_raw_request_is_answered_as_before(api: Api) -> None:
    status, _, body = await raw_exchange(
        api, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    assert status == 200 and json.loads(body)["status"] == "ok"


# Finding 8: account ids that only look alike.


async def test_account_ids_are_nfc_normalised(api: Api) -> None:
    decomposed, composed = "Rene\u0301@example.com", "Ren\u00e9@example.com"
    status, link, _ = await api.call("POST", "/v1/enrollment-links", {"account": decomposed})
    assert status == 201 and link["account"] == composed
    quoted = urllib.parse.quote(decomposed, safe="")
    status, state, _ = await api.call("GET", f"/v1/accounts/{quoted}")
    assert status == 200 and state["account"] == composed


async def test_the_nfd_and_nfc_spellings_are_one_account(api: Api) -> None:
    harness = api.harness
    decomposed, composed = "Rene\u0301@example.com", "Ren\u00e9@example.com"
    status, link, _ = await api.call("POST", "/v1/enrollment-links", {"account": decomposed})
    assert status == 201
    user = harness.user(3003, "René")
    answer = await user.send(f"/start {link['url'].split('start=')[1]}")
    photo = next(m for m in answer if m.photo is not None)
    secret = parse_key_uri(decode_qr(photo.shown_photo))["secret"]
    await user.send(code_for(harness, secret))
    (summary,) = await user.send("René's phone")
    await user.press(summary, "Complete activation")
    harness.clock.advance(seconds=90)
    assert (await api.verify(composed, code_for(harness, secret)))["result"] == "accepted"
    quoted = urllib.parse.quote(decomposed, safe="")
    status, state, _ = await api.call("GET", f"/v1/accounts/{quoted}")
    assert status == 200 and state["account"] == composed and state["enrolled"] is True


INVISIBLE_OR_PRIVATE = [
    "alice\u200b",  # zero-width space (Cf)
    "\ufeffalice",  # byte order mark (Cf)
    "ali\u202ece",  # right-to-left override (Cf)
    "alice\u2028",  # line separator (Zl)
    "a\u2029b",  # paragraph separator (Zp)
    "alice\ue000",  # private use (Co)
    "alice\x7f",  # DEL (Cc)
    "alice\x00",  # NUL (Cc)
    " alice",  # leading whitespace
    "alice ",  # trailing whitespace
    "alice\u00a0",  # trailing no-break space
]


@pytest.mark.parametrize("account", INVISIBLE_OR_PRIVATE)
async def test_invisible_and_private_characters_are_refused_everywhere(
    api: Api,
    alerts_raised: list[str],
    account: str,
) -> None:
    for path, body in (
        ("/v1/verify", {"account": account, "code": "123456"}),
        ("/v1/enrollment-links", {"account": account}),
    ):
        status, answer, _ = await api.call("POST", path, body)
        assert status == 400 and answer["error"] == "invalid_account", (path, answer)
        assert answer["message"]
    quoted = urllib.parse.quote(account, safe="")
    status, answer, _ = await api.call("GET", f"/v1/accounts/{quoted}")
    assert status == 400 and answer["error"] == "invalid_account", answer
    assert alerts_raised == []


@pytest.mark.parametrize(
    "raw_segment",
    [
        "%FF",  # not UTF-8
        "alice%FF",
        "%C3",  # a cut-off sequence
        "%ED%A0%80",  # a UTF-8-encoded surrogate
        "%C0%AF",  # an overlong encoding
        "alice%E2%80%8B",  # a zero-width space, percent-encoded
        "alice%0A",  # a newline, percent-encoded
        "%20alice",  # leading space
    ],
)
async def test_undecodable_or_invisible_path_segments_are_400(
    api: Api,
    raw_segment: str,
) -> None:
    status, answer, _ = await api.call("GET", f"/v1/accounts/{raw_segment}")
    assert status == 400 and answer["error"] == "invalid_account", answer


async def test_a_literal_percent_sign_is_part_of_the_id(api: Api) -> None:
    status, state, _ = await api.call("GET", "/v1/accounts/%25FF")
    assert status == 200 and state["account"] == "%FF"
    status, state, _ = await api.call("GET", "/v1/accounts/org%2F123%20x")
    assert status == 200 and state["account"] == "org/123 x"


async def test_fullwidth_and_other_compatibility_forms_are_kept(api: Api) -> None:
    # NFC, not NFKC: the organisation's ids are opaque, folding could merge two of them.
    for account in ("ａｌｉｃｅ", "ﬁle@example.com", "Anna Example", "tg:1001"):
        status, link, _ = await api.call("POST", "/v1/enrollment-links", {"account": account})
        assert status == 201 and link["account"] == account
        quoted = urllib.parse.quote(account, safe="")
        status, state, _ = await api.call("GET", f"/v1/accounts/{quoted}")
        assert status == 200 and state["account"] == account


# The same class of fault in the body: a login system's request, yet no incident.


def _post_verify(headers: bytes, body: bytes) -> bytes:
    return (
        b"POST /v1/verify HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + API_TOKEN.encode() + b"\r\n"
        b"Content-Type: application/json\r\n" + headers + b"\r\n" + body
    )


@pytest.mark.parametrize(
    "request_bytes",
    [
        # gzip that is not gzip: aiohttp fails while the handler reads the body
        _post_verify(b"Content-Encoding: gzip\r\nContent-Length: 4\r\n", b"abcd"),
        # a chunk longer than announced
        _post_verify(b"Transfer-Encoding: chunked\r\n", b"2\r\n{}XX\r\n0\r\n\r\n"),
    ],
)
async def test_a_body_that_cannot_be_read_is_a_400_without_an_alert(
    api: Api,
    alerts_raised: list[str],
    caplog: pytest.LogCaptureFixture,
    request_bytes: bytes,
) -> None:
    status, headers, body = await raw_exchange(api, request_bytes)
    assert status == 400 and headers["content-type"].startswith("application/json")
    assert json.loads(body)["error"] == "malformed_request"
    await asyncio.sleep(0.1)  # aiohttp drains the rest of the body after answering
    assert alerts_raised == []
    assert errors_logged(caplog) == []


async def test_a_client_hanging_up_mid_body_raises_no_alert(
    api: Api,
    alerts_raised: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = int(api.base.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(_post_verify(b"Content-Length: 100\r\n", b'{"account": "al'))
    await writer.drain()
    writer.write_eof()
    assert await asyncio.wait_for(reader.read(), 10) == b""
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.1)
    assert alerts_raised == []
    assert errors_logged(caplog) == []
