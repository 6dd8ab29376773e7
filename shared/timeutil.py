"""Epoch seconds everywhere; integer ticks for exact stamps; aware datetimes only for labels."""

import math
import os
import time
import zoneinfo
from datetime import datetime
from fractions import Fraction
from pathlib import Path


def interval_ratio(interval: float) -> Fraction:
    """The interval as an exact fraction of the decimal the user typed (0.1 -> 1/10)."""
    return Fraction(repr(float(interval)))


def stamp(tick: int, ratio: Fraction) -> float:
    """Epoch seconds of a tick: one correctly rounded division, so one tick gives one float.

    `tick * 0.1` differs from `tick / 10` for ~40 % of ticks; integer arithmetic does not.
    """
    return tick * ratio.numerator / ratio.denominator


def tick_at_or_before(t: float, ratio: Fraction) -> int:
    """The number of the last tick whose stamp, as stored, is at or before `t`.

    Compared with the float stamp, not the exact product: stamp(k) can round just below
    k x interval, and the exact quotient would then answer k - 1 for stamp(k) itself.
    """
    k = math.floor(Fraction(t) / ratio)
    while stamp(k + 1, ratio) <= t:
        k += 1
    while stamp(k, ratio) > t:
        k -= 1
    return k


def cell_of(ts: float, width: float) -> int:
    """The cell c that holds `ts`: c x width < ts <= (c + 1) x width, as a sample's window ends
    at its stamp. The arithmetic is the SQL's (CAST truncates, which is floor for positive
    stamps; f x width >= ts catches both an exact multiple and a quotient rounded up), so the
    views, the viewer's queries and this function agree on every boundary."""
    f = int(ts / width)
    return f - 1 if f * width >= ts else f


def minute_of(ts: float) -> int:
    """The minute M a sample belongs to: M < ts <= M + 60 (its window ends at ts)."""
    return cell_of(ts, 60) * 60


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
