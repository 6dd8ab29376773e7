"""Honest modes: the real collector's user, system and iowait against /proc/stat read by the test
itself over the same windows, with a busy loop pinned to one CPU."""

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.conftest import Child, wait_for
from tests.test_collector_process import pinned_busy_loop, sleep_until, start

Spawn = Callable[..., Child]
INTERVAL = 1.0
WINDOWS = 12
TOLERANCE = 0.2  # points, on average over the windows


class Jiffies(NamedTuple):
    """The first line of /proc/stat: all CPUs, in USER_HZ ticks."""

    user: int
    nice: int
    system: int
    idle: int
    iowait: int
    irq: int
    softirq: int
    steal: int

    @property
    def total(self) -> int:
        return sum(self)  # guest is inside user already, as the kernel counts it


def proc_stat() -> Jiffies:
    with open("/proc/stat") as f:
        return Jiffies(*(int(x) for x in f.readline().split()[1:9]))


def percent(before: Jiffies, after: Jiffies, mode: str) -> float:
    spent = int(getattr(after, mode)) - int(getattr(before, mode))
    return 100 * spent / (after.total - before.total)


def stored(db: Path, t0: float, t1: float) -> dict[float, tuple[float, float, float]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT ts, user, system, iowait FROM sample_modes WHERE ts > ? AND ts <= ?",
            (t0, t1),
        ).fetchall()
    conn.close()
    return {ts: (u, s, io) for ts, u, s, io in rows if u is not None}


@pytest.mark.slow
def test_user_system_and_iowait_match_proc_stat_over_the_same_windows(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    """~15 s: twelve 1 s windows, the test's own readings taken at the collector's stamps."""
    pinned_busy_loop(spawn)
    db = tmp_path / "c.db"
    start(spawn, base_env, "--db", str(db), "--interval", str(INTERVAL))
    t_a = float(int(time.time()) + 2)  # a stamp ahead
    readings: dict[float, Jiffies] = {}
    for i in range(WINDOWS + 1):
        sleep_until(t_a + i)
        readings[t_a + i] = proc_stat()
    wait_for(lambda: stored(db, t_a, t_a + WINDOWS).get(t_a + WINDOWS), 10, "the last sample")
    theirs = stored(db, t_a, t_a + WINDOWS)
    # A window the collector skipped after a stall (it records the pause) is left out here.
    assert len(theirs) >= WINDOWS - 2, theirs
    mine = {
        ts: tuple(percent(readings[ts - 1], readings[ts], m) for m in ("user", "system", "iowait"))
        for ts in theirs
    }
    offsets = []
    for k, mode in enumerate(("user", "system", "iowait")):
        mean_theirs = sum(v[k] for v in theirs.values()) / len(theirs)
        mean_mine = sum(v[k] for v in mine.values()) / len(mine)
        offsets.append(abs(mean_theirs - mean_mine))
        assert offsets[-1] <= TOLERANCE, (mode, mean_theirs, mean_mine)
    # The busy loop fills one CPU, in user mode: at least that share of all CPU time.
    share = 100 / len(os.sched_getaffinity(0))
    assert sum(v[0] for v in theirs.values()) / len(theirs) >= share / 1.1
    print(
        f"\nmodes vs /proc/stat over {len(theirs)} windows: user {offsets[0]:.3f},"
        f" system {offsets[1]:.3f}, iowait {offsets[2]:.3f} points apart on average"
    )
