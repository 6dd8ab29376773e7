"""The collector's steady-state cost per sample beside a bare sampling loop's, both as children."""

import itertools
import sqlite3
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from bench.children import Child, ChildError, clean_env, program
from bench.procstat import rss_mb, run_cpu_seconds, stat_cpu_seconds
from bench.stats import Row, Target, error_row, summarise

SECTION = "collector"
READY = {
    "collector": r"cpuload-collector: writing .* every .* s \(pid (\d+)\)",
    "floor": r"bench-floor: writing .* every .* s \(pid (\d+)\)",
    "v2": r"cpuload-collector: writing .* every .* s \(pid (\d+)\)",
}
# The collector before schema version 3 (no modes, boot ids or pauses): the baseline that the
# modes may cost at most 15 % over, measured beside today's in the same run.
V2_COMMIT = "fdac15b"
CHECKOUT = Path(__file__).resolve().parent.parent


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


def export_v2(work: Path) -> Path:
    """collector/ and shared/ as they were at V2_COMMIT, from this checkout's history."""
    where = work / f"cpuload-{V2_COMMIT}"
    if not where.exists():
        out = subprocess.run(
            ["git", "-C", str(CHECKOUT), "archive", V2_COMMIT, "collector", "shared"],
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=BytesIO(out)) as tar:
            tar.extractall(where, filter="data")
    return where


def start(kind: str, db: Path, interval: float, work: Path) -> Watched:
    """Start `kind` (collector, v2 or floor) writing `db` every `interval` s."""
    flags = ["--db", str(db), "--interval", f"{interval:g}", "--retention-days", "0"]
    env = clean_env(work / f"state-{kind}")
    if kind == "collector":
        argv = [*program("cpuload-collector"), *flags]
    elif kind == "v2":
        # Run the same way: `python -m collector`, with the old tree first on the path.
        env["PYTHONPATH"] = str(export_v2(work))
        argv = [sys.executable, "-m", "collector", *flags]
    else:
        argv = [sys.executable, "-m", "bench.floor_loop", str(db), f"{interval:g}"]
    child = Child(argv, work / f"{kind}.log", env)
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


def v2_row(product: list[list[Reading]], v2: list[list[Reading]], plan: Plan) -> Row:
    """Today's CPU per sample over the v2 collector's, same interval, same run, side by side,
    from both phases (each started first once: the order they wake in shows in the figures)."""
    ours = [v for phase in product for v in per_sample_ms(phase)]
    theirs = [v for phase in v2 for v in per_sample_ms(phase)]
    v2_cpu = summarise(theirs)
    spans = " and ".join(
        f"{span_ms(a):.3f} vs {span_ms(b):.3f} ms" for a, b in zip(product, v2, strict=True)
    )
    note = (
        f"2 phases of {plan.windows} windows of {plan.window} samples at {plan.interval:g} s,"
        f" today's started first in one, v2 in the other; the v2 collector is commit"
        f" {V2_COMMIT} (git archive), run as python -m collector with PYTHONPATH on it;"
        f" utime+stime over each phase, today vs v2: {spans}"
    )
    return Row(
        SECTION,
        "CPU per sample with modes, against the v2 collector",
        "ms",
        summarise(ours),
        v2_cpu.p50,
        f"the v2 collector ({V2_COMMIT}): no modes, boot ids or pauses",
        Target(1.15, "ratio"),
        note,
        {"v2_p95_ms": v2_cpu.p95},
    )


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


def phase(kinds: tuple[str, ...], work: Path, plan: Plan, tag: str) -> dict[str, list[Reading]]:
    """Start `kinds` in that order side by side and read them through the plan's windows."""
    watched: list[Watched] = []
    try:
        for kind in kinds:
            watched.append(start(kind, work / f"{kind}-{tag}.db", plan.interval, work))
        observe(watched, plan)
    finally:
        for w in watched:
            w.db.close()
            w.child.stop()
    return {kind: w.readings for kind, w in zip(kinds, watched, strict=True)}


def measure(work: Path, plan: Plan) -> list[Row]:
    """Run the real collector, the bare loop and the v2 collector side by side, then the two
    collectors again in the other order; their rows, or one error row."""
    try:
        first = phase(("collector", "floor", "v2"), work, plan, "1")
        second = phase(("v2", "collector"), work, plan, "2")
    except (ChildError, OSError, sqlite3.Error, subprocess.CalledProcessError) as exc:
        return [error_row(SECTION, "CPU per sample", "ms", str(exc))]
    both = [first["collector"], second["collector"]], [first["v2"], second["v2"]]
    return [*rows_from(first["collector"], first["floor"], plan), v2_row(*both, plan)]
