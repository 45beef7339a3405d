"""Operations through PTB's Application: alerts in the ops chat (durable, folded, readable,
without secrets), the error handler, flood control, metrics."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from telegram.ext import CommandHandler

from bot.clock import FakeClock
from bot.config import Settings
from tests.botapi import SimMessage
from tests.harness import Harness, running_bot
from tests.test_handlers_check import enrolled, wrong
from tests.test_handlers_enrolment import scan_qr

OPS = -100700
SUPPORT = -100500
AGENT = 9001


@pytest.fixture
def ops_settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings,
        ops_chat_id=OPS,
        support_chat_id=SUPPORT,
        support_agent_ids=frozenset({AGENT}),
    )


@pytest.fixture
async def bot(ops_settings: Settings, clock: FakeClock) -> AsyncIterator[Harness]:
    async with running_bot(ops_settings, clock) as harness:
        harness.state.group(OPS, "Ops")
        harness.state.group(SUPPORT, "Support")
        await harness.run_job("alerts")  # the start alert
        yield harness


def ops_messages(bot: Harness) -> list[SimMessage]:
    return bot.state.messages(OPS)


async def lock_account(bot: Harness, user_id: int) -> str:
    """Five wrong codes from the user's chat; returns the code they typed."""
    user = bot.user(user_id, f"User{user_id}")
    secret = await enrolled(bot, user)
    bad = wrong(bot, secret)
    for _ in range(5):
        await user.send(f"/check {bad}")
    return bad


async def test_start_is_announced(bot: Harness) -> None:
    assert "Bot started" in ops_messages(bot)[0].text


async def test_lock_alert_is_readable_and_without_codes(bot: Harness) -> None:
    typed = await lock_account(bot, 1001)
    await bot.run_job("alerts")
    alert = ops_messages(bot)[-1].text
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


async def test_a_burst_is_folded_into_one_message(bot: Harness) -> None:
    await lock_account(bot, 1001)
    await bot.run_job("alerts")
    count = len(ops_messages(bot))
    for user_id in (1002, 1003, 1004, 1005):
        await lock_account(bot, user_id)
    await bot.run_job("alerts")
    assert len(ops_messages(bot)) == count  # held: same alert within the window
    bot.clock.advance(minutes=10)
    await bot.run_job("alerts")
    folded = ops_messages(bot)[-1].text
    assert "4 × Account locked after failed codes in the last 10 minutes" in folded
    assert all(f"tg:{uid}" in folded for uid in (1002, 1003, 1004, 1005))
    assert len(ops_messages(bot)) == count + 1


async def test_failed_delivery_is_retried_later(bot: Harness) -> None:
    await lock_account(bot, 1001)
    bot.state.fail_next("sendMessage", status=502, count=1)
    await bot.run_job("alerts")
    assert not any("Account locked" in m.text for m in ops_messages(bot))
    await bot.run_job("alerts")  # too early: backing off
    assert not any("Account locked" in m.text for m in ops_messages(bot))
    bot.clock.advance(seconds=5)
    await bot.run_job("alerts")
    assert sum("Account locked" in m.text for m in ops_messages(bot)) == 1


async def test_flood_control_is_waited_out(bot: Harness) -> None:
    await lock_account(bot, 1001)
    bot.state.fail_next("sendMessage", status=429, retry_after=1)
    await bot.run_job("alerts")
    assert sum("Account locked" in m.text for m in ops_messages(bot)) == 1


async def test_undelivered_alerts_survive_a_restart(
    ops_settings: Settings, clock: FakeClock
) -> None:
    async with running_bot(ops_settings, clock) as first:
        first.state.group(OPS, "Ops")
        await lock_account(first, 1001)
        first.state.fail_next("sendMessage", status=500, count=1000)  # Telegram is down
        await first.run_job("alerts")
    first.state._faults.clear()  # and recovers while the bot is down
    clock.advance(minutes=1)
    async with running_bot(ops_settings, clock) as second:
        second.state.group(OPS, "Ops")
        await second.run_job("alerts")
        texts = [m.text for m in second.state.messages(OPS)]
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


async def test_an_error_is_reported_without_secrets_and_the_user_is_told(bot: Harness) -> None:
    async def boom(update, context) -> None:
        raise ValueError(
            "code 492039, key JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP, "
            "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP, token " + bot.state.token
        )

    bot.app.add_handler(CommandHandler("boom", boom), group=-1)
    user = bot.user()
    (apology,) = await user.send("/boom")
    assert "something went wrong" in apology.text
    alert = ops_messages(bot)[-1].text
    assert "Error inside the bot" in alert and "ValueError" in alert and "command /boom" in alert
    for secret in ("492039", "JBSWY3DPEHPK3PXP", "otpauth://totp/x", bot.state.token):
        assert secret not in alert


async def test_a_blocked_user_is_not_an_error(bot: Harness) -> None:
    user = bot.user()
    count = len(ops_messages(bot))
    bot.state.fail_next(
        "sendMessage", status=403, description="Forbidden: bot was blocked by the user"
    )
    assert await user.send("/help") == []
    await bot.run_job("alerts")
    assert len(ops_messages(bot)) == count


async def test_a_request_waiting_too_long_raises_an_alert(bot: Harness) -> None:
    from tests.test_handlers_lost import file_request

    await file_request(bot, bot.user())
    await bot.run_job("alerts")
    bot.clock.advance(minutes=31)
    await bot.run_job("support-sync")
    await bot.run_job("alerts")
    assert "waiting for a decision" in ops_messages(bot)[-1].text
    count = len(ops_messages(bot))
    bot.clock.advance(minutes=31)
    await bot.run_job("support-sync")
    await bot.run_job("alerts")
    assert len(ops_messages(bot)) == count  # once per request


async def test_a_burst_of_failed_codes_from_one_user(bot: Harness) -> None:
    user = bot.user()
    for _ in range(2):  # two enrolments, five wrong codes each
        _, secret = await scan_qr(user)
        bad = wrong(bot, secret)
        for _ in range(5):
            await user.send(bad)
    await bot.run_job("alerts")
    alert = ops_messages(bot)[-1].text
    assert "Burst of failed codes from one Telegram user" in alert and "1001" in alert


async def test_metrics(ops_settings: Settings, clock: FakeClock, unused_tcp_port: int) -> None:
    with_api = dataclasses.replace(
        ops_settings, api_token="metrics-token-0123456789", api_port=unused_tcp_port
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
        'twofa_verifications_total{channel="chat",result="rejected"} 4.0',
        'twofa_verifications_total{channel="chat",result="locked"} 1.0',
        "twofa_enrolments_started_total 1.0",
        "twofa_enrolments_completed_total 1.0",
        "twofa_open_deactivation_requests 0.0",
        "twofa_alert_outbox_depth 2.0",
    ):
        assert line in body
    assert "twofa_update_handling_seconds_count" in body


async def test_backoff_stays_bounded_after_many_failures(bot: Harness) -> None:
    await lock_account(bot, 1001)
    alerts = bot.app.bot_data["services"].alerts
    (message,) = [m for m in await alerts.pending() if m.kind == "account_locked"]
    db = bot.app.bot_data["services"].db
    await db.run(lambda tx: tx.connection.execute("UPDATE alert_events SET attempts = 60"))
    (message,) = [m for m in await alerts.pending() if m.kind == "account_locked"]
    await alerts.failed(message)  # no OverflowError; retried within 10 minutes
    bot.clock.advance(minutes=10)
    assert [m.kind for m in await alerts.pending()] == ["account_locked"]


async def test_health_in_the_ops_chat(bot: Harness) -> None:
    (health,) = await bot.group_member(4242, OPS).send("/health")
    assert "Database: ok" in health.text and "Alerts waiting: 0" in health.text
    (refused,) = await bot.user(4243).send("/health")
    assert "ops chat" in refused.text
