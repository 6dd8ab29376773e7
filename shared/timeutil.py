"""Epoch seconds everywhere; integer ticks for exact stamps; the minute rule's arithmetic."""

import math
from fractions import Fraction


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
    k = math.floor(t * ratio.denominator / ratio.numerator)  # within a tick; the loops fix it
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
