"""The window queries on a read-only connection: samples, counts, cells, gaps, runs."""

import bisect
import functools
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from viewer.aggregate import Point, Run
from viewer.reader import read

BATCH = 20_000
# A row is a sample only if it passes the schema's CHECKs: with them switched off (PRAGMA
# ignore_check_constraints) a person can put text in cpu, and such a row is skipped, not
# drawn. SQLite orders numbers below text and blobs, so a numeric range lets only numbers
# through: the ts bounds of every query do it for ts, this does it for cpu. It filters what
# the primary-key range finds and costs less than typeof() (a day at 0.1 s: count(*) 30 ms
# plain, 65 ms with this, 119 ms with typeof() on both columns); see rows() for the rest.
SAMPLE = "cpu BETWEEN 0 AND 100"


def runs(conn: sqlite3.Connection) -> list[Run]:
    # CHECK (interval > 0) lets text through (SQLite ranks text above numbers): skip such rows.
    rows = conn.execute(
        "SELECT started, interval FROM runs WHERE typeof(started) IN ('integer', 'real')"
        " AND typeof(interval) IN ('integer', 'real') ORDER BY started, id"
    ).fetchall()
    return [Run(float(s), float(i)) for s, i in rows]


def newest(conn: sqlite3.Connection, now: float) -> tuple[float, float] | None:
    """The newest sample (ts, cpu) stamped at or before `now`, or None.

    After the clock went back, samples stamped in the future are not "newest": the age would be
    negative and a dead collector would look alive until the clock caught up. The bound also
    skips a ts that is text or a blob (SQLite sorts them above every number), inf or 1e300.
    """
    sql = f"SELECT ts, cpu FROM samples WHERE ts <= ? AND {SAMPLE} ORDER BY ts DESC LIMIT 1"
    row = conn.execute(sql, (now,)).fetchone()
    return (float(row[0]), float(row[1])) if row else None


def count(conn: sqlite3.Connection, t0: float, t1: float) -> int:
    """The number of samples with t0 < ts <= t1."""
    sql = f"SELECT count(*) FROM samples WHERE ts > ? AND ts <= ? AND {SAMPLE}"
    return int(conn.execute(sql, (t0, t1)).fetchone()[0])


def rows(conn: sqlite3.Connection, t0: float, t1: float) -> int:
    """The number of rows with t0 < ts <= t1, samples or not: half the cost of count() over a
    long window, and equal to it unless someone put a row in by hand."""
    sql = "SELECT count(*) FROM samples WHERE ts > ? AND ts <= ?"
    return int(conn.execute(sql, (t0, t1)).fetchone()[0])


def points(conn: sqlite3.Connection, t0: float, t1: float) -> list[Point]:
    sql = f"SELECT ts, cpu FROM samples WHERE ts > ? AND ts <= ? AND {SAMPLE} ORDER BY ts"
    return [Point(ts, cpu, cpu, cpu, ts, ts) for ts, cpu in conn.execute(sql, (t0, t1))]


def gap_ends(conn: sqlite3.Connection, a: float, b: float, limit: float) -> list[float]:
    """Stamps in a < ts <= b that follow their predecessor in the range by more than `limit`."""
    sql = f"""SELECT ts FROM (SELECT ts, ts - lag(ts) OVER (ORDER BY ts) AS step
             FROM samples WHERE ts > ? AND ts <= ? AND {SAMPLE}) WHERE step > ? ORDER BY ts"""
    return [float(ts) for (ts,) in conn.execute(sql, (a, b, limit))]


def cells(
    conn: sqlite3.Connection, a: float, b: float, width: float, limit: float | None
) -> dict[int, list[Point]]:
    """The samples a < ts <= b grouped by cell (c*w < ts <= (c+1)*w), and within a cell split
    wherever neighbours are more than `limit` apart: mean, min, max, first, last, count."""
    ends = gap_ends(conn, a, b, limit) if limit is not None else []
    # The segment of a sample is the number of gap ends at or before it.
    conn.create_function("seg", 1, lambda ts: bisect.bisect_right(ends, ts), deterministic=True)
    cell = "CAST(ts / :w AS INTEGER)"
    sql = f"""SELECT cell, avg(ts), avg(cpu), min(cpu), max(cpu), min(ts), max(ts), count(*)
        FROM (SELECT ts, cpu, CASE WHEN {cell} * :w >= ts THEN {cell} - 1 ELSE {cell} END
                     AS cell, {"seg(ts)" if ends else "0"} AS seg
              FROM samples WHERE ts > :a AND ts <= :b AND {SAMPLE})
        GROUP BY cell, seg ORDER BY cell, seg"""
    found: dict[int, list[Point]] = {}
    for c, x, mean, low, high, first, last, n in conn.execute(sql, {"a": a, "b": b, "w": width}):
        found.setdefault(int(c), []).append(Point(x, mean, low, high, first, last, int(n)))
    return found


def batch(conn: sqlite3.Connection, after: float, t1: float) -> list[tuple[float, float]]:
    """The first BATCH samples with after < ts <= t1, oldest first."""
    sql = f"SELECT ts, cpu FROM samples WHERE ts > ? AND ts <= ? AND {SAMPLE} ORDER BY ts LIMIT ?"
    return conn.execute(sql, (after, t1, BATCH)).fetchall()


def sample_batches(path: Path, after: float, t1: float) -> Iterator[list[tuple[float, float]]]:
    """The samples after < ts <= t1, oldest first, in batches each read on its own short
    connection, so a slow client never holds a read transaction open. Raises Unavailable,
    also "no-data" if the file went away: the caller has started its answer already."""
    while True:
        rows = read(path, functools.partial(batch, after=after, t1=t1))
        if rows:
            yield rows
        if len(rows) < BATCH:
            return
        after = rows[-1][0]
