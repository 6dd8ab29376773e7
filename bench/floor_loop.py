"""The collector's floor: a bare loop that reads the CPU counters and inserts one row a sample.

Run as `python -m bench.floor_loop DB INTERVAL`; it stops cleanly on SIGTERM or SIGINT.
"""

import math
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

from shared.schema import migrate

INSERT = "INSERT INTO samples (ts, cpu) VALUES (?, ?)"


def busy_percent(before: Any, after: Any) -> float:
    """psutil's definition: busy is all but idle and iowait; guest is already inside user."""
    guests = ("guest", "guest_nice")
    total = sum(getattr(after, f) - getattr(before, f) for f in after._fields if f not in guests)
    idle = (after.idle - before.idle) + (after.iowait - before.iowait)
    return min(100.0, max(0.0, 100.0 * (total - idle) / total)) if total > 0 else 0.0


def open_db(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def run(conn: sqlite3.Connection, interval: float, stop: list[int]) -> None:
    """Sample on the wall-clock grid of `interval` until `stop` is non-empty."""
    before = psutil.cpu_times()
    tick = math.floor(time.time() / interval)
    while not stop:
        tick = max(tick + 1, math.floor(time.time() / interval))
        delay = tick * interval - time.time()
        if delay > 0:
            time.sleep(delay)
        after = psutil.cpu_times()
        conn.execute(INSERT, (tick * interval, busy_percent(before, after)))
        before = after


def main(argv: list[str]) -> int:
    path, interval = Path(argv[0]), float(argv[1])
    conn = open_db(path)
    stop: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"bench-floor: writing {path} every {interval} s (pid {os.getpid()})", file=sys.stderr)
    run(conn, interval, stop)
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
