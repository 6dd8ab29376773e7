"""Pure: where a window has no data, and why (the collector's records name the cause).

A gap is a span with no data: between two consecutive samples further apart than the gap
limit of the later one's run, from the window's start to its first sample, or from its last
sample to the window's end, when longer than the limit. Its cause comes from the whole span
(a, b) between the samples around it, also when the window cuts it.
"""

import bisect
import itertools
from collections.abc import Iterable, Sequence
from typing import Literal, NamedTuple

from viewer.facts import Run, duration, limit_at, run_index

Cause = Literal[
    "before-history",
    "collector-stopped",
    "collector-killed",
    "host-restarted",
    "host-suspended",
    "collector-stalled",
    "collector-not-running",
    "unknown",
]
# What each cause means, for the page's legend and the docs; the order is the legend's.
CAUSES: dict[Cause, str] = {
    "collector-stopped": "the collector was stopped cleanly; the host kept running",
    "collector-killed": "the collector ended without a clean stop (killed, crashed, no memory)",
    "host-restarted": "the host booted in between",
    "host-suspended": "the host slept (suspend or hibernation)",
    "collector-stalled": "the collector ran but took no sample (stopped, starved)",
    "collector-not-running": "no sample since, and no collector holds the database now",
    "before-history": "before the oldest sample (nothing recorded yet, or deleted by retention)",
    "unknown": "the records needed to tell are missing (older files, rows put in by hand)",
}


class Pause(NamedTuple):
    """A pause the collector recorded inside a run: a stall, or the host asleep."""

    run: int
    start: float
    stop: float
    kind: str  # "suspend" or "stall"
    slept: float


class Hole(NamedTuple):
    """Where a window has no data: [start, end] inside it, and the samples around it."""

    start: float
    end: float
    before: float | None  # the sample before it, in the window or not; None: none at all
    after: float | None  # the sample after it; None: none yet


class Gap(NamedTuple):
    start: float
    end: float
    cause: Cause
    detail: str

    @property
    def seconds(self) -> float:
        return self.end - self.start


def holes(
    firsts_lasts: Sequence[tuple[float, float]],
    runs: Sequence[Run],
    t0: float,
    t1: float,
    before: float | None,
    after: float | None,
) -> list[Hole]:
    """The holes of (t0, t1] given its points' (first, last) stamps, oldest first, and the
    samples just outside it (`before` <= t0 < t1 < `after`)."""
    if not firsts_lasts:
        return [Hole(t0, t1, before, after)] if t1 - t0 > limit_at(runs, t1) else []
    found: list[Hole] = []
    first = firsts_lasts[0][0]
    if first - t0 > limit_at(runs, first):
        found.append(Hole(t0, first, before, first))
    for (_, last), (nxt, _) in itertools.pairwise(firsts_lasts):
        if nxt - last > limit_at(runs, nxt):
            found.append(Hole(last, nxt, last, nxt))
    last = firsts_lasts[-1][1]
    if t1 - last > limit_at(runs, t1):
        found.append(Hole(last, t1, last, after))
    return found


def name(
    found: Iterable[Hole], runs: Sequence[Run], pauses: Sequence[Pause], collector: bool
) -> list[Gap]:
    """Each hole with its cause and detail, by the rules in the module's docstring order."""
    return [Gap(h.start, h.end, *cause(h.before, h.after, runs, pauses, collector)) for h in found]


def cause(
    a: float | None,
    b: float | None,
    runs: Sequence[Run],
    pauses: Sequence[Pause],
    collector: bool,
) -> tuple[Cause, str]:
    """Why there is no sample between a and b (None: no sample before / none after)."""
    if a is None:
        return "before-history", ""
    if b is None:
        if collector:
            return "collector-stalled", "a collector holds the database but wrote no sample since"
        return "collector-not-running", ""
    ra, rb = run_of(runs, a), run_of(runs, b)
    if ra is None or rb is None or ra.boot_id is None or rb.boot_id is None:
        return "unknown", "no run with boot records holds the samples on both sides"
    if ra.boot_id != rb.boot_id:
        return "host-restarted", _how_it_ended(ra)
    if ra.id == rb.id:
        return _pause_cause([p for p in pauses if p.run == ra.id and p.start < b and p.stop > a])
    if ra.stopped is not None:
        return "collector-stopped", ""
    return "collector-killed", ""


def run_of(runs: Sequence[Run], ts: float) -> Run | None:
    """The run a sample at `ts` belongs to: the latest started at or before it, unless that run
    had stopped cleanly before it (a row put in by hand between runs)."""
    i = run_index(runs, ts)
    if i < 0:
        return None
    run = runs[i]
    return None if run.stopped is not None and ts > run.stopped else run


def _how_it_ended(run: Run) -> str:
    if run.stopped is not None:
        return "the collector had stopped cleanly before the reboot"
    return "the collector did not stop cleanly before the reboot (power cut, crash or reset)"


def _pause_cause(found: Sequence[Pause]) -> tuple[Cause, str]:
    if not found:
        return "unknown", "the collector recorded no pause in this run"
    slept = sum(p.slept for p in found if p.kind == "suspend")
    stalled = [p for p in found if p.kind == "stall"]
    if slept:
        also = f"; also stalled {len(stalled)} time(s)" if stalled else ""
        return "host-suspended", f"slept {duration(slept)}{also}"
    return "collector-stalled", f"no reading for {duration(max(p.stop - p.start for p in found))}"


def cut_minutes(minutes: Sequence[float], spans: Sequence[tuple[float, float]]) -> set[float]:
    """The minutes M (holding M < ts <= M + 60) that a span with no data overlaps."""
    cut: set[float] = set()
    starts = sorted(minutes)
    for a, b in spans:
        i = bisect.bisect_right(starts, a - 60)
        while i < len(starts) and starts[i] < b:
            cut.add(starts[i])
            i += 1
    return cut
