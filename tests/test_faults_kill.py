"""Fault 1: the collector SIGKILLed at random moments 50 times while a reader and viewer watch."""

import random
import signal
import sqlite3
import threading
import time
import urllib.error
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Child, wait_for
from tests.fault_figures import FaultFigures
from tests.test_viewer_process import COLLECTOR, VIEWER, get, start_viewer

Spawn = Callable[..., Child]
KILLS = 50
INTERVAL = "0.1"


class Reader(threading.Thread):
    """Reads the file all the time on its own read-only connection, recording every sample."""

    def __init__(self, db: Path) -> None:
        super().__init__(daemon=True)
        self.db = db
        self.seen: dict[float, float] = {}
        self.reads = 0
        self.errors: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
        last = 0.0
        while not self.done.is_set():
            try:
                rows = conn.execute(
                    "SELECT ts, cpu FROM samples WHERE ts > ? ORDER BY ts", (last,)
                ).fetchall()
            except sqlite3.Error as exc:  # recorded, and the test fails on it
                self.errors.append(str(exc))
                continue
            self.reads += 1
            for ts, cpu in rows:
                self.seen[ts] = cpu
            last = rows[-1][0] if rows else last
            time.sleep(0.01)
        conn.close()


class Poller(threading.Thread):
    """Asks the viewer for /healthz (and now and then the page) all the time."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.codes: dict[int, int] = {}
        self.failures: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.done.is_set():
            path = "" if n % 5 == 0 else "healthz"
            try:
                code, body = get(self.base + path)
            except (OSError, urllib.error.URLError) as exc:
                self.failures.append(f"{path}: {exc}")
                continue
            self.codes[code] = self.codes.get(code, 0) + 1
            # While a collector restarts the newest sample may pass 3 intervals: "stale" is
            # the right answer then; the page itself must always be there.
            stale = path == "healthz" and code == 503 and b'"status": "stale"' in body
            if not (code == 200 or stale) or b"Traceback" in body:
                self.failures.append(f"{path}: {code} {body[:200]!r}")
            n += 1
            time.sleep(0.05)


def started(child: Child) -> bool:
    child.check_alive()
    return "writing" in child.output()


@pytest.mark.slow
def test_fifty_sigkills_lose_nothing_a_reader_saw_and_the_viewer_answers_throughout(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str], faults: FaultFigures
) -> None:
    """~40 s. Each kill comes at a random moment 0.05 to 1.0 s after the spawn: some during
    start-up (open, migrate, WAL switch, the run's row), most while sampling and writing."""
    db = tmp_path / "c.db"
    argv = [*COLLECTOR, "--db", str(db), "--interval", INTERVAL]
    first = spawn(argv, env=base_env, name="collector")
    wait_for(lambda: started(first), 15, "the first start")
    _, base = start_viewer(spawn, [*VIEWER, "--db", str(db), "--port", "0"], base_env)
    reader, poller = Reader(db), Poller(base)
    reader.start()
    poller.start()
    rng = random.Random()
    seed = rng.randrange(2**32)
    rng.seed(seed)
    children = [first]
    killed_while: list[bool] = []  # True when the kill came after the startup line
    for _ in range(KILLS):
        time.sleep(rng.uniform(0.05, 1.0))
        child = children[-1]
        killed_while.append("writing" in child.output())
        assert child.alive(), f"the collector died by itself (seed {seed}):\n{child.output()}"
        child.stop(signal.SIGKILL)
        children.append(spawn(argv, env=base_env, name="collector"))
    child = children[-1]
    wait_for(lambda: started(child), 15, "the last start")
    count = len(reader.seen)
    wait_for(lambda: len(reader.seen) > count + 5, 15, "samples after the last restart")
    reader.done.set()
    poller.done.set()
    reader.join(5)
    poller.join(15)
    assert child.stop() == 0
    assert not [c.log for c in children if "Traceback" in c.log.read_text()]

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    stored = dict(conn.execute("SELECT ts, cpu FROM samples").fetchall())
    total, distinct = conn.execute("SELECT count(*), count(DISTINCT ts) FROM samples").fetchone()
    runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    conn.close()
    missing = {ts: cpu for ts, cpu in reader.seen.items() if stored.get(ts) != cpu}
    assert not reader.errors, reader.errors[:5]
    assert not missing, f"{len(missing)} samples seen by the reader are gone (seed {seed})"
    assert total == distinct == len(stored)
    assert all(round(ts * 10) / 10 == ts for ts in stored), "a stamp off the 0.1 s grid"
    assert not poller.failures, poller.failures[:5]
    assert sum(poller.codes.values()) >= 100
    faults.record("SIGKILLs, each 0.05 to 1.0 s after the start", KILLS)
    faults.record("of them after the startup line", sum(killed_while))
    faults.record("runs recorded in the database", runs)
    faults.record("samples a reader saw committed", len(reader.seen))
    faults.record("of them gone or changed after all the restarts", len(missing))
    faults.record("duplicate stamps", total - distinct)
    answers = ", ".join(f"{n} x {code}" for code, n in sorted(poller.codes.items()))
    faults.record("viewer answers (503 only as /healthz saying stale)", answers)
    print(
        f"\nkills={KILLS} (after the startup line: {sum(killed_while)}) seed={seed}"
        f" runs={runs} seen={len(reader.seen)} stored={total} reads={reader.reads}"
        f" viewer={poller.codes}"
    )
