"""Synthetic sample history in databases made by shared.schema.migrate(), filled fast."""

import math
import os
import random
import sqlite3
import time
from pathlib import Path

from shared.schema import MODE_COLUMNS, migrate

INTERVAL = 5.0
BATCH = 250_000
INSERT = "INSERT INTO samples (ts, cpu) VALUES (?, ?)"
INSERT_MODES = f"INSERT INTO samples (ts, cpu, {', '.join(MODE_COLUMNS)}) VALUES ({'?, ' * 8}?)"


class History:
    """A writable database of samples on the interval's grid, ending now; a collector stand-in.

    The grid stops one tick short of now; `add_newest()` puts one sample stamped now after it,
    so a window never holds more samples than the collector would leave in it.
    """

    def __init__(
        self, path: Path, rows: int, interval: float = INTERVAL, seed: int = 5, modes: bool = False
    ) -> None:
        self.path = path
        self.rows = rows
        self.interval = interval
        self.modes = modes  # each sample split over the CPU modes, as the collector writes it
        self._rng = random.Random(seed)
        self.conn = sqlite3.connect(path, isolation_level=None)
        migrate(self.conn)
        last = self._last_tick()
        self.grid_end = (last - rows) * interval  # the newest sample on the grid
        self.newest = self.grid_end  # the newest of all, add_newest()'s included
        self._record_run(self.grid_end)
        self.conn.execute("PRAGMA synchronous = OFF")
        for start in range(last - rows + 1, last + 1, BATCH):
            self.conn.execute("BEGIN")
            self._append(start, min(start + BATCH - 1, last))
            self.conn.execute("COMMIT")
        # WAL and synchronous=NORMAL from here on, as the collector keeps it while running.
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")

    def _last_tick(self) -> int:
        return math.floor(time.time() / self.interval) - 1

    def _record_run(self, started: float) -> None:
        self.conn.execute(
            "INSERT INTO runs (started, interval, pid, version) VALUES (?, ?, ?, 'bench')",
            (started, self.interval, os.getpid()),
        )

    def _append(self, first_tick: int, last_tick: int) -> None:
        """Grid samples for ticks first..last, in the caller's transaction."""
        ticks = range(first_tick, last_tick + 1)
        if self.modes:
            self.conn.executemany(INSERT_MODES, (self._moded(t * self.interval) for t in ticks))
        else:
            uniform = self._rng.uniform
            self.conn.executemany(INSERT, ((t * self.interval, uniform(0, 100)) for t in ticks))
        if last_tick >= first_tick:
            self.grid_end = last_tick * self.interval
            self.newest = max(self.newest, self.grid_end)

    def _catch_up(self) -> None:
        """Drop add_newest()'s sample and extend the grid to one tick before now."""
        if self.newest > self.grid_end:
            self.conn.execute("DELETE FROM samples WHERE ts = ?", (self.newest,))
            self.newest = self.grid_end
        self._append(round(self.grid_end / self.interval) + 1, self._last_tick())

    def top_up(self) -> None:
        """Bring the history up to now again (before a viewer starts on it)."""
        self.conn.execute("BEGIN IMMEDIATE")
        self._catch_up()
        self.conn.execute("COMMIT")

    def add_newest(self) -> None:
        """One new sample, stamped now and newer than any, so no cached chart can answer."""
        self.conn.execute("BEGIN IMMEDIATE")
        self._catch_up()
        self.newest = max(round(time.time(), 3), self.grid_end + 0.001)
        if self.modes:
            self.conn.execute(INSERT_MODES, self._moded(self.newest))
        else:
            self.conn.execute(INSERT, (self.newest, self._rng.uniform(0, 100)))
        self.conn.execute("COMMIT")

    def _moded(self, ts: float) -> tuple[float, ...]:
        """A sample whose six busy modes (hundredths of a percent) add up to its cpu."""
        r = self._rng.randint
        user, system, softirq, iowait = r(0, 7000), r(0, 2000), r(0, 500), r(0, 500)
        return (ts, (user + system + softirq) / 100, user, 0, system, 0, softirq, 0, iowait)

    def file_bytes(self) -> int:
        """The database's size at rest: the WAL folded back into the main file first."""
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return self.path.stat().st_size

    def close(self) -> None:
        self.conn.close()
