"""The small things every answer depends on, read in one go: runs, newest and oldest sample,
what changed, and whether a collector holds the database now."""

import bisect
import math
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, NamedTuple

from shared.lockfile import collector_holds
from shared.schema import gap_limit
from shared.schema import read_version as _schema_version

# The collector's default, used only for a file that records no run at all.
DEFAULT_INTERVAL = 5.0
# A row is a sample only if it passes the schema's CHECKs: with them switched off (PRAGMA
# ignore_check_constraints) a person can put text in cpu, and such a row is skipped, not
# drawn. SQLite orders numbers below text and blobs, so a numeric range lets only numbers
# through: the ts bounds of every query do it for ts, this does it for cpu.
SAMPLE = "cpu BETWEEN 0 AND 100"

State = Literal["running", "stale", "no-data", "error"]


class Run(NamedTuple):
    """One start of the collector, as recorded in `runs` (later columns None in older files)."""

    id: int
    started: float
    interval: float
    stopped: float | None = None
    boot_id: str | None = None
    booted: float | None = None


class Facts(NamedTuple):
    version: int
    runs: tuple[Run, ...]
    newest: tuple[float, float] | None  # (ts, cpu) of the newest sample at or before now
    oldest: float | None
    pauses: tuple[int, int]  # how many, the highest id: enough to know they changed
    edits: int  # the highest seq of `edits`; -1 where the file has no such log (before v3)
    collector: bool  # a collector holds the database's lock now


class Status(NamedTuple):
    """The collector's state as the page, /healthz and /metrics tell it."""

    state: State
    reason: str
    interval: float | None = None
    newest: tuple[float, float] | None = None
    age: float | None = None
    writing: bool = False  # a collector holds the database's lock now


def read(conn: sqlite3.Connection, db: Path, now: float) -> Facts:
    version = _schema_version(conn)
    newest = conn.execute(
        f"SELECT ts, cpu FROM samples WHERE ts <= ? AND {SAMPLE} ORDER BY ts DESC LIMIT 1",
        (now,),
    ).fetchone()
    oldest = conn.execute(
        f"SELECT ts FROM samples WHERE ts > 0 AND {SAMPLE} ORDER BY ts LIMIT 1"
    ).fetchone()
    pauses, edits = (0, 0), -1
    if version >= 3:
        pauses = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM pauses").fetchone()
        edits = conn.execute("SELECT coalesce(max(seq), 0) FROM edits").fetchone()[0]
    return Facts(
        version,
        read_runs(conn, version),
        (float(newest[0]), float(newest[1])) if newest else None,
        float(oldest[0]) if oldest else None,
        (int(pauses[0]), int(pauses[1])),
        int(edits),
        collector_holds(db),
    )


def read_runs(conn: sqlite3.Connection, version: int) -> tuple[Run, ...]:
    """Every run, oldest first; rows whose times are not numbers (hand-made) are skipped."""
    later = ("stopped", "boot_id", "booted")[: 0 if version < 2 else 1 if version < 3 else 3]
    columns = ", ".join(["id", "started", "interval", *later])
    rows = conn.execute(
        f"SELECT {columns} FROM runs WHERE typeof(started) IN ('integer', 'real')"
        " AND typeof(interval) IN ('integer', 'real') AND interval > 0 ORDER BY started, id"
    ).fetchall()
    return tuple(_run(row) for row in rows)


def _run(row: Sequence[object]) -> Run:
    stopped = row[3] if len(row) > 3 and isinstance(row[3], int | float) else None
    boot = row[4] if len(row) > 4 and isinstance(row[4], str) else None
    booted = row[5] if len(row) > 5 and isinstance(row[5], int | float) else None
    return Run(
        int(row[0]),  # type: ignore[call-overload]
        float(row[1]),  # type: ignore[arg-type]
        float(row[2]),  # type: ignore[arg-type]
        None if stopped is None else float(stopped),
        boot,
        None if booted is None else float(booted),
    )


def run_index(runs: Sequence[Run], ts: float) -> int:
    """The index of the run with the greatest start <= ts; -1 before the first run."""
    return bisect.bisect_right(runs, ts, key=lambda r: r.started) - 1


def interval_at(runs: Sequence[Run], ts: float) -> float:
    """The interval of the run a sample at `ts` belongs to; before the first run, the first's."""
    if not runs:
        return DEFAULT_INTERVAL
    return runs[max(run_index(runs, ts), 0)].interval


def limit_at(runs: Sequence[Run], ts: float) -> float:
    """A step ending at `ts` longer than this is a gap (judged by the later sample's run)."""
    return gap_limit(interval_at(runs, ts))


def latest_interval(runs: Sequence[Run]) -> float:
    """The interval of the newest run: the one the collector runs at, if it runs."""
    return runs[-1].interval if runs else DEFAULT_INTERVAL


def stretches(runs: Sequence[Run], t0: float, t1: float) -> list[tuple[float, float]]:
    """(start, interval) of the stretches of equal interval overlapping (t0, t1], oldest first;
    the first starts at -inf (samples before the first run take its interval)."""
    if not runs:
        return [(float("-inf"), DEFAULT_INTERVAL)]
    out = [(float("-inf"), runs[0].interval)]
    for r in runs[1:]:
        if r.interval != out[-1][1]:
            out.append((r.started, r.interval))
    first = max(bisect.bisect_right(out, t0, key=lambda s: s[0]) - 1, 0)
    last = bisect.bisect_right(out, t1, key=lambda s: s[0])
    return out[first:last]


def stretch_limits(runs: Sequence[Run], t0: float, t1: float) -> tuple[list[float], list[float]]:
    """For one walk over stamps in (t0, t1], oldest first: where each stretch of equal
    interval after the first starts (then inf), and each stretch's gap limit. Step k on while
    ts >= starts[k]; limits[k] is then the limit of the step that ends at ts."""
    parts = stretches(runs, t0, t1)
    return [start for start, _ in parts[1:]] + [math.inf], [gap_limit(iv) for _, iv in parts]


def status(facts: Facts | None, now: float, reason: str = "", state: State = "error") -> Status:
    """ "running" while the newest sample is younger than 3 x interval, else "stale" or
    "no-data"; a file that could not be read is `state` with the `reason` given."""
    if facts is None:
        return Status(state, reason)
    interval = latest_interval(facts.runs)
    if facts.newest is None:
        why = "the database holds no sample yet; is cpuload-collector running?"
        return Status("no-data", why, interval)
    age = now - facts.newest[0]
    if age < 3 * interval:
        return Status("running", "", interval, facts.newest, age, facts.collector)
    why = f"the newest sample is {duration(age)} old (interval {interval:g} s); " + (
        "cpuload-collector holds the database but takes no samples: is it stopped (SIGSTOP)"
        " or starved of CPU?"
        if facts.collector
        else "is cpuload-collector running?"
    )
    return Status("stale", why, interval, facts.newest, age, facts.collector)


def duration(seconds: float) -> str:
    """12.5 s, 3 min 20 s, 2 h 05 min, 3 d 04 h."""
    if seconds < 60:
        return f"{seconds:.3g} s"
    m, s = divmod(round(seconds), 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min" if h < 48 else f"{h // 24} d {h % 24:02d} h"
