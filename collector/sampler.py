"""Reads the kernel's CPU counters and turns two readings into percent of all CPUs busy."""

from collections.abc import Callable
from typing import Any, NamedTuple

import psutil


class Counters(NamedTuple):
    """Cumulative CPU seconds summed over all CPUs: busy and total."""

    busy: float
    total: float


def counters(times: Any) -> Counters:
    """Busy and total seconds from a cpu_times() tuple, by psutil's own definition.

    Guest time is already counted inside user (and guest_nice inside nice), so it is not added
    again; idle and iowait are the only time that is not busy.
    """
    fields: dict[str, float] = times._asdict()
    total = sum(fields.values()) - fields.get("guest", 0.0) - fields.get("guest_nice", 0.0)
    return Counters(total - fields.get("idle", 0.0) - fields.get("iowait", 0.0), total)


def busy_percent(before: Counters, after: Counters) -> float:
    """100 x busy / total between two readings, clamped to 0..100.

    Linux's iowait counter can step backwards, so a delta may be slightly off; clamping keeps a
    sample a valid percentage rather than -0.3 or 100.2.
    """
    total = after.total - before.total
    if total <= 0:
        return 0.0
    return min(100.0, max(0.0, 100.0 * (after.busy - before.busy) / total))


class Sampler:
    """Keeps the previous reading; prime() starts a window, __call__() ends it and starts the next.

    Not psutil.cpu_percent(): it keeps its baseline per thread and its first call returns a
    meaningless 0.0; explicit cpu_times() deltas (~20 us a call) make the window ours.
    """

    def __init__(self, read: Callable[[], Any] = psutil.cpu_times) -> None:
        self._read = read
        self._last: Counters | None = None

    def prime(self) -> None:
        """Take a reading that only starts the next window; it is never stored."""
        self._last = counters(self._read())

    def __call__(self) -> float:
        """Busy percent since the previous reading; that reading must exist (prime first)."""
        now = counters(self._read())
        if self._last is None:
            raise RuntimeError("the sampler was not primed")
        before, self._last = self._last, now
        return busy_percent(before, now)
