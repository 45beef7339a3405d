"""Operations through PTB's Application: alerts in the ops chat (durable, folded, readable,
without secrets), the error handler, flood control, metrics."""

from __future__ import annotations

import dataclasses
import logging

import aiohttp
import pytest
from telegram.ext import CommandHandler, MessageHandler, filters

from core.clock import FakeClock
from core.config import Settings
from demo.botapi import SimMessage
from tests.harness import ChatUser, Harness, code_for, enrol, running_bot, scan_qr, wrong
from tests.helpers import decode_qr, parse_key_uri

OPS = -100700
SUPPORT = -100500
AGENT = 9001


@pytest.fixture
def chat_settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        ops_chat_id=OPS,
        support_chat_id=SUPPORT,
        support_agent_ids=frozenset({AGENT}),
    )


@pytest.fixture
async def chat_bot(chat_bot: Harness) -> Harness:
    await chat_bot.run_job("alerts")  # the start alert
    return chat_bot


def ops_messages(chat_bot: Harness) -> list[SimMessage]:
    return chat_bot.state.messages(OPS)


async def lock_account(chat_bot: Harness, user_id: int) -> str:
    """Five wrong codes from the user's chat; returns the code they typed."""
    user = chat_bot.user(user_id, f"User{user_id}")
    secret, _ = await enrol(user)
    bad = wrong(chat_bot, secret)
    for _ in range(5):
        await user.send(f"/check {bad}")
    return bad


async def test_start_is_announced(chat_bot: Harness) -> None:
    assert "Bot started" in ops_messages(chat_bot)[0].shown_text


async def test_lock_alert_is_readable_and_without_codes(chat_bot: Harness) -> None:
    typed = await lock_account(chat_bot, 1001)
    await chat_bot.run_job("alerts")
    alert = ops_messages(chat_bot)[-1].shown_text
    for part in (
        "WARNING",
        "Account locked after failed codes",
        "tg:1001",
        "When:",
        "What to do:",
        "failures: 5",
    ):
        assert part in alert
    assert typed not in alert  # the codes the user typed never reach the ops chat
    assert not any(ch.isdigit() and len(w) == 6 for w in alert.split() for ch in w[:1])


def alerts_about(chat_bot: Harness, title: str) -> list[str]:
    return [m.text for m in ops_messages(chat_bot) if m.text and title in m.text]


async def enrolled_users(chat_bot: Harness, user_ids: range) -> dict[int, tuple[ChatUser, str]]:
    """Users with a device each (setting up moves the clock): {id: (user, secret)}."""
    return {
        uid: (user, (await enrol(user))[0])
        for uid in user_ids
        for user in [chat_bot.user(uid, f"User{uid}")]
    }


async def lock(chat_bot: Harness, user: ChatUser, secret: str) -> None:
    bad = wrong(chat_bot, secret)
    for _ in range(5):
        await user.send(f"/check {bad}")


async def only_a_lock_waits(chat_bot: Harness, user_id: int = 1001) -> None:
    """An enrolled user (the device alert delivered), then locked: one alert waits."""
    (user, secret) = (await enrolled_users(chat_bot, range(user_id, user_id + 1)))[user_id]
    await chat_bot.run_job("alerts")
    await lock(chat_bot, user, secret)


async def test_a_second_alert_of_a_kind_goes_at_once(chat_bot: Harness) -> None:
    users = await enrolled_users(chat_bot, range(1001, 1003))
    await lock(chat_bot, *users[1001])
    await chat_bot.run_job("alerts")
    await lock(chat_bot, *users[1002])
    await chat_bot.run_job("alerts")  # no time has passed: nothing is held back
    locked = alerts_about(chat_bot, "Account locked after failed codes")
    assert len(locked) == 2 and "tg:1001" in locked[0] and "tg:1002" in locked[1]


async def test_a_burst_is_summarised_at_most_once_a_minute(chat_bot: Harness) -> None:
    title = "Account locked after failed codes"
    users = await enrolled_users(chat_bot, range(1001, 1008))
    for uid in range(1001, 1005):  # the first four go one by one
        await lock(chat_bot, *users[uid])
        await chat_bot.run_job("alerts")
    assert len(alerts_about(chat_bot, title)) == 4
    await lock(chat_bot, *users[1005])
    await lock(chat_bot, *users[1006])
    await chat_bot.run_job("alerts")
    chat_bot.clock.advance(seconds=59)
    await chat_bot.run_job("alerts")
    assert len(alerts_about(chat_bot, title)) == 4  # more than 3 in 10 minutes: gathered
    chat_bot.clock.advance(seconds=1)
    await chat_bot.run_job("alerts")
    summary = alerts_about(chat_bot, title)[-1]
    assert "2 × Account locked after failed codes" in summary
    assert "tg:1005" in summary and "tg:1006" in summary and "tg:1004" not in summary
    assert "a burst: more than 3 in 10 minutes" in summary
    await lock(chat_bot, *users[1007])
    await chat_bot.run_job("alerts")
    assert len(alerts_about(chat_bot, title)) == 5
    chat_bot.clock.advance(minutes=1)
    await chat_bot.run_job("alerts")
    assert "tg:1007" in alerts_about(chat_bot, title)[-1]


async def test_critical_alerts_are_never_held(chat_bot: Harness) -> None:
    async def boom(update, context) -> None:
        raise ValueError("boom")

    chat_bot.app.add_handler(CommandHandler("boom", boom), group=-1)
    user = chat_bot.user()
    for _ in range(6):  # a burst, yet each one is in the ops chat at once
        await user.send("/boom")
    assert len(alerts_about(chat_bot, "Error inside the bot")) == 6


async def test_api_errors_are_folded_like_any_other_kind(chat_bot: Harness) -> None:
    alerts = chat_bot.app.bot_data["services"].alerts
    for _ in range(10):  # as api/errors.py raises them, say while the database is away
        await alerts.raise_event(
            "api_error", "critical", error="OperationalError", where="/v1/verify"
        )
    await chat_bot.run_job("alerts")
    shown = alerts_about(chat_bot, "Error inside the HTTP API")
    assert len(shown) == 5  # four one by one, then the rest together
    assert "6 × Error inside the HTTP API" in shown[-1]


async def test_an_alert_refused_as_malformed_goes_as_plain_text(chat_bot: Harness) -> None:
    await only_a_lock_waits(chat_bot)
    chat_bot.state.fail_next(
        "sendMessage",
        status=400,
        description="Bad Request: can't parse entities: unsupported start tag at byte offset 9",
    )
    await chat_bot.run_job("alerts")
    (alert,) = [m for m in ops_messages(chat_bot) if "Account locked" in (m.text or "")]
    assert (
        alert.parse_mode is None
        and "tg:1001" in alert.shown_text
        and "<code>" not in alert.shown_text
    )


@pytest.mark.parametrize(
    ("last_line", "secret"),
    [
        ("ValueError: header Authorization: Bearer s3cr3t-api-token", "s3cr3t-api-token"),
        ("ValueError: uri otpauth://totp/x?secret=JBSWY3DPEHPK3PXP", "JBSWY3DPEHPK3PXP"),
    ],
)
async def test_a_trace_that_ends_in_a_token_is_delivered(
    chat_bot: Harness, last_line: str, secret: str
) -> None:
    alerts = chat_bot.app.bot_data["services"].alerts
    trace = 'Traceback (most recent call last):\n  File "x.py", line 3, in f\n' + last_line
    await alerts.raise_event(
        "bot_error", "critical", error="ValueError", where="a job", trace=trace
    )
    await chat_bot.run_job("alerts")
    (alert,) = alerts_about(chat_bot, "Error inside the bot")
    assert last_line.split(":")[0] in alert and secret not in alert
    assert alerts_about(chat_bot, "Error inside the bot") and await alerts.depth() == 0


async def test_an_unreachable_ops_chat_is_tried_then_set_aside_after_a_day(
    chat_bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    svc = chat_bot.app.bot_data["services"]
    await only_a_lock_waits(chat_bot)
    chat_bot.state.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
    await chat_bot.run_job("alerts")  # tried at once
    assert [p["chat_id"] for m, p in chat_bot.state.calls if m == "sendMessage"][-1] == str(OPS)
    chat_bot.state.fail_next("sendMessage", status=502, count=1000)  # and it stays out of reach
    chat_bot.clock.advance(hours=23, minutes=59)
    await chat_bot.run_job("alerts")
    assert await svc.alerts.depth() == 1  # still retried
    chat_bot.clock.advance(minutes=2)
    with caplog.at_level(logging.ERROR, logger="handlers.alerts"):
        await chat_bot.run_job("alerts")
    assert await svc.alerts.depth() == 0
    (logged,) = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.ERROR and r.name == "handlers.alerts"
    ]
    assert "set aside" in logged and "Account locked after failed codes" in logged
    assert "tg:1001" in logged
    chat_bot.state._faults.clear()  # the chat is back: the set-aside alert is not sent again
    await chat_bot.run_job("alerts")
    assert alerts_about(chat_bot, "Account locked") == []
    (health,) = await chat_bot.group_member(4242, OPS).send("/health")
    assert "Alerts set aside (undeliverable for a day, see the log): 1" in health.shown_text
    metrics = svc.metrics.render().decode()
    assert "twofa_alerts_set_aside_total 1.0" in metrics
    assert "twofa_alert_delivery_failures_total 3.0" in metrics


async def test_health_tells_how_long_alerts_wait(chat_bot: Harness) -> None:
    await only_a_lock_waits(chat_bot)
    chat_bot.state.fail_next("sendMessage", status=502)
    await chat_bot.run_job("alerts")
    chat_bot.clock.advance(minutes=42)
    admin = chat_bot.group_member(4242, OPS)
    chat_bot.state.fail_next("sendMessage", status=502)  # the alert fails once more; /health works
    await chat_bot.run_job("alerts")
    (health,) = await admin.send("/health")
    assert "Alerts waiting: 1 (the oldest raised 42 minutes ago)" in health.shown_text


async def test_failed_delivery_is_retried_later(chat_bot: Harness) -> None:
    await lock_account(chat_bot, 1001)
    chat_bot.state.fail_next("sendMessage", status=502, count=1)
    await chat_bot.run_job("alerts")
    assert not any("Account locked" in m.shown_text for m in ops_messages(chat_bot))
    await chat_bot.run_job("alerts")  # too early: backing off
    assert not any("Account locked" in m.shown_text for m in ops_messages(chat_bot))
    chat_bot.clock.advance(seconds=5)
    await chat_bot.run_job("alerts")
    assert sum("Account locked" in m.shown_text for m in ops_messages(chat_bot)) == 1


async def test_flood_control_is_waited_out(chat_bot: Harness) -> None:
    await lock_account(chat_bot, 1001)
    chat_bot.state.fail_next("sendMessage", status=429, retry_after=1)
    await chat_bot.run_job("alerts")
    assert sum("Account locked" in m.shown_text for m in ops_messages(chat_bot)) == 1


async def test_undelivered_alerts_survive_a_restart(
    chat_settings: Settings, clock: FakeClock
) -> None:
    async with running_bot(chat_settings, clock) as first:
        first.state.group(OPS, "Ops")
        await lock_account(first, 1001)
        first.state.fail_next("sendMessage", status=500, count=1000)  # Telegram is down
        await first.run_job("alerts")
    first.state._faults.clear()  # and recovers while the bot is down
    clock.advance(minutes=1)
    async with running_bot(chat_settings, clock) as second:
        second.state.group(OPS, "Ops")
        await second.run_job("alerts")
        texts = [m.shown_text for m in second.state.messages(OPS)]
        assert sum("Account locked" in t for t in texts) == 1
        assert any("Bot stopped" in t for t in texts)


async def test_without_an_ops_chat_alerts_are_logged(
    settings: Settings, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_bot(settings, clock) as harness:
        await lock_account(harness, 1001)
        with caplog.at_level(logging.WARNING, logger="handlers.alerts"):
            await harness.run_job("alerts")
        assert any("Account locked after failed codes" in r.getMessage() for r in caplog.records)
        depth = await harness.app.bot_data["services"].alerts.depth()
        assert depth == 0


async def test_an_error_is_reported_without_secrets_and_the_user_is_told(chat_bot: Harness) -> None:
    async def boom(update, context) -> None:
        raise ValueError(
            "code 492039, key JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP, "
            "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP, token " + chat_bot.state.token
        )

    chat_bot.app.add_handler(CommandHandler("boom", boom), group=-1)
    user = chat_bot.user()
    (apology,) = await user.send("/boom")
    assert "something went wrong" in apology.shown_text
    alert = ops_messages(chat_bot)[-1].shown_text
    assert "Error inside the bot" in alert and "ValueError" in alert and "command /boom" in alert
    for secret in ("492039", "JBSWY3DPEHPK3PXP", "otpauth://totp/x", chat_bot.state.token):
        assert secret not in alert


async def test_the_end_of_a_long_trace_reaches_the_ops_chat(chat_bot: Harness) -> None:
    async def boom(update, context) -> None:
        try:
            raise KeyError("k" * 2500)  # a trace of several thousand characters
        except KeyError as exc:
            raise ValueError("the exception line at the very end") from exc

    chat_bot.app.add_handler(CommandHandler("boom", boom), group=-1)
    await chat_bot.user().send("/boom")
    (alert,) = alerts_about(chat_bot, "Error inside the bot")
    assert "ValueError: the exception line at the very end" in alert
    assert len(alert) < 4096


async def test_a_code_typed_as_a_command_does_not_reach_the_ops_chat(chat_bot: Harness) -> None:
    async def boom(update, context) -> None:
        raise RuntimeError("failed")

    chat_bot.app.add_handler(MessageHandler(filters.Regex(r"^/\d"), boom), group=-1)
    await chat_bot.user().send("/123456")
    (alert,) = alerts_about(chat_bot, "Error inside the bot")
    assert "RuntimeError" in alert and "command /" in alert
    assert "123456" not in alert


@pytest.mark.parametrize("account", ["123456", "0123456789abcdef"])
async def test_an_account_id_is_shown_as_it_is(chat_bot: Harness, account: str) -> None:
    """A six-digit customer number or a 16-hex id is the account, not a code."""
    link = await chat_bot.app.bot_data["services"].links.mint(account)
    user = chat_bot.user(1001)
    (photo,) = [m for m in await user.send(f"/start {link.token}") if m.photo is not None]
    secret = parse_key_uri(decode_qr(photo.shown_photo))["secret"]
    assert parse_key_uri(decode_qr(photo.shown_photo))["account"] == account
    await user.send(code_for(chat_bot, secret))
    (summary,) = await user.send("Phone")
    await user.press(summary, "Complete activation")
    chat_bot.clock.advance(seconds=90)  # past the confirmation code's window
    await chat_bot.run_job("alerts")
    await lock(chat_bot, user, secret)
    await chat_bot.run_job("alerts")
    (alert,) = alerts_about(chat_bot, "Account locked after failed codes")
    assert f"Account: {account}\n" in alert
    assert "[code]" not in alert and "[recovery-code]" not in alert


async def test_a_blocked_user_is_not_an_error(chat_bot: Harness) -> None:
    user = chat_bot.user()
    count = len(ops_messages(chat_bot))
    chat_bot.state.fail_next(
        "sendMessage", status=403, description="Forbidden: bot was blocked by the user"
    )
    assert await user.send("/help") == []
    await chat_bot.run_job("alerts")
    assert len(ops_messages(chat_bot)) == count


async def test_a_request_waiting_too_long_raises_an_alert(chat_bot: Harness) -> None:
    from tests.harness import file_request

    await file_request(chat_bot, chat_bot.user())
    await chat_bot.run_job("alerts")
    chat_bot.clock.advance(minutes=31)
    await chat_bot.run_job("support-sync")
    await chat_bot.run_job("alerts")
    assert "waiting for a decision" in ops_messages(chat_bot)[-1].shown_text
    count = len(ops_messages(chat_bot))
    chat_bot.clock.advance(minutes=31)
    await chat_bot.run_job("support-sync")
    await chat_bot.run_job("alerts")
    assert len(ops_messages(chat_bot)) == count  # once per request


async def test_a_burst_of_failed_codes_from_one_user(chat_bot: Harness) -> None:
    user = chat_bot.user()
    for _ in range(2):  # two enrolments, five wrong codes each
        _, secret = await scan_qr(user)
        bad = wrong(chat_bot, secret)
        for _ in range(5):
            await user.send(bad)
    await chat_bot.run_job("alerts")
    alert = ops_messages(chat_bot)[-1].shown_text
    assert "Burst of failed codes from one Telegram user" in alert and "1001" in alert


async def test_metrics(chat_settings: Settings, clock: FakeClock, unused_tcp_port: int) -> None:
    with_api = dataclasses.replace(
        chat_settings, api_token="metrics-token-0123456789", api_port=unused_tcp_port
    )
    async with running_bot(with_api, clock) as harness:
        harness.state.group(OPS, "Ops")
        await lock_account(harness, 1001)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{unused_tcp_port}/metrics") as r:
                assert r.status == 401
            async with http.get(
                f"http://127.0.0.1:{unused_tcp_port}/metrics",
                headers={"Authorization": "Bearer metrics-token-0123456789"},
            ) as r:
                assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
                body = await r.text()
    for line in (
        'twofa_verifications_total{channel="chat",client="",result="rejected"} 4.0',
        'twofa_verifications_total{channel="chat",client="",result="locked"} 1.0',
        "twofa_enrolments_started_total 1.0",
        "twofa_enrolments_completed_total 1.0",
        "twofa_open_deactivation_requests 0.0",
        "twofa_alert_outbox_depth 2.0",
        "twofa_alert_delivery_failures_total 0.0",
        "twofa_alerts_set_aside_total 0.0",
    ):
        assert line in body
    assert "twofa_update_handling_seconds_count" in body


async def test_backoff_stays_bounded_after_many_failures(chat_bot: Harness) -> None:
    await lock_account(chat_bot, 1001)
    alerts = chat_bot.app.bot_data["services"].alerts
    (message,) = [m for m in await alerts.pending() if m.kind == "account_locked"]
    db = chat_bot.app.bot_data["services"].db
    await db.run(lambda tx: tx.connection.execute("UPDATE alert_events SET attempts = 60"))
    (message,) = [m for m in await alerts.pending() if m.kind == "account_locked"]
    await alerts.failed(message)  # no OverflowError; retried within 10 minutes
    chat_bot.clock.advance(minutes=10)
    assert [m.kind for m in await alerts.pending()] == ["account_locked"]


async def test_health_in_the_ops_chat(chat_bot: Harness) -> None:
    (health,) = await chat_bot.group_member(4242, OPS).send("/health")
    assert "Database: ok" in health.shown_text and "Alerts waiting: 0" in health.shown_text
    (refused,) = await chat_bot.user(4243).send("/health")
    assert "ops chat" in refused.shown_text
