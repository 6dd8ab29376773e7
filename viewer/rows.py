"""Sample-by-sample reads on a read-only connection: a short window's points, the samples
around a window, the pauses in it, and the batches the JSON and CSV stream."""

import functools
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from shared.schema import MODE_COLUMNS, MODES
from viewer import reader
from viewer.cells import Point
from viewer.facts import SAMPLE
from viewer.gaps import Pause

BATCH = 20_000
P = TypeVar("P", bound=tuple[Any, ...])  # a row whose first value is its ts
Pair = tuple[float, float]  # (ts, value)


class Row(NamedTuple):
    """A sample as the API gives it: modes in percent, None where unknown."""

    ts: float
    cpu: float
    modes: tuple[float, ...] | None


def columns(moded: bool) -> str:
    """The mode columns as stored (hundredths of a percent), or NULLs for an older file."""
    return ", ".join(MODE_COLUMNS) if moded else ", ".join(["NULL"] * len(MODES))


def percents(moded: bool) -> str:
    """The mode columns in percent, divided by SQLite as the sample_modes view divides them."""
    return ", ".join(f"{c} / 100.0" for c in MODE_COLUMNS) if moded else columns(False)


def row(values: tuple[float, float, *tuple[float | None, ...]]) -> Row:
    """A row of `SELECT ts, cpu, {percents()}`: ts and cpu are REAL columns, so floats."""
    ts, cpu, *modes = values
    return Row(ts, cpu, None if None in modes else tuple(modes))  # type: ignore[arg-type]


def points(
    conn: sqlite3.Connection, moded: bool, t0: float, t1: float, most: int
) -> list[Point] | None:
    """Every sample t0 < ts <= t1 as a point, or None when there are more than `most`."""
    sql = (
        f"SELECT ts, cpu, {percents(moded)} FROM samples"
        f" WHERE ts > ? AND ts <= ? AND {SAMPLE} ORDER BY ts LIMIT ?"
    )
    found = conn.execute(sql, (t0, t1, most + 1)).fetchall()
    if len(found) > most:
        return None
    out = []
    for values in found:
        r = row(values)
        out.append(Point(r.ts, r.cpu, r.cpu, r.cpu, r.ts, r.ts, 1, r.modes))
    return out


def around(conn: sqlite3.Connection, t0: float, t1: float) -> tuple[float | None, float | None]:
    """The newest sample at or before t0 and the oldest after t1."""
    before = conn.execute(
        f"SELECT ts FROM samples WHERE ts <= ? AND ts > 0 AND {SAMPLE} ORDER BY ts DESC LIMIT 1",
        (t0,),
    ).fetchone()
    after = conn.execute(
        f"SELECT ts FROM samples WHERE ts > ? AND {SAMPLE} ORDER BY ts LIMIT 1", (t1,)
    ).fetchone()
    return (float(before[0]) if before else None), (float(after[0]) if after else None)


def pauses(conn: sqlite3.Connection, version: int, a: float, b: float) -> list[Pause]:
    """The pauses that overlap (a, b); none in files older than schema version 3."""
    if version < 3:
        return []
    sql = "SELECT run, start, stop, kind, slept FROM pauses WHERE stop > ? AND start < ?"
    return [
        Pause(int(r), float(s), float(e), str(k), float(z or 0))
        for r, s, e, k, z in conn.execute(sql, (a, b))
        if isinstance(s, int | float) and isinstance(e, int | float)
    ]


def minute_means(conn: sqlite3.Connection, starts: range) -> list[tuple[int, float | None, int]]:
    """(minute, avg, count) for every minute in `starts`, each over all its samples."""
    f = "CAST(ts / 60 AS INTEGER) * 60"
    sql = f"""SELECT minute, avg(cpu), count(*) FROM (
                SELECT cpu, CASE WHEN {f} >= ts THEN {f} - 60 ELSE {f} END AS minute
                FROM samples WHERE ts > ? AND ts <= ? AND {SAMPLE})
              GROUP BY minute"""
    found = {
        int(m): (float(a), int(n)) for m, a, n in conn.execute(sql, (starts.start, starts.stop))
    }
    return [(m, *found.get(m, (None, 0))) for m in starts]


def minute_chunks(path: Path, starts: range) -> Iterator[list[tuple[int, float | None, int]]]:
    """minute_means() a day at a time, each day on its own short connection (as batches)."""
    day = 1440 * 60
    for first in range(starts.start, starts.stop, day):
        chunk = range(first, min(first + day, starts.stop), 60)
        yield reader.read(path, functools.partial(minute_means, starts=chunk))


def batch(conn: sqlite3.Connection, moded: bool, after: float, t1: float) -> list[Row]:
    """The first BATCH samples with after < ts <= t1, oldest first."""
    sql = (
        f"SELECT ts, cpu, {percents(moded)} FROM samples"
        f" WHERE ts > ? AND ts <= ? AND {SAMPLE} ORDER BY ts LIMIT ?"
    )
    return [row(values) for values in conn.execute(sql, (after, t1, BATCH))]


def batches(path: Path, moded: bool, after: float, t1: float) -> Iterator[list[Row]]:
    """The samples after < ts <= t1, oldest first, in batches each read on its own short
    connection, so a slow client never holds a read transaction open. Raises Unavailable,
    also "no-data" if the file went away: the caller has started its answer already."""
    return _paged(path, functools.partial(batch, moded=moded, t1=t1), after)


def stamped(conn: sqlite3.Connection, mode: int | None, after: float, t1: float) -> list[Pair]:
    """The first BATCH (ts, value) with after < ts <= t1, oldest first: the value is `cpu`,
    or with `mode` (an index into MODES) that mode's percent, of the samples with modes.
    Two columns, no Row: an export of a year reads the file once per series."""
    value, only = "cpu", ""
    if mode is not None:
        value = f"{MODE_COLUMNS[mode]} / 100.0"  # as percents() divides
        only = "".join(f" AND {c} IS NOT NULL" for c in MODE_COLUMNS)
    sql = (
        f"SELECT ts, {value} FROM samples"
        f" WHERE ts > ? AND ts <= ? AND {SAMPLE}{only} ORDER BY ts LIMIT ?"
    )
    return conn.execute(sql, (after, t1, BATCH)).fetchall()


def stamped_batches(path: Path, mode: int | None, after: float, t1: float) -> Iterator[list[Pair]]:
    """stamped() over the whole span, in batches as batches() reads them."""
    return _paged(path, functools.partial(stamped, mode=mode, t1=t1), after)


def _paged(path: Path, read: Callable[..., list[P]], after: float) -> Iterator[list[P]]:
    """`read(conn, after=...)` again from the last stamp of each full batch, each time on a
    fresh read-only connection."""
    while True:
        found = reader.read(path, functools.partial(read, after=after))
        if found:
            yield found
        if len(found) < BATCH:
            return
        after = found[-1][0]
