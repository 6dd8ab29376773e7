"""Reads the kernel's CPU counters; two readings give percent of all CPUs busy and its modes."""

import os
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import psutil

from shared.schema import BUSY_MODES, MODES


class Reading(NamedTuple):
    """One sample's value: `cpu` in percent, and `modes` in hundredths of a percent of all CPU
    time, in shared.schema.MODES order (user, nice, system, irq, softirq, steal, iowait), or
    None when they cannot add up to `cpu` (see split())."""

    cpu: float
    modes: tuple[int, ...] | None


def split(before: Any, after: Any) -> Reading:
    """The window between two cpu_times() readings, by psutil's definition of busy.

    Guest time is already inside user (and guest_nice inside nice), as the kernel counts it,
    so it is not added again; busy is everything but idle and iowait, which makes it exactly
    the six busy modes. Linux's iowait counter can step backwards, so `cpu` is clamped to
    0..100; where clamping (or a busy counter that went back) would break the sum, or the
    counters did not advance, the modes are None rather than numbers that do not add up.
    """
    delta = {f: a - b for f, a, b in zip(after._fields, after, before, strict=True)}
    total = sum(delta.values()) - delta.get("guest", 0.0) - delta.get("guest_nice", 0.0)
    if total <= 0:
        return Reading(0.0, None)
    seconds = [delta.get(m, 0.0) for m in MODES]  # the six busy modes, then iowait
    busy = seconds[: len(BUSY_MODES)]
    raw = 100.0 * sum(busy) / total
    cpu = min(100.0, max(0.0, raw))
    if cpu != raw or min(busy) < 0:
        return Reading(cpu, None)
    seconds[-1] = max(0.0, seconds[-1])  # iowait is not in the sum: a step back is just 0
    return Reading(cpu, hundredths(seconds, total))


def hundredths(seconds: Sequence[float], total: float) -> tuple[int, ...]:
    """Each mode as integer hundredths of a percent of `total`: six rounded busy modes still
    add up to `cpu` within 0.03 points. Only iowait can reach past 100 % (when idle went back),
    so each is capped at 10000."""
    scale = 10000.0 / total
    return tuple(min(10000, round(s * scale)) for s in seconds)


class ProcStat:
    """The kernel's counters, the first line of /proc/stat, as psutil.cpu_times() gives them
    (the same named tuple, seconds), read through a descriptor kept open.

    psutil opens, reads and closes the file and parses it anew at each call; at 5 s that was
    an eighth of an idle collector's CPU time, most of it the cold Python around the read. The
    kernel writes the file afresh for every read from offset 0, so one pread is a new reading.
    """

    def __init__(self, path: str = "/proc/stat") -> None:
        self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self.kind = type(psutil.cpu_times())  # psutil's field names for this kernel
        self.width = len(self.kind._fields)
        self.tick = os.sysconf("SC_CLK_TCK")

    def __call__(self) -> Any:
        line = os.pread(self.fd, 512, 0).split(b"\n", 1)[0].split()
        return self.kind(*(int(v) / self.tick for v in line[1 : self.width + 1]))


class Sampler:
    """Keeps the previous reading; prime() starts a window, __call__() ends it and starts the next.

    Not psutil.cpu_percent(): it keeps its baseline per thread and its first call returns a
    meaningless 0.0; explicit cpu_times() deltas (~20 us a call) make the window ours.
    """

    def __init__(self, read: Callable[[], Any] = psutil.cpu_times) -> None:
        # collector/__main__.py hands in a ProcStat; the default serves tests and other callers.
        self._read = read
        self._last: Any = None

    def prime(self) -> None:
        """Take a reading that only starts the next window; it is never stored."""
        self._last = self._read()

    def __call__(self) -> Reading:
        """The window since the previous reading; that reading must exist (prime first)."""
        now = self._read()
        if self._last is None:
            raise RuntimeError("the sampler was not primed")
        before, self._last = self._last, now
        return split(before, now)
