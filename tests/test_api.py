"""The HTTP API over real HTTP against the running application."""

from __future__ import annotations

import re
import urllib.parse
from datetime import timedelta
from typing import Any

import pytest

from core.accounts import TelegramIdentity
from core.deactivation import DeactivationService
from storage.records import AccountSecurity
from tests.harness import API_TOKEN, Api, at_summary, code_for, enrol, wrong
from tests.helpers import decode_qr, parse_key_uri


async def test_health_needs_no_token(api: Api) -> None:
    status, body, _ = await api.call("GET", "/healthz", token=None)
    assert (status, body) == (200, {"status": "ok", "role": "bot", "state": "active"})


async def test_health_is_503_when_the_database_is_gone(api: Api) -> None:
    await api.harness.app.bot_data["services"].db.close()
    status, body, _ = await api.call("GET", "/healthz", token=None)
    assert status == 503 and body["error"] == "database_unavailable"
    assert (body["role"], body["state"]) == ("bot", "active")


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, "missing_token"),
        ({"Authorization": "Bearer wrong-token"}, "invalid_token"),
        ({"Authorization": f"Basic {API_TOKEN}"}, "missing_token"),
        ({"Authorization": "Bearer"}, "missing_token"),
        ({"Authorization": f"Bearer {API_TOKEN}x"}, "invalid_token"),
    ],
)
async def test_requests_without_the_right_token_are_401(
    api: Api, headers: dict[str, str], error: str
) -> None:
    for method, path in (
        ("POST", "/v1/verify"),
        ("GET", "/v1/accounts/a"),
        ("POST", "/v1/enrollment-links"),
    ):
        status, body, response = await api.call(
            method, path, {"account": "a", "code": "123456"}, token=None, headers=dict(headers)
        )
        assert status == 401 and body["error"] == error
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_verify_each_result(api: Api) -> None:
    harness = api.harness
    assert (await api.verify("tg:1001", "123456")) == {"result": "not_enrolled"}
    user = harness.user()
    secret, _ = await enrol(user)
    code = code_for(harness, secret)
    assert await api.verify("tg:1001", code) == {
        "result": "accepted",
        "method": "totp",
        "device": "Phone",
    }
    assert await api.verify("tg:1001", code) == {"result": "rejected", "tries_left": 4}
    bad = wrong(harness, secret)
    for _ in range(3):
        await api.verify("tg:1001", bad)
    locked = await api.verify("tg:1001", bad)
    assert locked["result"] == "locked" and locked["retry_after"] == 900
    assert locked["support_required"] is False
    harness.clock.advance(minutes=15)
    until = harness.clock.now() + timedelta(hours=24)
    db = harness.app.bot_data["services"].db
    await db.run(
        lambda tx: tx.security.save(
            AccountSecurity("tg:1001", deactivated_until=until), harness.clock.now()
        )
    )
    deactivated = await api.verify("tg:1001", code_for(harness, secret))
    assert deactivated == {
        "result": "deactivated",
        "until": until.isoformat().replace("+00:00", "Z"),
    }


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("not json", "invalid_json"),
        ([1, 2], "invalid_json"),
        ({"code": "123456"}, "missing_field"),
        ({"account": "tg:1001"}, "missing_field"),
        ({"account": "tg:1001", "code": "12345"}, "invalid_code"),
        ({"account": "tg:1001", "code": "1234567"}, "invalid_code"),
        ({"account": "tg:1001", "code": 123456}, "invalid_code"),
        ({"account": "tg:1001", "code": "123 456"}, "invalid_code"),
        ({"account": "tg:1001", "code": "123456\n"}, "invalid_code"),
        ("[" * 5000, "invalid_json"),
        ({"account": "tg:1001", "code": "abcd-efgh-ijkl-mnop"}, "invalid_code"),
        ({"account": "tg:1001", "code": "١٢٣٤٥٦"}, "invalid_code"),
        ({"account": "x" * 257, "code": "123456"}, "invalid_account"),
        ({"account": "", "code": "123456"}, "invalid_account"),
        ({"account": 42, "code": "123456"}, "invalid_account"),
        ({"account": "a\nb", "code": "123456"}, "invalid_account"),
    ],
)
async def test_malformed_verify_is_400_and_changes_nothing(api: Api, body: Any, error: str) -> None:
    harness = api.harness
    await enrol(harness.user())
    if isinstance(body, str):
        status, answer, _ = await api.call(
            "POST", "/v1/verify", data=body, headers={"Content-Type": "application/json"}
        )
    else:
        status, answer, _ = await api.call("POST", "/v1/verify", body)
    assert status == 400 and answer["error"] == error and answer["message"]
    status, state, _ = await api.call("GET", "/v1/accounts/tg:1001")
    assert state["lock"]["consecutive_failures"] == 0


async def test_form_bodies_are_refused(api: Api) -> None:
    status, body, _ = await api.call("POST", "/v1/verify", data={"account": "a", "code": "1"})
    assert status == 400 and body["error"] == "invalid_content_type"


async def test_account_state(api: Api) -> None:
    harness = api.harness
    status, empty, _ = await api.call("GET", "/v1/accounts/nobody@example.com")
    assert status == 200 and empty["enrolled"] is False and empty["devices"] == []
    secret, _ = await enrol(harness.user())
    await api.verify("tg:1001", code_for(harness, secret))
    for _ in range(5):
        await api.verify("tg:1001", wrong(harness, secret))
    status, state, _ = await api.call("GET", "/v1/accounts/tg:1001")
    assert state["account"] == "tg:1001" and state["enrolled"] is True
    (device,) = state["devices"]
    assert device["name"] == "Phone" and device["added"].endswith("Z") and device["last_used"]
    assert state["lock"]["locked"] is True and state["lock"]["consecutive_failures"] == 5
    assert state["deactivated_until"] is None
    too_long = "x" * 257
    status, body, _ = await api.call("GET", f"/v1/accounts/{too_long}")
    assert status == 400 and body["error"] == "invalid_account"


async def test_enrollment_link_round_trip_through_the_chat(api: Api) -> None:
    harness = api.harness
    status, link, _ = await api.call(
        "POST", "/v1/enrollment-links", {"account": "anna@example.com"}
    )
    assert status == 201
    assert link["url"].startswith("https://t.me/twofa_desk_bot?start=")
    assert link["expires_at"] == (harness.clock.now() + timedelta(hours=1)).isoformat().replace(
        "+00:00", "Z"
    )
    token = link["url"].split("start=")[1]
    assert len(token) >= 22  # at least 128 bits
    user = harness.user(3003, "Anna")
    answer = await user.send(f"/start {token}")
    assert any("anna@example.com" in m.content for m in answer)
    photo = next(m for m in answer if m.photo is not None)
    secret = parse_key_uri(decode_qr(photo.shown_photo))["secret"]
    await user.send(code_for(harness, secret))
    (summary,) = await user.send("Anna's phone")
    await user.press(summary, "Complete activation")
    harness.clock.advance(seconds=90)
    assert (await api.verify("anna@example.com", code_for(harness, secret)))["result"] == "accepted"
    status, body, _ = await api.call("POST", "/v1/enrollment-links", {"account": ""})
    assert status == 400 and body["error"] == "invalid_account"


async def test_unknown_paths_and_methods_answer_json(api: Api) -> None:
    status, body, _ = await api.call("GET", "/v1/nothing")
    assert status == 404 and body["error"] == "not_found"
    status, body, _ = await api.call("GET", "/v1/verify")
    assert status == 405 and body["error"] == "method_not_allowed"
    status, body, _ = await api.call(
        "POST", "/v1/verify", data="x" * 20000, headers={"Content-Type": "application/json"}
    )
    assert status == 413 and body["error"] == "payload_too_large"


async def test_account_ids_with_slashes_and_spaces_round_trip(api: Api) -> None:
    for account in ("org/123", "Anna Example", "ü@example.com"):
        quoted = urllib.parse.quote(account, safe="")
        status, state, _ = await api.call("GET", f"/v1/accounts/{quoted}")
        assert status == 200 and state["account"] == account


async def test_a_recovery_code_over_http(api: Api) -> None:
    harness = api.harness
    user = harness.user()
    photo, summary = await at_summary(user, "Phone")
    answer = await user.press(summary, "Complete activation")
    codes = re.findall(r"[0-9a-f]{4}(?:-[0-9a-f]{4}){3}", " ".join(m.shown_text for m in answer))
    assert len(codes) == 10 and photo
    assert await api.verify("tg:1001", codes[0]) == {
        "result": "accepted",
        "method": "recovery_code",
        "recovery_codes_left": 9,
    }
    assert (await api.verify("tg:1001", codes[0]))["result"] == "rejected"


async def test_after_a_deactivation_window_the_login_must_be_refused(api: Api) -> None:
    harness = api.harness
    secret, _ = await enrol(harness.user())
    desk = DeactivationService(
        harness.app.bot_data["services"].db,
        harness.clock,
        support_enabled=True,
        configured_agents=frozenset({9001}),
        default_duration=timedelta(hours=24),
        longest_duration=timedelta(hours=72),
        request_ttl=timedelta(hours=48),
    )
    request = (await desk.file(TelegramIdentity(1001, "ann", "Ann"), 1001, "lost")).request
    assert request is not None
    agent = TelegramIdentity(9001, None, "Agnes")
    decision = await desk.decide(request.id, agent, approve=True, duration=timedelta(hours=4))
    assert decision.revoked
    status, during, _ = await api.call("GET", "/v1/accounts/tg:1001")
    assert during["required"] is False and during["deactivated_until"] is not None
    assert (await api.verify("tg:1001", "123456"))["result"] == "deactivated"
    harness.clock.advance(hours=4, seconds=1)
    for code in (code_for(harness, secret), "123456", "0000-0000-0000-0000"):
        assert await api.verify("tg:1001", code) == {"result": "enrollment_required"}
    harness.clock.advance(days=30)
    assert await api.verify("tg:1001", "123456") == {"result": "enrollment_required"}
    status, state, _ = await api.call("GET", "/v1/accounts/tg:1001")
    assert status == 200 and state["required"] is True and state["enrolled"] is False
    assert state["devices"] == [] and state["deactivated_until"] is None
    status, never, _ = await api.call("GET", "/v1/accounts/nobody@example.com")
    assert never["required"] is False and never["enrolled"] is False
