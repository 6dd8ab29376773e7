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
INSERT_MODES = (
    f"INSERT INTO samples (ts, cpu, {', '.join(MODE_COLUMNS)})"
    f" VALUES ({', '.join('?' * (2 + len(MODE_COLUMNS)))})"
)
# A plausible split of a busy host's time, in hundredths (what the collector stores): most in
# user, a fifth in system, a little in softirq and irq, nice and steal mostly zero, iowait a
# few tenths. The six busy modes add up to round(cpu x 100), as the collector's do within 3.
SYSTEM, SOFTIRQ, IRQ = 0.22, 0.05, 0.02


def plausible_modes(cpu: float, rng: random.Random) -> tuple[int, ...]:
    """user, nice, system, irq, softirq, steal, iowait for a sample of `cpu` percent busy."""
    busy = round(cpu * 100)
    system, softirq, irq = round(busy * SYSTEM), round(busy * SOFTIRQ), round(busy * IRQ)
    nice = round(busy * 0.1) if rng.random() < 0.05 else 0  # a niced batch job now and then
    user = busy - system - softirq - irq - nice
    return (user, nice, system, irq, softirq, 0, rng.randrange(0, 300))


class History:
    """A writable database of samples on the interval's grid, ending now; a collector stand-in.

    The grid stops one tick short of now; `add_newest()` puts one sample stamped now after it,
    so a window never holds more samples than the collector would leave in it.
    """

    def __init__(self, path: Path, rows: int, interval: float = INTERVAL, seed: int = 5) -> None:
        self.path = path
        self.rows = rows
        self.interval = interval
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
            "INSERT INTO runs (started, interval, pid, version, boot_id, booted)"
            " VALUES (?, ?, ?, 'bench', 'bench-boot', ?)",
            (started, self.interval, os.getpid(), started - 3600),
        )

    def _append(self, first_tick: int, last_tick: int) -> None:
        """Grid samples with their modes for ticks first..last, in the caller's transaction."""
        ticks = range(first_tick, last_tick + 1)
        self.conn.executemany(INSERT_MODES, (self._sample(t * self.interval) for t in ticks))
        if last_tick >= first_tick:
            self.grid_end = last_tick * self.interval
            self.newest = max(self.newest, self.grid_end)

    def _sample(self, ts: float) -> tuple[float, ...]:
        cpu = self._rng.uniform(0, 100)
        return (ts, cpu, *plausible_modes(cpu, self._rng))

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
        self.conn.execute(INSERT_MODES, self._sample(self.newest))
        self.conn.execute("COMMIT")

    def file_bytes(self) -> int:
        """The database's size at rest: the WAL folded back into the main file first."""
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return self.path.stat().st_size

    def close(self) -> None:
        self.conn.close()
