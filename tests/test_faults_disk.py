"""Fault 2: the database's file system fills up; the collector queues, pings, then catches up.

Also a file system so small that the collector's own WAL fills it, and a stop while the disk is
full. A filled disk alone is not a lasting fault any more: the collector's checkpoint gives back
its WAL's pages and writes on. So the tests also hold a reader in a read transaction (a backup),
which keeps the WAL from being reset, and its growth then meets the full disk.
"""

import errno
import itertools
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Child, require_root, require_tool, wait_for
from tests.fault_figures import FaultFigures
from tests.test_collector_process import pauses, samples, start, unexplained_breaks
from tests.test_notify import Listener

Spawn = Callable[..., Child]
INTERVAL = 0.1
WATCHDOG_USEC = 2_000_000  # the collector pings at least every second, and at every tick


@dataclass
class Outage:
    """What the collector did while the database could not be written."""

    seconds: float
    pings: int
    longest_silence: float
    queued: int
    log: str
    statuses: list[str]


def watched_collector(spawn: Spawn, env: dict[str, str], db: Path, listener: Listener) -> Child:
    env = {**env, "NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    child, _ = start(spawn, env, "--db", str(db), "--interval", str(INTERVAL))
    wait_for(lambda: len(samples(db)) >= 10, 15, "ten samples")
    return child


def through_outage(
    child: Child,
    db: Path,
    listener: Listener,
    hold: float,
    begin: Callable[[], None],
    end: Callable[[], None],
) -> Outage:
    """Start the fault, keep it `hold` s after the collector noticed it, end it, catch up."""
    begin()
    t0 = time.monotonic()
    wait_for(lambda: alive_and_says(child, "cannot write"), 10, "the fault")
    stored = len(samples(db))
    time.sleep(hold)
    child.check_alive()
    assert len(samples(db)) == stored, "the fault did not stop the writes"
    t1 = time.monotonic()
    end()
    wait_for(lambda: "writing works again" in child.output(), 10, "the recovery")
    wait_for(lambda: len(samples(db)) > stored + hold / INTERVAL / 2 + 5, 10, "the catch-up")
    wait_for(lambda: listener.since(t1, prefix="STATUS=newest sample"), 10, "STATUS= again")
    stamps = sorted(t for t, m in list(listener.got) if t0 <= t <= t1 and m == "WATCHDOG=1")
    silences = [b - a for a, b in itertools.pairwise([t0, *stamps, t1])]
    statuses = [m for m in listener.since(t0) if m.startswith("STATUS=")]
    assert child.stop() == 0
    queued = len(samples(db)) - stored
    return Outage(t1 - t0, len(stamps), max(silences), queued, child.output(), statuses)


def every_tick(db: Path, stamps: list[float]) -> bool:
    """No tick missing from first to last, except where the collector itself recorded a pause
    (this shared machine may starve it for two intervals; that is no write fault)."""
    return unexplained_breaks(stamps, INTERVAL, pauses(db)) == []


def alive_and_says(child: Child, text: str) -> bool:
    child.check_alive()
    return text in child.output()


def check_nothing_lost(db: Path, outage: Outage, hold: float, says: str) -> None:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    stamps = [ts for ts, _ in samples(db)]
    assert every_tick(db, stamps), "a sample is missing"
    assert outage.queued >= hold / INTERVAL / 2  # the queued ones are among them
    assert outage.log.count("cannot write") == 1 and says in outage.log, outage.log
    assert outage.log.count("writing works again") == 1
    assert "Traceback" not in outage.log and "lost" not in outage.log
    # systemctl status named the fault while it lasted, then the newest sample again.
    faults = [i for i, m in enumerate(outage.statuses) if m.startswith("STATUS=cannot write")]
    assert faults and says in outage.statuses[faults[0]], outage.statuses
    assert outage.statuses[faults[-1] + 1].startswith("STATUS=newest sample"), outage.statuses
    # The loop pinged the watchdog all along: never silent for the whole WATCHDOG_USEC.
    assert outage.pings >= outage.seconds / (WATCHDOG_USEC / 2e6) - 1
    assert outage.longest_silence < WATCHDOG_USEC / 1e6


def record(faults: FaultFigures, outage: Outage, db: Path, label: str = "") -> None:
    """The outage's figures for docs/reliability.md, each name after `label`."""
    stamps = [ts for ts, _ in samples(db)]
    expected = round((stamps[-1] - stamps[0]) / INTERVAL) + 1
    said = [m for m in outage.statuses if m.startswith("STATUS=cannot write")][-1]
    for name, value, unit in (
        ("interval", INTERVAL, "s"),
        ("time without a successful write", outage.seconds, "s"),
        ("watchdog pings during it", outage.pings, ""),
        ("longest time between two pings", outage.longest_silence, "s"),
        ("watchdog limit (WATCHDOG_USEC)", WATCHDOG_USEC / 1e6, "s"),
        ("samples kept in memory, then written", outage.queued, ""),
        ("what systemctl status said last during it", said.removeprefix("STATUS="), ""),
        ("samples missing between the first and the last", expected - len(stamps), ""),
        ("of them in a pause the collector recorded (starved, not the fault)", gone(db), ""),
    ):
        faults.record(label + name, value, unit)


def gone(db: Path) -> int:
    """Ticks without a sample that lie in a pause the collector recorded."""
    stamps = [ts for ts, _ in samples(db)]
    every = [b - a for a, b in itertools.pairwise(stamps)]
    missing = sum(round(step / INTERVAL) - 1 for step in every)
    return missing - unexplained(db, stamps)


def unexplained(db: Path, stamps: list[float]) -> int:
    """Ticks without a sample that no pause the collector recorded explains."""
    breaks = unexplained_breaks(stamps, INTERVAL, pauses(db))
    return sum(round((b - a) / INTERVAL) - 1 for a, b in breaks)


def summary(outage: Outage) -> str:
    return (
        f"{outage.seconds:.1f} s without writing, {outage.pings} watchdog pings (longest"
        f" silence {outage.longest_silence:.2f} s), {outage.queued} samples written after it"
    )


@pytest.fixture
def listener() -> Iterator[Listener]:
    lst = Listener()
    yield lst
    lst.close()


@contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `where` (made if need be), unmounted on leaving."""
    require_root()
    mount, umount = require_tool("mount"), require_tool("umount")
    where.mkdir(exist_ok=True)
    opts = f"size={size},mode=0755"
    subprocess.run([mount, "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run([umount, "-l", str(where)], check=False)


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs mounted under tmp_path, unmounted in teardown."""
    with tmpfs(tmp_path / "small", "2m") as where:
        yield where


class Snapshot:
    """A reader inside a read transaction (a backup, a long query) until release()."""

    def __init__(self, db: Path) -> None:
        self.conn: sqlite3.Connection | None = None
        self.db = db

    def hold(self) -> None:
        self.conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, isolation_level=None)
        self.conn.execute("BEGIN")
        self.conn.execute("SELECT count(*) FROM samples").fetchone()

    def release(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def fill(directory: Path) -> Path:
    """Write a file until the file system is full, down to its last page."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 512):
            write_until_full(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


def write_until_full(fd: int, chunk: bytes) -> None:
    try:
        while True:
            os.write(fd, chunk)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise


@pytest.mark.slow
def test_a_full_disk_queues_samples_pings_the_watchdog_and_writes_them_all_when_space_returns(
    small_fs: Path,
    spawn: Spawn,
    base_env: dict[str, str],
    listener: Listener,
    faults: FaultFigures,
) -> None:
    """~8 s: full for 3 s (30 intervals) after the collector first failed to write."""
    db = small_fs / "c.db"
    child = watched_collector(spawn, base_env, db, listener)
    filler: list[Path] = []
    reader = Snapshot(db)

    def begin() -> None:
        reader.hold()
        filler.append(fill(small_fs))

    def end() -> None:
        filler[0].unlink()
        reader.release()

    try:
        outage = through_outage(child, db, listener, 3.0, begin, end)
    finally:
        reader.release()
    check_nothing_lost(db, outage, 3.0, "full")
    record(faults, outage, db, "full disk: ")
    print(f"\ndisk full: {summary(outage)}")


@pytest.mark.slow
def test_a_file_system_its_own_wal_would_fill_keeps_taking_every_sample(
    tmp_path: Path,
    spawn: Spawn,
    base_env: dict[str, str],
    listener: Listener,
    faults: FaultFigures,
) -> None:
    """~15 s: 120 samples at 0.1 s on 200 kB. The first version stopped for good after 33,
    when its WAL (SQLite checkpoints at 1,000 pages, 4 MB) had filled the disk."""
    with tmpfs(tmp_path / "tiny", "200k") as tiny:
        db = tiny / "t.db"
        env = {**base_env, "NOTIFY_SOCKET": listener.path}
        child, _ = start(spawn, env, "--db", str(db), "--interval", str(INTERVAL))
        wait_for(lambda: alive_and_count(child, db) >= 120, 60, "120 samples on 200 kB")
        assert child.stop() == 0
        stamps = [ts for ts, _ in samples(db)]
        whole = every_tick(db, stamps)
        missing = unexplained(db, stamps)
        out = child.output()
        size = sum(p.stat().st_size for p in tiny.iterdir())
    assert whole and len(stamps) >= 120, out
    assert "lost" not in out and "Traceback" not in out, out
    faults.record("200 kB file system: samples taken at 0.1 s", len(stamps))
    faults.record("200 kB file system: ticks missing (no recorded pause)", missing)
    faults.record("200 kB file system: bytes used at the stop", size, "B")
    said = logged(out, "folding the WAL back after every write").replace(str(db), "FILE")
    faults.record("200 kB file system: the log's line about it", said)
    print(f"\n200 kB tmpfs: {len(stamps)} samples in order, {size} bytes used; log:\n{out}")


def logged(out: str, words: str) -> str:
    """The message of the first log line that holds `words`, without its time and level."""
    lines = [line for line in out.splitlines() if words in line]
    return lines[0].split(" ", 2)[-1] if lines else "(not logged)"


def alive_and_count(child: Child, db: Path) -> int:
    child.check_alive()
    return len(samples(db))


@pytest.mark.slow
def test_a_stop_while_the_disk_is_full_writes_everything_once_space_returns(
    small_fs: Path,
    spawn: Spawn,
    base_env: dict[str, str],
    listener: Listener,
    faults: FaultFigures,
) -> None:
    """~5 s: SIGTERM while the disk is full; the test frees the space when STATUS= says that
    samples wait, and they are written before the collector exits 0."""
    db = small_fs / "c.db"
    child = watched_collector(spawn, base_env, db, listener)
    reader = Snapshot(db)
    try:
        reader.hold()
        filler = fill(small_fs)
        t0 = time.monotonic()
        wait_for(lambda: listener.since(t0, prefix="STATUS=cannot write"), 10, "the fault")
        t1, stopped_at = time.monotonic(), time.time()
        child.proc.send_signal(signal.SIGTERM)
        waiting = wait_for(lambda: listener.since(t1, prefix="STATUS=stopping: "), 10, "stop")
        filler.unlink()
        reader.release()
        code = child.proc.wait(15)
        assert code == 0
    finally:
        reader.release()
    out = child.output()
    stamps = [ts for ts, _ in samples(db)]
    # Every sample up to the stop, the ones queued while the disk was full among them.
    assert every_tick(db, stamps) and stamps[-1] >= stopped_at - 3 * INTERVAL, out
    assert "lost" not in out and "Traceback" not in out, out
    assert "writing works again" in out, out
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT stopped FROM runs").fetchone()[0] is not None
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    status = waiting[0].removeprefix("STATUS=")
    faults.record("stop while full: samples waiting at SIGTERM", int(status.split()[1]))
    faults.record("stop while full: what systemctl status said", status)
    faults.record("stop while full: ticks missing up to the stop", unexplained(db, stamps))
    faults.record("stop while full: exit status", code)
    print(f"\nstop while full: {waiting[0]}")
