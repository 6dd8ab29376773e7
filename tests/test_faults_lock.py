"""Fault 3: another process holds a write transaction on the database for a long time."""

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Child, wait_for
from tests.fault_figures import FaultFigures
from tests.test_faults_disk import (
    check_nothing_lost,
    record,
    summary,
    through_outage,
    watched_collector,
)
from tests.test_notify import Listener
from tests.test_viewer_process import VIEWER, get, start_viewer

Spawn = Callable[..., Child]
HOLD = 30.0  # the 30 s: 300 intervals at 0.1 s

# What a person does in the sqlite3 shell: BEGIN IMMEDIATE, an insert, and then nothing.
HOLDER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO samples (ts, cpu) VALUES (1, 50)")
print("holding", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


class Holder:
    """A separate process holding the write lock until release()."""

    def __init__(self, db: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def hold(self) -> None:
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline() == "holding\n"

    def release(self) -> None:
        self.proc.communicate("\n", timeout=10)
        assert self.proc.returncode == 0


@pytest.mark.slow
def test_a_write_transaction_held_elsewhere_for_30_s_loses_nothing(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str], faults: FaultFigures
) -> None:
    """~34 s: the lock is held 30 s at --interval 0.1 while the viewer keeps answering."""
    db = tmp_path / "c.db"
    listener = Listener()
    try:
        child = watched_collector(spawn, base_env, db, listener)
        _, base = start_viewer(spawn, [*VIEWER, "--db", str(db), "--port", "0"], base_env)
        holder = Holder(db)
        answers: list[int] = []
        stop = threading.Event()

        def poll() -> None:
            while not stop.wait(0.2):
                answers.append(get(base + "healthz")[0])
                answers.append(get(base)[0])

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        try:
            outage = through_outage(child, db, listener, HOLD, holder.hold, holder.release)
        finally:
            stop.set()
            poller.join(15)
            if holder.proc.poll() is None:
                holder.proc.kill()
        check_nothing_lost(db, outage, HOLD, "database is locked")
    finally:
        listener.close()
    # Readers are never blocked by the held write lock: the page answered all along, and
    # /healthz said "stale" (503) only because no new sample became visible.
    assert set(answers) <= {200, 503} and len(answers) >= 20
    wait_for(lambda: get(base + "healthz")[0] == 503, 5, "healthz stale after the stop")
    record(faults, outage, db)
    codes = ", ".join(f"{answers.count(c)} x {c}" for c in sorted(set(answers)))
    faults.record("viewer answers during the lock (503 only as /healthz saying stale)", codes)
    print(f"\nlock held: {summary(outage)}; viewer answers {sorted(set(answers))} x{len(answers)}")
