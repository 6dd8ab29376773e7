"""The sums behind /metrics' counters: seconds busy, seconds sampled, seconds per mode, and the
seconds of closed gaps by cause, over the whole file once, then sample by sample.

A sample of interval i (its run's, see facts.interval_at) adds cpu / 100 x i busy seconds and
i sampled seconds, and mode / 100 x i to each mode it knows (the collector writes all seven or
none; each mode on its own keeps the whole-file sum a plain SQL total, twice as fast). A gap
closes when a sample after it arrives: it adds its length (b - a, as /api/gaps gives it)
under the cause viewer/gaps.py names for it then, which no later record changes.
"""

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from shared.schema import MODE_COLUMNS, MODES, gap_limit
from viewer import gaps, rows
from viewer.facts import SAMPLE, Facts, Run, interval_at, limit_at, stretches
from viewer.gaps import Cause

# The causes a closed gap can have: `before-history` and `collector-not-running` name spans
# that no sample ends, so they never close.
CLOSED: tuple[Cause, ...] = (
    "collector-stopped",
    "collector-killed",
    "host-restarted",
    "host-suspended",
    "collector-stalled",
    "unknown",
)
_WHERE = f" FROM samples WHERE ts >= ? AND ts < ? AND ts > 0 AND ts <= ? AND {SAMPLE}"
SUMS = f"SELECT count(*), total(cpu), {', '.join(f'total({c})' for c in MODE_COLUMNS)}{_WHERE}"
SUMS_V2 = f"SELECT count(*), total(cpu){_WHERE}"  # files from before modes (schema 3)
STAMPS = f"SELECT ts{_WHERE} ORDER BY ts"
NEWER = (
    f"SELECT ts, cpu, {{}} FROM samples WHERE ts > ? AND ts <= ? AND {SAMPLE} ORDER BY ts LIMIT ?"
)


class Sample(NamedTuple):
    ts: float
    cpu: float
    hundredths: tuple[int | None, ...]  # each mode in hundredths of a percent, None: unknown


class Closed(NamedTuple):
    """A gap between two samples a < b, with the cause it has for good."""

    a: float
    b: float
    cause: Cause


@dataclass
class Totals:
    """The counters' values; `last` is the newest sample counted (None: none yet)."""

    busy: float = 0.0
    sampled: float = 0.0
    modes: list[float] = field(default_factory=lambda: [0.0] * len(MODES))
    gaps: dict[Cause, float] = field(default_factory=lambda: dict.fromkeys(CLOSED, 0.0))
    last: float | None = None

    def copy(self) -> "Totals":
        return replace(self, modes=list(self.modes), gaps=dict(self.gaps))

    def add(self, found: Iterable[Sample], runs: Sequence[Run], closed: Iterable[Closed]) -> None:
        """Count samples newer than `last`, oldest first, and the gaps they close."""
        for r in found:
            interval = interval_at(runs, r.ts)
            self.busy += r.cpu * interval / 100
            self.sampled += interval
            for i, h in enumerate(r.hundredths):
                if h is not None:
                    self.modes[i] += h * interval / 10_000
            self.last = r.ts
        for gap in closed:
            self.gaps[gap.cause] += gap.b - gap.a


def whole_file(conn: sqlite3.Connection, f: Facts, now: float) -> Totals:
    """The sums over every sample in the file stamped up to now (a row stamped later, put in
    by hand or left by a clock that went back, counts once its time comes): one SQL sum per
    stretch of equal interval, and one pass over the stamps for the gaps."""
    totals = Totals()
    moded = f.version >= 3
    bounds = _stretch_bounds(f.runs)
    for lo, hi, interval in bounds:
        n, cpu, *modes = conn.execute(SUMS if moded else SUMS_V2, (lo, hi, now)).fetchone()
        totals.busy += interval * cpu / 100
        totals.sampled += interval * n
        for i, m in enumerate(modes):
            totals.modes[i] += interval * m / 10_000  # hundredths of a percent
    prev: float | None = None
    found: list[tuple[float, float]] = []
    for lo, hi, interval in bounds:
        limit = gap_limit(interval)
        for (ts,) in conn.execute(STAMPS, (lo, hi, now)):
            if prev is not None and ts - prev > limit:
                found.append((prev, ts))
            prev = ts
    for gap in close(conn, f, found):
        totals.gaps[gap.cause] += gap.b - gap.a
    totals.last = prev
    return totals


def newer(
    conn: sqlite3.Connection, f: Facts, last: float, now: float
) -> tuple[list[Sample], list[Closed]]:
    """The samples after `last` and up to now, oldest first, and the gaps they close (nothing
    is counted here: a read that is tried again must not count twice)."""
    sql = NEWER.format(rows.columns(f.version >= 3))
    found: list[Sample] = []
    while True:
        after = found[-1].ts if found else last
        batch = [
            Sample(ts, cpu, tuple(h))
            for ts, cpu, *h in conn.execute(sql, (after, now, rows.BATCH))
        ]
        found += batch
        if len(batch) < rows.BATCH:
            break
    spans, prev = [], last
    for r in found:
        if r.ts - prev > limit_at(f.runs, r.ts):
            spans.append((prev, r.ts))
        prev = r.ts
    return found, close(conn, f, spans)


def close(
    conn: sqlite3.Connection, f: Facts, spans: Iterable[tuple[float, float]]
) -> list[Closed]:
    """Each span between two samples with the cause viewer/gaps.py gives it."""
    out = []
    for a, b in spans:
        cause, _ = gaps.cause(a, b, f.runs, rows.pauses(conn, f.version, a, b), f.collector)
        out.append(Closed(a, b, cause))
    return out


def _stretch_bounds(runs: Sequence[Run]) -> list[tuple[float, float, float]]:
    """[lo, hi) and the interval of each stretch of equal interval, oldest first: a sample
    belongs to the run with the greatest start at or before it."""
    found = stretches(runs, float("-inf"), float("inf"))
    ends = [start for start, _ in found[1:]] + [float("inf")]
    return [(lo, hi, interval) for (lo, interval), hi in zip(found, ends, strict=True)]
