"""The window a request asks for: `minutes` and `end`, parsed once and strictly.

The same rules serve every data route and cpuload-export: the window is (t0, t1] with
t1 = end (now when absent or later than now) and t0 = t1 - 60 x minutes.
"""

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import NamedTuple

MAX_MINUTES = 525_600  # a year
DEFAULT_MINUTES = 60
BAD_MINUTES = (
    f"minutes must be a whole number from 1 to {MAX_MINUTES} in ASCII digits, e.g. minutes=60"
)
BAD_END = (
    "end must be Unix epoch seconds (e.g. end=1795857000) or local time YYYY-MM-DDTHH:MM[:SS]"
    " with an optional Z or +HH:MM (e.g. end=2026-11-30T14:00)"
)
_EPOCH = re.compile(r"[0-9]+(\.[0-9]{1,6})?", re.ASCII)
# A '+' in a query string arrives as a space: " 03:00" is read as "+03:00".
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?(Z|[+\- ]\d{2}:\d{2})?", re.ASCII
)


class BadParameter(ValueError):
    """A parameter that is not a window; the message is the one line a user sees."""


class Span(NamedTuple):
    """The window (t0, t1]; `live` when it ends now and follows new samples."""

    minutes: int
    t0: float
    t1: float
    live: bool

    def query(self) -> str:
        """The normalised query string of this window, for links and cache keys."""
        end = "" if self.live else f"&end={end_text(self.t1)}"
        return f"minutes={self.minutes}{end}"


def parse(minutes: Sequence[str], end: Sequence[str], now: float) -> Span:
    """The window from the values of `minutes` and `end` as given (each at most once)."""
    n = parse_minutes(minutes)
    t1 = parse_end(end, now)
    live = t1 >= now
    t1 = now if live else t1
    return Span(n, t1 - 60 * n, t1, live)


def parse_minutes(values: Sequence[str]) -> int:
    raw = _once(values, "minutes", str(DEFAULT_MINUTES))
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10):
        raise BadParameter(BAD_MINUTES)
    n = int(raw)
    if not 1 <= n <= MAX_MINUTES:
        raise BadParameter(BAD_MINUTES)
    return n


def parse_end(values: Sequence[str], now: float) -> float:
    """Epoch seconds of `end`; absent means now. Later than now also means now (the caller
    compares). A local time that a daylight-saving change skips is refused; one that occurs
    twice means its first occurrence."""
    raw = _once(values, "end", "")
    if not raw:
        if values:
            raise BadParameter(BAD_END)
        return now
    if _EPOCH.fullmatch(raw):
        return float(raw)
    found = _ISO.fullmatch(raw)
    if not found:
        raise BadParameter(BAD_END)
    return _iso_seconds(raw, found)


def _once(values: Sequence[str], name: str, default: str) -> str:
    if len(values) > 1:
        raise BadParameter(f"give {name} once, e.g. {name}={default or '1795857000'}")
    return values[0] if values else default


def _iso_seconds(raw: str, found: re.Match[str]) -> float:
    year, month, day, hour, minute = (int(found[i]) for i in range(1, 6))
    second = int(found[6] or 0)
    try:
        wall = datetime(year, month, day, hour, minute, second)
    except ValueError:
        raise BadParameter(f"end {raw!r} is not a date and time that exists; {BAD_END}") from None
    offset = found[7]
    if offset == "Z":
        return wall.replace(tzinfo=UTC).timestamp()
    if offset:
        sign = -1 if offset[0] == "-" else 1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:
            raise BadParameter(f"end {raw!r} has an offset that is not +HH:MM; {BAD_END}")
        zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
        return wall.replace(tzinfo=zone).timestamp()
    return _local_seconds(raw, wall)


def _local_seconds(raw: str, wall: datetime) -> float:
    """A naive wall time in the viewer's zone: fold=0 is the first of two occurrences, and a
    time that does not map back to itself was skipped by a daylight-saving change."""
    try:
        ts = wall.replace(fold=0).timestamp()
    except (OverflowError, OSError, ValueError):
        if wall > datetime.now():  # past what this platform can convert: later than now
            return math.inf
        raise BadParameter(f"end {raw!r} is out of range; {BAD_END}") from None
    if datetime.fromtimestamp(ts).replace(fold=0) != wall:
        raise BadParameter(
            f"end {raw!r} does not exist in this time zone (a daylight-saving change skips it);"
            " give an offset, e.g. +01:00, or another time"
        )
    return ts


def end_text(ts: float) -> str:
    """`end` for a link: local time with its offset, so it reads well and means one moment."""
    local = datetime.fromtimestamp(ts).astimezone()
    text = local.strftime("%Y-%m-%dT%H:%M:%S" if local.second else "%Y-%m-%dT%H:%M")
    if local.microsecond:
        return f"{ts:.6f}".rstrip("0").rstrip(".")
    offset = local.strftime("%z")
    return (
        f"{text}%2B{offset[1:3]}:{offset[3:]}"
        if offset[0] == "+"
        else (f"{text}-{offset[1:3]}:{offset[3:]}")
    )
