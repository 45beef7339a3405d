"""What the process's logging does with records of its own making."""

from __future__ import annotations

import asyncio
import logging
import sys

from bot.logs import CancelledJobFilter


def test_a_job_cancelled_while_the_bot_stops_is_one_info_line_without_a_traceback() -> None:
    try:
        raise asyncio.CancelledError
    except asyncio.CancelledError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "apscheduler.executors.default",
        logging.ERROR,
        __file__,
        1,
        'Job "%s" raised an exception',
        ("audit-chain",),
        exc_info,
    )
    assert CancelledJobFilter().filter(record)
    assert record.levelno == logging.INFO and record.exc_info is None
    assert record.getMessage() == (
        'Job "audit-chain" raised an exception (cancelled while the bot stopped)'
    )


def test_any_other_job_failure_keeps_its_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "apscheduler.executors.default", logging.ERROR, __file__, 1, "failed", (), exc_info
    )
    assert CancelledJobFilter().filter(record)
    assert record.levelno == logging.ERROR and record.exc_info is not None
