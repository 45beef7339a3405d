"""How times, durations and device lists are written, for every audience."""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape

from storage.records import Device

DEVICE_LINE = "• <b>{name}</b>, added {added}"
DEVICE_LINE_USED = "• <b>{name}</b>, added {added}, last used {used}"
NEVER_USED = "never"
MORE_DEVICES = "• … and {count} more"
NO_DEVICES = "• none"


def when(moment: datetime) -> str:
    """Dates and times as users read them here: UTC, to the minute."""
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def device_lines(
    devices: list[Device], *, last_used: bool = False, limit: int | None = None
) -> str:
    """The one way a list of devices is written: for the user (/status, /devices, with
    ``last_used``) and for an agent (at most ``limit``, the rest counted)."""
    if not devices:
        return NO_DEVICES
    shown = devices if limit is None else devices[:limit]
    lines = [
        (DEVICE_LINE_USED if last_used else DEVICE_LINE).format(
            name=escape(d.name),
            added=when(d.created_at),
            used=when(d.last_used_at) if d.last_used_at else NEVER_USED,
        )
        for d in shown
    ]
    if len(devices) > len(shown):
        lines.append(MORE_DEVICES.format(count=len(devices) - len(shown)))
    return "\n".join(lines)


def duration_label(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24} d" if hours % 24 == 0 and hours >= 48 else f"{hours} h"


def age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes // 1440} d"
