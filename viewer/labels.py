"""Local time for people: the server's zone, named; axis ticks that carry the date where a
window crosses midnight; the zone's offsets for the page's script. Stamps stay UTC epoch
seconds everywhere else."""

import bisect
import math
import os
import time
import zoneinfo
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

# Tick steps in seconds up to two days; longer windows tick at local midnights or months.
_STEPS = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
_DAYS = (1, 2, 3, 7, 14)
MAX_TICKS = 8


class Tick(NamedTuple):
    ts: float
    text: str  # the label's first line
    date: str  # its second line: the date, where this tick is the first of its day; or ""


def local_datetime(ts: float) -> datetime:
    """An aware datetime in the server's local zone, converted on its own (DST-safe)."""
    return datetime.fromtimestamp(ts).astimezone()


def zone_label(ts: float) -> str:
    """The server's zone as the page names it, e.g. 'Europe/Moscow, UTC+03:00'."""
    offset = local_datetime(ts).strftime("%z") or "+0000"
    utc = f"UTC{offset[:3]}:{offset[3:]}"
    return f"{zone_name() or time.strftime('%Z', time.localtime(ts))}, {utc}"


def zone_name() -> str | None:
    """The IANA name of the local zone, from TZ or /etc/localtime, if it has one.

    A TZ that names no zone file (a POSIX rule such as "EST5EDT" has one; "Nowhere/Zone" does
    not, and the C library then uses UTC) gives None, and the page shows the abbreviation.
    """
    tz = os.environ.get("TZ")
    if tz is not None:
        return _tz_name(tz.lstrip(":"))
    try:
        target = os.readlink("/etc/localtime")
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        return target.split("zoneinfo/", 1)[1]
    try:
        name = Path("/etc/timezone").read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return name or None


def _tz_name(tz: str) -> str | None:
    if tz.startswith("/"):
        return tz.split("zoneinfo/", 1)[1] if "zoneinfo/" in tz and Path(tz).is_file() else None
    if not tz or ".." in tz:
        return None
    known = any((Path(root) / tz).is_file() for root in zoneinfo.TZPATH)
    return tz if known else None


def when(ts: float) -> str:
    """A full local time, as the page's lists and tables show it."""
    return local_datetime(ts).strftime("%Y-%m-%d %H:%M:%S")


def crosses_midnight(t0: float, t1: float) -> bool:
    return local_datetime(t0).date() != local_datetime(t1).date()


def ticks(t0: float, t1: float, edge: float = 0.0) -> list[Tick]:
    """At most eight labels on whole local steps across (t0, t1], none within `edge` of the
    start (nor half that of the end: a label is centred on its tick); a tick that starts a new
    day (or the first, where the window crosses midnight) carries the date on a second line."""
    span = t1 - t0
    step = next((s for s in _STEPS if span / s <= MAX_TICKS), None)
    if step is None:
        return [t for t in _day_ticks(t0, t1) if _clear(t.ts, t0, t1, edge)]
    first = _next_local_multiple(t0, step)
    stamps = [first + i * step for i in range(int((t1 - first) // step) + 1)]
    stamps = [ts for ts in stamps if _clear(ts, t0, t1, edge)]
    dated = crosses_midnight(t0, t1)
    out, previous = [], None
    for ts in stamps:
        local = local_datetime(ts)
        text = local.strftime("%H:%M:%S" if step < 60 else "%H:%M")
        new_day = dated and (previous is None or local.date() != previous)
        out.append(Tick(ts, text, local.strftime("%b %-d") if new_day else ""))
        previous = local.date()
    return out


def _clear(ts: float, t0: float, t1: float, edge: float) -> bool:
    return edge <= (ts - t0) / (t1 - t0) <= 1 - edge / 2


def _next_local_multiple(t0: float, step: int) -> float:
    """The first stamp after t0 on a whole local multiple of `step` (…:00, :15, :30)."""
    offset = _offset(t0)
    return math.floor((t0 + offset) / step + 1) * step - offset


def _day_ticks(t0: float, t1: float) -> list[Tick]:
    """Local midnights every 1, 2, 3, 7 or 14 days, or month starts for longer windows."""
    days = (t1 - t0) / 86400
    every = next((d for d in _DAYS if days / d <= MAX_TICKS), None)
    if every is None:
        return _month_ticks(t0, t1)
    day = local_datetime(t0).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    out = []
    while True:
        day += timedelta(days=1)
        ts = day.timestamp()
        if ts > t1:
            break
        if day.toordinal() % every == 0:
            out.append(Tick(ts, day.strftime("%b %-d"), ""))
    return out


def _month_ticks(t0: float, t1: float) -> list[Tick]:
    local = local_datetime(t0)
    year, month = local.year, local.month
    starts = []
    while True:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        ts = datetime(year, month, 1).timestamp()
        if ts > t1:
            break
        starts.append(ts)
    every = max(1, math.ceil(len(starts) / MAX_TICKS))
    chosen = starts[::every]
    return [Tick(ts, local_datetime(ts).strftime("%b %Y"), "") for ts in chosen]


def _offset(ts: float) -> float:
    delta = local_datetime(ts).utcoffset()
    return delta.total_seconds() if delta else 0.0


def offsets(t0: float, t1: float) -> list[tuple[float, int]]:
    """[(from, UTC offset in seconds), ...] covering (t0, t1]: what the page's script needs to
    show local times in the server's zone, daylight-saving changes included."""
    found = [(t0, int(_offset(t0)))]
    step = 6 * 3600  # changes are months apart; each is then found to the second
    edges = [t0 + i * step for i in range(1, int((t1 - t0) // step) + 1)] + [t1]
    for ts in edges:
        now = int(_offset(ts))
        if now != found[-1][1]:
            seconds = range(int(ts - step), int(ts) + 1)
            i = bisect.bisect_left(seconds, True, key=lambda s: int(_offset(s)) == now)
            found.append((float(seconds[i]), now))
    return found
