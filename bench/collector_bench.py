"""The collector's steady-state cost per sample beside a bare sampling loop's, both as children."""

import itertools
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.children import Child, ChildError, clean_env, program
from bench.procstat import rss_mb, run_cpu_seconds, stat_cpu_seconds
from bench.stats import Row, Target, error_row, summarise

SECTION = "collector"
READY = {
    "collector": r"cpuload-collector: writing .* every .* s \(pid (\d+)\)",
    "floor": r"bench-floor: writing .* every .* s \(pid (\d+)\)",
}


@dataclass(frozen=True)
class Reading:
    run_s: float
    stat_s: float
    samples: int
    rss_mb: float


@dataclass(frozen=True)
class Plan:
    interval: float
    warmup: int
    window: int
    windows: int


class Watched:
    """A sampling child and a read-only look at the rows it wrote."""

    def __init__(self, child: Child, db: Path) -> None:
        self.child = child
        self.db = sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)
        self.readings: list[Reading] = []

    def samples(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM samples").fetchone()[0])

    def read(self) -> Reading:
        pid = self.child.pid
        return Reading(run_cpu_seconds(pid), stat_cpu_seconds(pid), self.samples(), rss_mb(pid))


def start(kind: str, db: Path, interval: float, work: Path) -> Watched:
    if kind == "collector":
        argv = [*program("cpuload-collector"), "--db", str(db), "--interval", f"{interval:g}"]
        argv += ["--retention-days", "0"]
    else:
        argv = [sys.executable, "-m", "bench.floor_loop", str(db), f"{interval:g}"]
    child = Child(argv, work / f"{kind}.log", clean_env(work / f"state-{kind}"))
    child.wait_line(READY[kind])
    return Watched(child, db)


def wait_samples(watched: list[Watched], count: int, plan: Plan) -> None:
    """Sleep until every child has written `count` rows (the children start a moment apart)."""
    deadline = time.monotonic() + 30 + count * plan.interval * 3
    while not all(w.samples() >= count for w in watched):
        for w in watched:
            w.child.check_alive()
        if time.monotonic() > deadline:
            raise ChildError(f"fewer than {count} samples written in time")
        time.sleep(plan.interval / 4)


def observe(watched: list[Watched], plan: Plan) -> None:
    """Readings after the warm-up, then after every window of samples."""
    for k in range(plan.windows + 1):
        wait_samples(watched, plan.warmup + k * plan.window, plan)
        for w in watched:
            w.readings.append(w.read())


def per_sample_ms(readings: list[Reading]) -> list[float]:
    pairs = itertools.pairwise(readings)
    return [1000 * (b.run_s - a.run_s) / (b.samples - a.samples) for a, b in pairs]


def span_ms(readings: list[Reading]) -> float:
    """utime + stime between the first and last reading, per sample (tick resolution)."""
    first, last = readings[0], readings[-1]
    return 1000 * (last.stat_s - first.stat_s) / (last.samples - first.samples)


def rows_from(product: list[Reading], floor: list[Reading], plan: Plan) -> list[Row]:
    cpu, floor_cpu = summarise(per_sample_ms(product)), summarise(per_sample_ms(floor))
    rss, floor_rss = summarise([r.rss_mb for r in product]), summarise([r.rss_mb for r in floor])
    label = "bare loop: psutil.cpu_times() + one INSERT (WAL, synchronous=NORMAL)"
    per_hour = 3600 / 5 / 1000
    note = f"{plan.windows} windows of {plan.window} samples at {plan.interval:g} s"
    return [
        Row(
            SECTION,
            "CPU per sample",
            "ms",
            cpu,
            floor_cpu.p50,
            label,
            Target(0.3),
            note + f"; utime+stime over the span {span_ms(product):.3f} ms",
            {"stat_span_ms": span_ms(product), "floor_stat_span_ms": span_ms(floor)},
        ),
        Row(
            SECTION,
            "CPU per hour at 5 s",
            "s",
            summarise([v * per_hour for v in per_sample_ms(product)]),
            floor_cpu.p50 * per_hour,
            label,
            note="derived: CPU per sample x 720 samples an hour",
        ),
        Row(
            SECTION,
            "resident memory (VmRSS)",
            "MB",
            rss,
            floor_rss.p50,
            label,
            Target(30),
            f"{len(product)} readings, 1 MB = 10^6 bytes",
        ),
    ]


def measure(work: Path, plan: Plan) -> list[Row]:
    """Run the real collector and the bare loop side by side; their rows, or one error row."""
    watched: list[Watched] = []
    try:
        for kind in ("collector", "floor"):
            watched.append(start(kind, work / f"{kind}.db", plan.interval, work))
        observe(watched, plan)
    except (ChildError, OSError, sqlite3.Error) as exc:
        return [error_row(SECTION, "CPU per sample", "ms", str(exc))]
    finally:
        for w in watched:
            w.db.close()
            w.child.stop()
    return rows_from(watched[0].readings, watched[1].readings, plan)
