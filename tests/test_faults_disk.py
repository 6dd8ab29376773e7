"""Fault 2: the database's file system fills up; the collector queues, pings, then catches up."""

import errno
import itertools
import os
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import Child, require_root, require_tool, wait_for
from tests.fault_figures import FaultFigures
from tests.test_collector_process import consecutive, samples, start
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
    stamps = sorted(t for t, m in list(listener.got) if t0 <= t <= t1 and m == "WATCHDOG=1")
    silences = [b - a for a, b in itertools.pairwise([t0, *stamps, t1])]
    assert child.stop() == 0
    return Outage(t1 - t0, len(stamps), max(silences), len(samples(db)) - stored, child.output())


def alive_and_says(child: Child, text: str) -> bool:
    child.check_alive()
    return text in child.output()


def check_nothing_lost(db: Path, outage: Outage, hold: float, says: str) -> None:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    stamps = [ts for ts, _ in samples(db)]
    assert consecutive(stamps, INTERVAL), "a sample is missing"
    assert outage.queued >= hold / INTERVAL / 2  # the queued ones are among them
    assert outage.log.count("cannot write") == 1 and says in outage.log, outage.log
    assert outage.log.count("writing works again") == 1
    assert "Traceback" not in outage.log
    # The loop pinged the watchdog all along: never silent for the whole WATCHDOG_USEC.
    assert outage.pings >= outage.seconds / (WATCHDOG_USEC / 2e6) - 1
    assert outage.longest_silence < WATCHDOG_USEC / 1e6


def record(faults: FaultFigures, outage: Outage, db: Path) -> None:
    """The outage's figures for docs/reliability.md."""
    stamps = [ts for ts, _ in samples(db)]
    expected = round((stamps[-1] - stamps[0]) / INTERVAL) + 1
    faults.record("interval", INTERVAL, "s")
    faults.record("time without a successful write", outage.seconds, "s")
    faults.record("watchdog pings during it", outage.pings)
    faults.record("longest time between two pings", outage.longest_silence, "s")
    faults.record("watchdog limit (WATCHDOG_USEC)", WATCHDOG_USEC / 1e6, "s")
    faults.record("samples kept in memory, then written", outage.queued)
    faults.record("samples missing between the first and the last", expected - len(stamps))


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


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs mounted under tmp_path, unmounted in teardown."""
    require_root()
    mount = require_tool("mount")
    where = tmp_path / "small"
    where.mkdir()
    subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(where)], check=True
    )
    try:
        yield where
    finally:
        subprocess.run([require_tool("umount"), "-l", str(where)], check=False)


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
    outage = through_outage(
        child,
        db,
        listener,
        3.0,
        lambda: filler.append(fill(small_fs)),
        lambda: filler[0].unlink(),
    )
    check_nothing_lost(db, outage, 3.0, "full")
    record(faults, outage, db)
    print(f"\ndisk full: {summary(outage)}")
