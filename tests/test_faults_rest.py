"""Fault 9: clean stops while another reader holds the file open, then the owner's sqlite3 shell.

The collector can switch the file back to rollback mode at a clean stop only when no other
connection is open. A reader that holds it (a sqlite3 shell, a backup) leaves it in WAL mode;
when the last connection that may write closes (the owner running `sqlite3 file ...`), SQLite
takes the -wal and -shm away, and a viewer that may not write the directory cannot open the
file `mode=ro` any more. It reads it as immutable then, while no collector holds the lock.
"""

import fcntl
import json
import os
import sqlite3
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.lockfile import lock_path
from tests.conftest import Child, free_port, require_root, require_tool, wait_for
from tests.fault_figures import FaultFigures
from tests.test_collector_process import samples
from tests.test_viewer_process import (
    COLLECTOR,
    get,
    read_only_viewer,
    start_collector,
    start_viewer,
)

Spawn = Callable[..., Child]
STOPS = 20
ROUTES = ("", "charts/instant.svg", "charts/average.svg", "api/samples", "api/averages")


class Poller(threading.Thread):
    """Asks the viewer for every route, one after another, until told to stop."""

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.rounds = 0
        self.answers = 0
        self.failures: list[str] = []
        self.health: Counter[str] = Counter()  # /healthz's statuses
        self.done = threading.Event()
        self.go = threading.Event()  # cleared: hold still between two rounds
        self.still = threading.Event()
        self.go.set()

    def run(self) -> None:
        while not self.done.is_set():
            if not self.go.is_set():
                self.still.set()
                self.go.wait()
                self.still.clear()
            for route in ROUTES:
                code, body = get(self.base + route)
                self.answers += 1
                if code != 200:
                    self.failures.append(f"/{route}: {code} {body[:200]!r}")
            code, body = get(self.base + "healthz")
            # No collector runs between the stops: "stale" is right; "error" never is.
            status = json.loads(body)["status"]
            self.health[status] += 1
            if status not in ("ok", "stale"):
                self.failures.append(f"/healthz: {code} {body[:200]!r}")
            self.rounds += 1

    def rounds_from_now(self, n: int) -> Callable[[], bool]:
        target = self.rounds + n
        return lambda: self.rounds >= target


def more_than(db: Path, count: int) -> Callable[[], bool]:
    return lambda: len(samples(db)) > count


@pytest.mark.slow
def test_clean_stops_under_a_held_reader_then_the_owners_sqlite3_never_close_the_viewer(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str], faults: FaultFigures
) -> None:
    """~60 s: 20 starts and clean stops at 0.1 s, each stop waiting its second for the reader."""
    require_root()
    shell = require_tool("sqlite3")
    state = tmp_path / "state"
    state.mkdir()
    db = state / "cpuload.db"
    argv = [*COLLECTOR, "--db", str(db), "--interval", "0.1"]
    first = start_collector(spawn, argv, base_env)
    wait_for(lambda: samples(db), 10, "a first sample")
    _, base = start_viewer(spawn, read_only_viewer(state, db, free_port()), base_env)
    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True)  # a backup, holding the file
    reader.execute("SELECT count(*) FROM samples").fetchone()
    poller = Poller(base)
    poller.start()
    warned = 0
    try:
        child = first
        for i in range(STOPS):
            if i:
                child = start_collector(spawn, argv, base_env)
            wait_for(more_than(db, len(samples(db))), 10, "a new sample")
            assert child.stop() == 0
            warned += "stays in WAL mode" in child.output()
        reader.close()
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            stored = conn.execute("SELECT count(*) FROM samples").fetchone()[0]
        conn.close()
        # The owner's look: not -readonly, so closing it, as the last connection, takes the
        # -wal and -shm away (the viewer holds a connection only while it answers). From here
        # the test opens the file no more: a mode=ro open here, where the directory may be
        # written, would make a new -shm.
        poller.go.clear()
        assert poller.still.wait(30)
        out = subprocess.run(
            [shell, str(db), "SELECT count(*) FROM samples"], capture_output=True, text=True
        )
        assert out.returncode == 0 and int(out.stdout) == stored, out
        left = sorted(p.name for p in state.iterdir())
        assert left == ["cpuload.db", "cpuload.db.lock"]
        poller.go.set()
        wait_for(poller.rounds_from_now(5), 30, "five rounds of every route after it")
        poller.go.clear()
        assert poller.still.wait(30)
        # While a collector holds the lock the file may change: no immutable read then.
        fd = os.open(lock_path(db), os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            held = get(base + "api/samples")
        finally:
            os.close(fd)
        assert held[0] == 503 and b"unable to open" in held[1], held
        released = get(base + "api/samples")[0]
        assert released == 200
    finally:
        poller.done.set()
        poller.go.set()
        poller.join(30)
        reader.close()
    assert warned == STOPS, "a stop under a held reader must say that the file stays in WAL"
    assert not poller.failures, poller.failures[:5]
    faults.record("clean stops while a reader held the file", STOPS)
    faults.record("of them that said it stays in WAL mode, and exited 0", warned)
    faults.record("files left after the owner's sqlite3 closed", ", ".join(left))
    faults.record("viewer answers to every route all along, all 200", poller.answers)
    said = ", ".join(f"{n} x {status}" for status, n in sorted(poller.health.items()))
    faults.record("/healthz said (no collector between the stops: stale)", said)
    faults.record("/api/samples while the test held the collector's lock", held[0])
    faults.record("/api/samples once it let go", released)
    print(f"\n{STOPS} stops, {poller.answers} answers, {poller.rounds} rounds, all 200")
