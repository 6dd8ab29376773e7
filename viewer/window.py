"""What one window shows, read in one snapshot: points, gaps with causes, minute means.

    Span -> build(conn, facts, grids, t0, t1) -> Window -> charts / page / JSON

Where the window holds more samples than the chart has pixel columns, its points are cells
(viewer/cells.py); so are its minute means where they outnumber the columns.
"""

import math
import sqlite3
from dataclasses import dataclass

from shared.timeutil import minute_of
from viewer import gaps, rows
from viewer.cache import Grids
from viewer.cells import Ask, Means, Point
from viewer.facts import Facts, Run, stretches

COLUMNS = 720  # pixel columns of a chart's plot: more samples than this are drawn per column
TABLE_MINUTES = 1440  # the page lists every minute up to a day; longer windows per column


@dataclass(frozen=True)
class Window:
    t0: float
    t1: float
    points: list[Point]
    reduced: bool  # points are per-column stretches, not samples
    gaps: list[gaps.Gap]
    minutes: list[Means] | None  # every minute with samples, when the window is a day or less
    columns: list[Means] | None  # per-column statistics of minute means, past 720 minutes
    cut: frozenset[float]  # minutes that a gap cuts (drawn as partial)

    @property
    def means(self) -> list[Means]:
        """Chart 2's values: each minute, or per column where minutes outnumber columns."""
        return self.columns if self.columns is not None else (self.minutes or [])


def column_width(minutes: int) -> float:
    """Seconds per cell: the window over 720 columns, whole minutes past 12 hours (so a cell
    holds whole minutes and its minute means need no second read)."""
    if minutes <= COLUMNS:
        return minutes * 60 / COLUMNS
    return math.ceil(minutes / COLUMNS) * 60.0


def quantum(interval: float, minutes: int) -> float:
    """A live chart's end is rounded up to this: the interval, never over one pixel column."""
    return min(interval, column_width(minutes))


def live_end(now: float, interval: float, minutes: int) -> float:
    q = quantum(interval, minutes)
    return math.ceil(now / q) * q


def expected(runs: list[Run] | tuple[Run, ...], t0: float, t1: float) -> float:
    """How many samples the runs' intervals put in (t0, t1] at most."""
    parts = stretches(runs, t0, t1)
    edges = [max(t0, s) for s, _ in parts] + [t1]
    return sum((edges[i + 1] - edges[i]) / iv for i, (_, iv) in enumerate(parts))


def build(
    conn: sqlite3.Connection, facts: Facts, grids: Grids, t0: float, t1: float, epoch: int = 0
) -> Window:
    """The window (t0, t1]; `epoch` is what Grids.sync returned for this snapshot."""
    minutes = round((t1 - t0) / 60)
    ask = Ask(facts.runs, facts.version >= 3, facts.newest[0] if facts.newest else t1, epoch)
    points = None
    if expected(facts.runs, t0, t1) <= 2 * COLUMNS:
        points = rows.points(conn, ask.moded, t0, t1, COLUMNS)
    reduced = points is None
    columns = None
    if points is None:
        points, found = grids.get(column_width(minutes)).window(conn, ask, t0, t1)
        columns = found if minutes > COLUMNS else None
    day = None
    if minutes <= TABLE_MINUTES:
        day = grids.get(60.0).window(conn, ask, t0, t1)[1]
    found_gaps, spans = _gaps(conn, facts, points, t0, t1)
    cut = gaps.cut_minutes([m.start for m in day or []], spans)
    return Window(t0, t1, points, reduced, found_gaps, day, columns, frozenset(cut))


def _gaps(
    conn: sqlite3.Connection, facts: Facts, points: list[Point], t0: float, t1: float
) -> tuple[list[gaps.Gap], list[tuple[float, float]]]:
    """The window's gaps with causes, and the whole spans they lie in."""
    before, after = rows.around(conn, t0, t1)
    holes = gaps.holes([(p.first, p.last) for p in points], facts.runs, t0, t1, before, after)
    if not holes:
        return [], []
    spans = [
        (-math.inf if h.before is None else h.before, math.inf if h.after is None else h.after)
        for h in holes
    ]
    low = min(t0 if h.before is None else h.before for h in holes)
    high = max(t1 if h.after is None else h.after for h in holes)
    pauses = rows.pauses(conn, facts.version, low, high)
    return gaps.name(holes, facts.runs, pauses, facts.collector), spans


def empty(t0: float, t1: float) -> Window:
    """The window of a file that does not exist yet: axes only, one gap."""
    hole = gaps.holes([], (), t0, t1, None, None)
    return Window(t0, t1, [], False, gaps.name(hole, (), (), False), [], None, frozenset())


def minute_starts(t0: float, t1: float) -> range:
    """Every minute M whose span (M, M + 60] overlaps (t0, t1], oldest first."""
    return range(math.floor(t0 / 60) * 60, minute_of(t1) + 60, 60)
