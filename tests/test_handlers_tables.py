"""The flow tables and the button tables, as the running bot registers them: every flow
has one table, every button action one function, and no press skips the place check."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from telegram.ext import CallbackQueryHandler

import handlers
from core.clock import FakeClock
from core.config import Settings
from core.conversation import Flow
from handlers.callback_data import Action, CallbackData
from handlers.conversation import Flows
from tests.harness import Harness, running_bot


@pytest.fixture
async def bot(settings: Settings, clock: FakeClock) -> AsyncIterator[Harness]:
    async with running_bot(settings, clock) as harness:
        yield harness


def test_every_flow_has_exactly_one_table() -> None:
    assert sorted(spec.flow for spec in handlers.FLOWS) == sorted(Flow)
    with pytest.raises(ValueError, match="two tables"):
        Flows([*handlers.FLOWS, handlers.check.FLOW])
    with pytest.raises(ValueError, match="without a table"):
        Flows([spec for spec in handlers.FLOWS if spec.flow is not Flow.CHECK])


async def test_every_button_action_reaches_exactly_one_function(bot: Harness) -> None:
    patterns = [
        h.pattern
        for group in bot.app.handlers.values()
        for h in group
        if isinstance(h, CallbackQueryHandler) and h.pattern is not None
    ]
    for action in Action:
        data = CallbackData(action, "1").pack()
        matching = [p for p in patterns if isinstance(p, re.Pattern) and p.match(data)]
        assert len(matching) == 1, action


async def test_a_forged_press_is_answered_and_does_nothing(bot: Harness) -> None:
    """Data for a button the message does not show: the table's function is not called."""
    user = bot.user()
    (menu,) = await user.send("/start")
    sent = await user.press_data(menu, CallbackData(Action.COMPLETE, "x").pack())
    assert sent == []
    assert user.last_answer["text"] == "This button is no longer valid."
