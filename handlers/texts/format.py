"""How times, durations and device lists are written, for every audience: in the
current language (``handlers.texts``) and the configured time zone (``TIMEZONE``)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from babel.dates import format_datetime, format_timedelta

from core.clock import Clock, SystemClock
from core.records import Device
from handlers.texts import N_, NP_, current, tr, trn

DEVICE_LINE = N_("• <b>{name}</b>, added {added}")
DEVICE_LINE_USED = N_("• <b>{name}</b>, added {added}, last used {used}")
NEVER_USED = N_("never")
MORE_DEVICES = N_("• … and {count} more")
NO_DEVICES = N_("• none")
HOURS_SHORT = NP_("{count} h", "{count} h")
DAYS_SHORT = NP_("{count} d", "{count} d")

# "2 December 2026, 14:30 UTC" / "2. Dezember 2026, 14:30 MEZ"; the zone is added by
# ``zone_name``.
_WHEN = {"en": "d MMMM y, HH:mm", "de": "d. MMMM y, HH:mm"}
# What Babel writes for a zone its locale has no short name for: "+0100", "GMT+01:00".
_OFFSET = re.compile(r"^(GMT|UTC)?[+-]\d")
_zone = ZoneInfo("UTC")
_clock: Clock = SystemClock()


def set_timezone(name: str) -> None:
    """Every time shown in a chat is in this zone (``TIMEZONE``, checked at start)."""
    global _zone
    _zone = ZoneInfo(name)


def set_clock(clock: Clock) -> None:
    """The clock "in 15 minutes" counts from (the application's, so tests can move it)."""
    global _clock
    _clock = clock


def when(moment: datetime) -> str:
    """A moment, to the minute, as people read it where they live."""
    language = current()
    shown = format_datetime(moment, _WHEN.get(language, _WHEN["en"]), tzinfo=_zone, locale=language)
    return f"{shown} {zone_name(moment, language)}"


def zone_name(moment: datetime, language: str) -> str:
    """The zone as the reader names it at that moment: the language's own short name
    (German "MEZ"/"MESZ", English "EST"), else the zone's own abbreviation (English has
    none of its own for Berlin: "CET"/"CEST", not "+0100"), else the offset ("+0300")."""
    babel_name = format_datetime(moment, "zzz", tzinfo=_zone, locale=language)
    if not _OFFSET.match(babel_name):
        return babel_name
    abbreviation = moment.astimezone(_zone).tzname() or ""
    return abbreviation if abbreviation.isalpha() else babel_name


def in_words(delta: timedelta) -> str:
    """A duration ahead, in words: "in 15 minutes" / "in 15 Minuten"."""
    return format_timedelta(delta, add_direction=True, threshold=1.5, locale=current())


def until(moment: datetime) -> str:
    """A moment ahead, and how far: "1 March 2026, 09:16 UTC (in 15 minutes)"."""
    return f"{when(moment)} ({in_words(moment - _clock.now())})"


def device_lines(
    devices: list[Device], *, last_used: bool = False, limit: int | None = None
) -> str:
    """The one way a list of devices is written: for the user (/status, /devices, with
    ``last_used``) and for an agent (at most ``limit``, the rest counted)."""
    if not devices:
        return tr(NO_DEVICES)
    shown = devices if limit is None else devices[:limit]
    lines = [
        tr(DEVICE_LINE_USED if last_used else DEVICE_LINE).format(
            name=escape(d.name),
            added=when(d.created_at),
            used=when(d.last_used_at) if d.last_used_at else tr(NEVER_USED),
        )
        for d in shown
    ]
    if len(devices) > len(shown):
        lines.append(tr(MORE_DEVICES).format(count=len(devices) - len(shown)))
    return "\n".join(lines)


def duration_label(delta: timedelta) -> str:
    """A short duration for a button: "4 h", "3 d" / "4 h", "3 T."."""
    hours = int(delta.total_seconds() // 3600)
    if hours % 24 == 0 and hours >= 48:
        return trn(DAYS_SHORT, hours // 24).format(count=hours // 24)
    return trn(HOURS_SHORT, hours).format(count=hours)


def age(delta: timedelta) -> str:
    """How long something has waited: "45 minutes", "3 hours" / "45 Minuten", "3 Stunden"."""
    return format_timedelta(delta, threshold=2, locale=current())
