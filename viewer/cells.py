"""Long windows as fixed time cells: one point per unbroken stretch of a cell, and the
statistics of its minute means; complete cells are kept, so a long window costs its news.

Cell c of width w holds the samples with c*w < ts <= (c+1)*w (the minute rule when w = 60).
Samples are summed in SQL by unit (the cell itself, or the minute for cells of whole
minutes), a unit that a gap cuts is read sample by sample and split there, and the units are
folded into cells in Python. Splits follow each stretch's own interval (a short run at 0.1 s
does not split a day of 5 s samples into single points). When a kept cell is invalid: see
viewer/cache.py, which owns every cache.
"""

import bisect
import math
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import NamedTuple

from shared.schema import MODE_COLUMNS, MODES
from shared.timeutil import cell_of
from viewer.facts import SAMPLE, Run, limit_at, stretch_limits

NO_MODES = (0,) * len(MODES)
SUMS = 8 + len(MODES)  # unit, count, sum cpu, min, max, first, last, moded, mode sums
KEEP = 4 * 720  # kept cells per grid: a few windows' worth (a cell is a few hundred bytes)


class Point(NamedTuple):
    """One drawn point: a sample (count 1), or an unbroken stretch of samples in one cell."""

    ts: float  # where it is drawn: the stamp, or the stretch's mean stamp
    mean: float
    low: float
    high: float
    first: float
    last: float
    samples: int
    modes: tuple[float, ...] | None  # mean percent of each mode, None where none is known


class Means(NamedTuple):
    """Chart 2 at one place: a minute's mean, or a column's statistics of its minute means."""

    start: float  # the minute M, or the column's start
    width: float  # 60, or the column's width
    mean: float
    low: float
    high: float
    minutes: int  # minutes with samples
    samples: int


class Group(NamedTuple):
    """Sums over samples of one unit that no gap separates (what SQL or a split returns)."""

    unit: int
    n: int
    sum_cpu: float
    low: float
    high: float
    first: float
    last: float
    moded: int  # samples that carry modes
    mode_sums: tuple[int, ...]  # hundredths, summed over those samples


class Cell(NamedTuple):
    points: tuple[Point, ...]
    means: Means | None  # None in cells shorter than a minute, and in cells with no sample


class Grid:
    """The cells of one width; `kept` holds complete ones (see viewer/cache.py)."""

    def __init__(self, width: float) -> None:
        self.width = width
        self.unit = 60.0 if width >= 60 else width
        self.kept: dict[int, Cell] = {}
        self.lock = threading.Lock()
        self.epoch = 0  # Grids.sync's count of changes applied: a read begun before one keeps none

    def window(
        self, conn: sqlite3.Connection, ask: "Ask", t0: float, t1: float
    ) -> tuple[list[Point], list[Means]]:
        """The points of (t0, t1] and the means of the minutes overlapping it, oldest first."""
        w = self.width
        c0, c1 = cell_of(t0, w), cell_of(t1, w)
        if (c0 + 1) * w <= t0:  # t0 ends a cell: the window starts with the next one
            c0 += 1
        # Only cells wholly inside the window come from (or go to) the kept ones: the first is
        # cut by t0, and the last, where t1 cuts it, is read up to t1 alone.
        whole = c1 if (c1 + 1) * w <= t1 else c1 - 1
        with self.lock:
            keep = ask.epoch == self.epoch  # no change was applied since this read began
            cells = {c0: load(conn, ask, self, t0, min((c0 + 1) * w, t1)).get(c0, EMPTY)}
            for a, b in self._missing(c0 + 1, whole):
                fresh = load(conn, ask, self, a * w, b * w)
                for c in range(a, b):
                    cells[c] = fresh.get(c, EMPTY)
                    if keep and (c + 1) * w < ask.newest:  # complete: the collector wrote past
                        self.kept[c] = cells[c]
            for c in range(c0 + 1, whole + 1):
                cells.setdefault(c, self.kept.get(c, EMPTY))
            if whole < c1 and c1 > c0:
                cells[c1] = load(conn, ask, self, c1 * w, t1).get(c1, EMPTY)
            if w >= 60:  # a minute the window's ends cut still averages all its samples
                for c in {c0, c1}:
                    cells[c] = self._whole_minutes(conn, ask, cells[c], c, t0, t1)
            if len(self.kept) > KEEP:  # windows far apart: keep the one asked for last
                for old in [c for c in self.kept if not c0 <= c <= c1]:
                    del self.kept[old]
        ordered = [cells[c] for c in sorted(cells)]
        return [p for cell in ordered for p in cell.points], [
            cell.means for cell in ordered if cell.means is not None
        ]

    def _whole_minutes(
        self, conn: sqlite3.Connection, ask: "Ask", cell: "Cell", c: int, t0: float, t1: float
    ) -> "Cell":
        """Cell c with its minute means over whole minutes, where t0 or t1 cuts one."""
        w = self.width
        low = max(c * w, math.floor(t0 / 60) * 60)
        high = min((c + 1) * w, (cell_of(t1, 60) + 1) * 60)
        if (
            low >= c * w
            and high <= (c + 1) * w
            and (low, high) == (max(c * w, t0), min((c + 1) * w, t1))
        ):
            return cell  # neither end cuts a minute of this cell
        whole = load(conn, ask, self, low, high).get(c, EMPTY)
        return Cell(cell.points, whole.means)

    def _missing(self, first: int, last: int) -> list[tuple[int, int]]:
        """Ranges [a, b) of the cells first..last not kept, so each is read in one query."""
        ranges: list[tuple[int, int]] = []
        for c in range(first, last + 1):
            if c in self.kept:
                continue
            if ranges and ranges[-1][1] == c:
                ranges[-1] = (ranges[-1][0], c + 1)
            else:
                ranges.append((c, c + 1))
        return ranges

    def forget(self, low: float, high: float) -> None:
        """Drop kept cells that hold any moment of [low, high]."""
        first, last = cell_of(low, self.width), cell_of(high, self.width) + 1
        for c in [c for c in self.kept if first <= c <= last]:
            del self.kept[c]

    def forget_before(self, oldest: float | None) -> None:
        """Drop kept cells that held samples older than the oldest left (retention ran)."""
        gone = [
            c
            for c, cell in self.kept.items()
            if cell.points and (oldest is None or cell.points[0].first < oldest)
        ]
        for c in gone:
            del self.kept[c]


EMPTY = Cell((), None)


class Ask(NamedTuple):
    """What a read needs to know of the file besides the window."""

    runs: Sequence[Run]
    moded: bool  # the file has mode columns (schema 3 or later)
    newest: float  # the newest sample's stamp: cells ending before it are complete
    epoch: int = 0  # Grids.sync's epoch when this read began (see viewer/cache.py)


def load(conn: sqlite3.Connection, ask: Ask, grid: Grid, a: float, b: float) -> dict[int, Cell]:
    """The cells of `grid` over the samples a < ts <= b.

    SQL sums each cell whole (and, for cells of whole minutes, the statistics of its minute
    means): Python sees one row a cell. Only a cell that a gap cuts is read again unit by
    unit and split where the line breaks. A year at 5 s is 6.3 million samples: summed by
    minute in Python it took 20 s and 250 MB.
    """
    if b <= a:
        return {}
    ends = gap_ends(conn, ask.runs, a, b)
    w, per = grid.width, round(grid.width / grid.unit)
    limit = _limiter(ask.runs)
    args = {"u": grid.unit, "per": per, "a": a, "b": b}
    cells: dict[int, Cell] = {}
    for row in conn.execute(_cells_sql(ask.moded, w >= 60), args):
        c, group, means = int(row[0]), _group(row[:SUMS]), row[SUMS:]
        i = bisect.bisect_right(ends, group.first)
        if i < len(ends) and ends[i] <= group.last:  # a gap inside: split it unit by unit
            units = unit_groups(conn, ask, ends, grid.unit, max(a, c * w), min(b, (c + 1) * w))
            cells[c] = fold(list(units), limit, w >= 60, c * w, w)
        else:
            cells[c] = Cell((_point([group]),), _stats(means, c * w, w) if w >= 60 else None)
    return cells


def unit_groups(
    conn: sqlite3.Connection, ask: Ask, ends: Sequence[float], unit: float, a: float, b: float
) -> Iterator[Group]:
    """Sums per unit over a < ts <= b, oldest first; a unit that a gap (one of `ends`) cuts
    comes back as several groups."""
    sql, args = _units_sql(ask.moded), {"u": unit, "a": a, "b": b}
    for row in conn.execute(sql, args):
        g = _group(row)
        i = bisect.bisect_right(ends, g.first)
        if i < len(ends) and ends[i] <= g.last:  # a gap ends inside this unit
            yield from split(conn, ask.moded, (a, b), g.unit, unit, ends)
        else:
            yield g


def split(
    conn: sqlite3.Connection,
    moded: bool,
    bounds: tuple[float, float],
    u: int,
    unit: float,
    ends: Sequence[float],
) -> list[Group]:
    """Unit u's samples within bounds (a, b], read one by one and cut before every gap end.

    A unit's edges are read a unit wide either side and sorted by cell_of(), the arithmetic
    the SQL used, so a stamp on an edge lands where the sums put it."""
    cols = ", ".join(MODE_COLUMNS) if moded else ", ".join(["NULL"] * len(MODES))
    sql = f"SELECT ts, cpu, {cols} FROM samples WHERE ts > ? AND ts <= ? AND {SAMPLE} ORDER BY ts"
    low, high = max(bounds[0], (u - 1) * unit), min(bounds[1], (u + 2) * unit)
    stops = set(ends)
    parts: list[list[tuple[float, float, tuple[int | None, ...]]]] = []
    for ts, cpu, *modes in conn.execute(sql, (low, high)):
        if cell_of(ts, unit) != u:
            continue
        if not parts or ts in stops:
            parts.append([])
        parts[-1].append((float(ts), float(cpu), tuple(modes)))
    return [_sum(u, part) for part in parts if part]


def _sum(u: int, part: Sequence[tuple[float, float, tuple[int | None, ...]]]) -> Group:
    full = [[int(v or 0) for v in m] for _, _, m in part if None not in m]
    sums = tuple(sum(m[i] for m in full) for i in range(len(MODES))) if full else NO_MODES
    cpus = [c for _, c, _ in part]
    return Group(
        u,
        len(part),
        sum(cpus),
        min(cpus),
        max(cpus),
        part[0][0],
        part[-1][0],
        len(full),
        sums,
    )


def gap_ends(conn: sqlite3.Connection, runs: Sequence[Run], a: float, b: float) -> list[float]:
    """Stamps in (a, b] more than their own stretch's gap limit after the sample before them
    (in the same range): where a line must break.

    A plain ordered scan, compared here: SQLite's lag() window took 6 s over a year at 5 s,
    this 2.4 s."""
    starts, limits = stretch_limits(runs, a, b)
    sql = f"SELECT ts FROM samples WHERE ts > ? AND ts <= ? AND {SAMPLE} ORDER BY ts"
    ends: list[float] = []
    k, previous = 0, math.inf
    for (ts,) in conn.execute(sql, (a, b)):
        while ts >= starts[k]:
            k += 1
        if ts - previous > limits[k]:
            ends.append(float(ts))
        previous = ts
    return ends


def fold(
    groups: Sequence[Group],
    limit: Callable[[float], float],
    minutes: bool,
    start: float,
    width: float,
) -> Cell:
    """A cell's groups (oldest first) as points, one per unbroken stretch, and the statistics
    of its minute means when its units are minutes."""
    stretches_: list[list[Group]] = []
    for g in groups:
        if not stretches_ or g.first - stretches_[-1][-1].last > limit(g.first):
            stretches_.append([])
        stretches_[-1].append(g)
    points = tuple(_point(s) for s in stretches_)
    return Cell(points, _means(groups, start, width) if minutes and groups else None)


def _point(groups: Sequence[Group]) -> Point:
    count = sum(g.n for g in groups)
    moded = sum(g.moded for g in groups)
    modes = None
    if moded:
        modes = tuple(sum(g.mode_sums[i] for g in groups) / moded / 100 for i in range(len(MODES)))
    return Point(
        (groups[0].first + groups[-1].last) / 2,
        sum(g.sum_cpu for g in groups) / count,
        min(g.low for g in groups),
        max(g.high for g in groups),
        groups[0].first,
        groups[-1].last,
        count,
        modes,
    )


def _means(groups: Iterable[Group], start: float, width: float) -> Means:
    per_minute: dict[int, list[float]] = {}
    for g in groups:
        total = per_minute.setdefault(g.unit, [0.0, 0.0])
        total[0] += g.sum_cpu
        total[1] += g.n
    means = [s / n for s, n in per_minute.values()]
    samples = int(sum(n for _, n in per_minute.values()))
    return Means(
        start, width, sum(means) / len(means), min(means), max(means), len(means), samples
    )


def _limiter(runs: Sequence[Run]) -> Callable[[float], float]:
    return lambda ts: limit_at(runs, ts)


def _stats(values: Sequence[object], start: float, width: float) -> Means | None:
    """Means from the SQL's (mean of minute means, min, max, minutes, samples)."""
    mean, low, high, minutes, samples = values
    if not minutes:
        return None
    return Means(
        start,
        width,
        float(mean),  # type: ignore[arg-type]
        float(low),  # type: ignore[arg-type]
        float(high),  # type: ignore[arg-type]
        int(minutes),  # type: ignore[call-overload]
        int(samples),  # type: ignore[call-overload]
    )


def _cells_sql(moded: bool, minutes: bool) -> str:
    """One row a cell: the unit sums of _units_sql added up, and where units are minutes the
    mean, min and max of their means (a cell of width w holds w / 60 whole minutes)."""
    sums = ", ".join(f"sum(m{i})" for i in range(len(MODES)))
    means = (
        "avg(scpu / n), min(scpu / n), max(scpu / n), count(*), sum(n)"
        if minutes
        else "NULL, NULL, NULL, 0, sum(n)"
    )
    return f"""SELECT unit / :per AS cell, sum(n), sum(scpu), min(lo), max(hi),
            min(f), max(l), sum(mn), {sums}, {means}
        FROM ({_units_sql(moded, named=True)})
        GROUP BY cell ORDER BY cell"""


def _units_sql(moded: bool, named: bool = False) -> str:
    u = "CAST(ts / :u AS INTEGER)"
    names = (" AS n", " AS scpu", " AS lo", " AS hi", " AS f", " AS l", " AS mn")
    label = names if named else ("",) * len(names)
    if moded:
        every = " + ".join(MODE_COLUMNS)
        inner = f", {', '.join(MODE_COLUMNS)}, CASE WHEN {every} IS NOT NULL THEN 1 END AS m"
        sums = f", count(m){label[6]}, " + ", ".join(
            f"sum({c} * m)" + (f" AS m{i}" if named else "") for i, c in enumerate(MODE_COLUMNS)
        )
    else:
        inner = ""
        sums = f", 0{label[6]}, " + ", ".join(
            "NULL" + (f" AS m{i}" if named else "") for i in range(len(MODES))
        )
    n, scpu, lo, hi, f, last = label[:6]
    return f"""SELECT unit, count(*){n}, sum(cpu){scpu}, min(cpu){lo},
            max(cpu){hi}, min(ts){f}, max(ts){last}{sums}
        FROM (SELECT ts, cpu{inner}, CASE WHEN {u} * :u >= ts THEN {u} - 1 ELSE {u} END AS unit
              FROM samples WHERE ts > :a AND ts <= :b AND {SAMPLE})
        GROUP BY unit ORDER BY unit"""


def _group(row: Sequence[object]) -> Group:
    u, n, scpu, low, high, first, last, moded, *sums = row
    return Group(
        int(u),  # type: ignore[call-overload]
        int(n),  # type: ignore[call-overload]
        float(scpu),  # type: ignore[arg-type]
        float(low),  # type: ignore[arg-type]
        float(high),  # type: ignore[arg-type]
        float(first),  # type: ignore[arg-type]
        float(last),  # type: ignore[arg-type]
        int(moded),  # type: ignore[call-overload]
        tuple(int(s or 0) for s in sums),  # type: ignore[call-overload]
    )
