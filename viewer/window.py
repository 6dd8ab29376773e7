"""What one window of the page shows: state, newest sample, gaps, points, minute means, charts."""

import math
import sqlite3
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from shared.timeutil import cell_of
from viewer import aggregate, charts, queries, reader
from viewer.aggregate import Gap, Point, Run
from viewer.cache import Lru
from viewer.grid import Grid, pairs_of


@dataclass(frozen=True)
class Status:
    """The collector's state as the page and /healthz tell it."""

    state: str  # "running", "stale", "no-data" or "error"
    reason: str
    interval: float | None = None
    newest: tuple[float, float] | None = None
    age: float | None = None


@dataclass(frozen=True)
class Window:
    minutes: int
    t0: float
    t1: float
    gaps: list[Gap]
    points: list[Point]
    reduced: bool
    means: list[tuple[int, float | None, int]]
    # The page's parts that depend on the window alone, rendered once (see page.py).
    html: dict[str, str] = field(default_factory=dict, compare=False)

    # Each chart is drawn on first use: a request for one chart does not pay for the other.
    @cached_property
    def instant(self) -> charts.Chart:
        segments = aggregate.split_at_gaps(self.points, self.gaps)
        return charts.instant(segments, self.t0, self.t1, self.reduced)

    @cached_property
    def average(self) -> charts.Chart:
        segments = aggregate.minute_points(self.means, self.gaps, self.t0, self.t1)
        return charts.average(segments, self.t0, self.t1)


def status(runs: list[Run], newest: tuple[float, float] | None, now: float) -> Status:
    interval = aggregate.latest_interval(runs)
    if newest is None:
        return Status(
            "no-data", "the database holds no sample yet; is cpuload-collector running?", interval
        )
    age = now - newest[0]
    if age < 3 * interval:
        return Status("running", "", interval, newest, age)
    reason = (
        f"the newest sample is {duration(age)} old (interval {interval:g} s);"
        " is cpuload-collector running?"
    )
    return Status("stale", reason, interval, newest, age)


def duration(seconds: float) -> str:
    """12.5 s, 3 min 20 s, 2 h 05 min."""
    if seconds < 60:
        return f"{seconds:.3g} s"
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def read_status(db: Path, now: float) -> Status:
    """The collector's state from the newest sample and the latest run."""
    try:
        return reader.read(
            db, lambda conn: status(queries.runs(conn), queries.newest(conn, now), now)
        )
    except reader.Unavailable as exc:
        return Status(exc.state, exc.reason)


def quantum(interval: float, minutes: int) -> float:
    """Chart ends are rounded up to this step: the interval, but never over one pixel column."""
    return min(interval, minutes * 60 / charts.COLUMNS)


def chart_end(now: float, interval: float, minutes: int) -> float:
    q = quantum(interval, minutes)
    return math.ceil(now / q) * q


class Grids:
    """The app's cell caches, one per (width, limit, span), least recently used dropped first.

    A grid forgets the cells before its latest window, so windows of different spans must not
    share one: the hour's minute means evicted the day's, and every 24 h page read a day again.
    """

    def __init__(self, size: int = 8) -> None:
        self._lru: Lru[Grid] = Lru(size)

    def get(self, width: float, limit: float | None, span: float = 0.0) -> Grid:
        return self._lru.get((width, limit, span), lambda: Grid(width, limit))


def split_limit(runs: list[Run]) -> float:
    """Steps longer than this may be gaps (2 x the shortest interval of the window's runs: one
    old run at 0.1 s must not split every 5 s sample of today into its own point)."""
    return 2 * min((r.interval for r in runs), default=aggregate.DEFAULT_INTERVAL)


def read_points(
    conn: sqlite3.Connection, grids: Grids, runs: list[Run], t0: float, t1: float
) -> tuple[list[Point], bool]:
    """Every sample, or per-column mean/min/max when there are more samples than columns."""
    rows = queries.rows(conn, t0, t1)  # the samples, and any rows put in by hand
    if rows <= charts.COLUMNS:
        return queries.points(conn, t0, t1), False
    newest = queries.newest(conn, t1)
    limit = split_limit(aggregate.runs_during(runs, t0, t1))
    grid = grids.get((t1 - t0) / charts.COLUMNS, limit)
    return grid.points(conn, t0, t1, newest[0] if newest else t1, rows), True


def find_gaps(points: list[Point], runs: list[Run], t0: float, t1: float) -> list[Gap]:
    limit = split_limit(aggregate.runs_during(runs, t0, t1))
    inner = aggregate.inner_gaps(pairs_of(points, limit), runs)
    first, last = (points[0].first, points[-1].last) if points else (None, None)
    return aggregate.window_gaps(first, last, inner, runs, t0, t1)


def read_means(
    conn: sqlite3.Connection, t0: float, t1: float, grids: Grids | None = None
) -> list[tuple[int, float | None, int]]:
    """Minute means for every minute overlapping (t0, t1], each over its whole minute."""
    span = aggregate.minute_starts(t0, t1)
    grid = (grids or Grids()).get(60.0, None, t1 - t0)
    newest = queries.newest(conn, t1)
    cells = grid.points(conn, span.start, span.stop, newest[0] if newest else t1)
    rows = [(cell_of(p.first, 60.0) * 60, p.mean, p.count) for p in cells]
    return aggregate.minute_series(rows, t0, t1)


def build(
    conn: sqlite3.Connection, grids: Grids, runs: list[Run], minutes: int, t1: float
) -> Window:
    t0 = t1 - 60 * minutes
    points, reduced = read_points(conn, grids, runs, t0, t1)
    gaps = find_gaps(points, runs, t0, t1)
    means = read_means(conn, t0, t1, grids)
    return Window(minutes, t0, t1, gaps, points, reduced, means)


def empty(minutes: int, t1: float) -> Window:
    """The window of a file that does not exist yet: axes only."""
    t0 = t1 - 60 * minutes
    gap = aggregate.window_gaps(None, None, [], [], t0, t1)
    means = aggregate.minute_series([], t0, t1)
    return Window(minutes, t0, t1, gap, [], False, means)


def load(
    db: Path, now: float, minutes: int, cache: Lru[Window], grids: Grids
) -> tuple[Status, Window | None]:
    """The collector's state now, and the window (cached) unless the file is unreadable."""
    try:
        return reader.read(db, lambda conn: _current(conn, now, minutes, cache, grids), True)
    except reader.Unavailable as exc:
        st = Status(exc.state, exc.reason)
    if st.state == "no-data":
        t1 = chart_end(now, aggregate.DEFAULT_INTERVAL, minutes)
        return st, cache.get(("empty", minutes, t1), lambda: empty(minutes, t1))
    return st, None


def _current(
    conn: sqlite3.Connection, now: float, minutes: int, cache: Lru[Window], grids: Grids
) -> tuple[Status, Window | None]:
    runs, newest = queries.runs(conn), queries.newest(conn, now)
    st = status(runs, newest, now)
    t1 = chart_end(now, st.interval or aggregate.DEFAULT_INTERVAL, minutes)
    key = (minutes, t1, newest, runs[-1] if runs else None)
    return st, cache.get(key, lambda: build(conn, grids, runs, minutes, t1))
