"""Read-only access to the collector's file: one short-lived `mode=ro` connection per use."""

import bisect
import sqlite3
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.schema import SchemaError, read_version
from viewer.aggregate import Point, Run

BATCH = 20_000


class Unavailable(Exception):
    """The file cannot be shown: `state` is "no-data" or "error"; the message says why."""

    def __init__(self, state: str, reason: str) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason


@contextmanager
def open_ro(path: Path, snapshot: bool = False) -> Iterator[sqlite3.Connection]:
    """A read-only connection that never creates, migrates or writes the file.

    With `snapshot`, every query sees the same state of the file (one read transaction): a
    count and the rows it counts then agree while the collector writes, where otherwise the
    cell cache saw a mismatch and read the whole window again.
    """
    if not path.exists():
        raise Unavailable("no-data", f"{path} does not exist yet; is cpuload-collector running?")
    uri = f"file:{urllib.parse.quote(str(path.absolute()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=5, check_same_thread=False)
    except sqlite3.Error as exc:
        raise Unavailable("error", f"cannot open {path} read-only: {exc}") from None
    try:
        _check(conn, path)
        if snapshot:
            conn.execute("BEGIN")
        yield conn
    except sqlite3.Error as exc:
        raise Unavailable("error", f"cannot read {path}: {exc}") from None
    except (ValueError, TypeError, OverflowError):
        # Only a hand-made row does this (e.g. text in cpu under ignore_check_constraints): an
        # unreadable file, not a 500; the value itself is not echoed (it may be huge or markup).
        raise Unavailable(
            "error", f"{path} holds a value that is not a number; was it edited by hand?"
        ) from None
    finally:
        conn.close()


def _check(conn: sqlite3.Connection, path: Path) -> None:
    try:
        version = read_version(conn)
    except SchemaError as exc:
        raise Unavailable("error", f"{path}: {exc}") from None
    if version == 0:
        raise Unavailable("no-data", f"{path} has no tables yet; is cpuload-collector running?")


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
    sql = "SELECT ts, cpu FROM samples WHERE ts <= ? ORDER BY ts DESC LIMIT 1"
    row = conn.execute(sql, (now,)).fetchone()
    return (float(row[0]), float(row[1])) if row else None


def count(conn: sqlite3.Connection, t0: float, t1: float) -> int:
    """The number of samples with t0 < ts <= t1."""
    sql = "SELECT count(*) FROM samples WHERE ts > ? AND ts <= ?"
    return int(conn.execute(sql, (t0, t1)).fetchone()[0])


def points(conn: sqlite3.Connection, t0: float, t1: float) -> list[Point]:
    sql = "SELECT ts, cpu FROM samples WHERE ts > ? AND ts <= ? ORDER BY ts"
    return [Point(ts, cpu, cpu, cpu, ts, ts) for ts, cpu in conn.execute(sql, (t0, t1))]


def gap_ends(conn: sqlite3.Connection, a: float, b: float, limit: float) -> list[float]:
    """Stamps in a < ts <= b that follow their predecessor in the range by more than `limit`."""
    sql = """SELECT ts FROM (SELECT ts, ts - lag(ts) OVER (ORDER BY ts) AS step
             FROM samples WHERE ts > ? AND ts <= ?) WHERE step > ? ORDER BY ts"""
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
              FROM samples WHERE ts > :a AND ts <= :b)
        GROUP BY cell, seg ORDER BY cell, seg"""
    found: dict[int, list[Point]] = {}
    for c, x, mean, low, high, first, last, n in conn.execute(sql, {"a": a, "b": b, "w": width}):
        found.setdefault(int(c), []).append(Point(x, mean, low, high, first, last, int(n)))
    return found


def sample_batches(path: Path, t0: float, t1: float) -> Iterator[list[tuple[float, float]]]:
    """The window's samples, oldest first, in batches each read on its own short connection,
    so a slow client never holds a read transaction open."""
    after = t0
    sql = "SELECT ts, cpu FROM samples WHERE ts > ? AND ts <= ? ORDER BY ts LIMIT ?"
    while True:
        try:
            with open_ro(path) as conn:
                batch = conn.execute(sql, (after, t1, BATCH)).fetchall()
        except Unavailable as exc:
            if exc.state == "no-data":
                return  # no file (yet): no samples
            raise
        if batch:
            yield batch
        if len(batch) < BATCH:
            return
        after = batch[-1][0]
