"""How long to wait before trying a failed delivery again (alerts, notices, deletions)."""

from __future__ import annotations

from datetime import timedelta


def retry_delay(
    attempts: int,
    first: timedelta = timedelta(seconds=5),
    longest: timedelta = timedelta(minutes=10),
) -> timedelta:
    """``first`` after the first failure, doubling with each further one, at most
    ``longest`` (the exponent is bounded, so the arithmetic never overflows)."""
    return min(first * 2 ** min(attempts, 20), longest)
