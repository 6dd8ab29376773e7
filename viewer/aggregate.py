"""Pure arithmetic on samples: run intervals, gaps, minute buckets and unbroken chart segments."""

import bisect
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shared.schema import gap_limit
from shared.timeutil import minute_of

# The collector's default, used only for a file that records no run at all.
DEFAULT_INTERVAL = 5.0


@dataclass(frozen=True)
class Run:
    started: float
    interval: float


@dataclass(frozen=True)
class Gap:
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Point:
    """One drawn point: a sample (low == high == mean) or a pixel column of samples."""

    ts: float
    mean: float
    low: float
    high: float
    first: float
    last: float
    count: int = 1


def interval_at(runs: Sequence[Run], ts: float) -> float:
    """The interval of the run with the greatest start <= ts; before the first run, the first."""
    if not runs:
        return DEFAULT_INTERVAL
    i = bisect.bisect_right([r.started for r in runs], ts) - 1
    return runs[max(i, 0)].interval


def runs_during(runs: Sequence[Run], t0: float, t1: float) -> list[Run]:
    """The runs whose time overlaps (t0, t1]: the one current at t0 and those started since."""
    starts = [r.started for r in runs]
    first = max(bisect.bisect_right(starts, t0) - 1, 0)
    return list(runs[first : max(bisect.bisect_right(starts, t1), first + 1)])


def latest_interval(runs: Sequence[Run]) -> float:
    """The interval of the newest run: the one the collector runs at, if it runs."""
    return runs[-1].interval if runs else DEFAULT_INTERVAL


def inner_gaps(pairs: Iterable[tuple[float, float]], runs: Sequence[Run]) -> list[Gap]:
    """Gaps between consecutive samples (prev, ts), judged by the run `ts` belongs to."""
    return [Gap(a, b) for a, b in pairs if b - a > gap_limit(interval_at(runs, b))]


def window_gaps(
    first: float | None,
    last: float | None,
    inner: Sequence[Gap],
    runs: Sequence[Run],
    t0: float,
    t1: float,
) -> list[Gap]:
    """Add the head gap (t0 to the first sample) and the tail gap (last sample to t1)."""
    if first is None or last is None:
        return [Gap(t0, t1)] if t1 - t0 > gap_limit(interval_at(runs, t1)) else []
    head = [Gap(t0, first)] if first - t0 > gap_limit(interval_at(runs, first)) else []
    tail = [Gap(last, t1)] if t1 - last > gap_limit(interval_at(runs, t1)) else []
    return [*head, *inner, *tail]


def find_gaps(stamps: Sequence[float], runs: Sequence[Run], t0: float, t1: float) -> list[Gap]:
    """All gaps in the window (t0, t1] of these sorted sample stamps."""
    inner = inner_gaps(itertools.pairwise(stamps), runs)
    first, last = (stamps[0], stamps[-1]) if stamps else (None, None)
    return window_gaps(first, last, inner, runs, t0, t1)


def minute_starts(t0: float, t1: float) -> range:
    """Every minute M whose span (M, M + 60] overlaps (t0, t1], oldest first."""
    return range(math.floor(t0 / 60) * 60, minute_of(t1) + 60, 60)


def minute_series(
    rows: Iterable[tuple[int, float, int]], t0: float, t1: float
) -> list[tuple[int, float | None, int]]:
    """(minute, avg, count) for every minute of the window; avg None where count is 0."""
    found = {int(m): (avg, n) for m, avg, n in rows}
    return [(m, *found.get(m, (None, 0))) for m in minute_starts(t0, t1)]


def split_at_gaps(points: Sequence[Point], gaps: Sequence[Gap]) -> list[list[Point]]:
    """Runs of points with no gap between neighbours: the unbroken stretches of a line."""
    ends = {g.end for g in gaps}
    segments: list[list[Point]] = []
    for p in points:
        if not segments or p.first in ends:
            segments.append([])
        segments[-1].append(p)
    return segments


def minute_points(
    series: Sequence[tuple[int, float | None, int]], gaps: Sequence[Gap], t0: float, t1: float
) -> list[list[tuple[float, float]]]:
    """Minute means at each minute's middle, broken at empty minutes and wherever a gap lies
    between two neighbouring middles (the line between them would cross it)."""
    segments: list[list[tuple[float, float]]] = [[]]
    for minute, avg, _ in series:
        mid = minute + 30.0
        if avg is None or not t0 <= mid <= t1:
            segments.append([])
            continue
        if segments[-1] and _crosses(segments[-1][-1][0], mid, gaps):
            segments.append([])
        segments[-1].append((mid, avg))
    return [s for s in segments if s]


def _crosses(a: float, b: float, gaps: Sequence[Gap]) -> bool:
    return any(g.start < b and g.end > a for g in gaps)
