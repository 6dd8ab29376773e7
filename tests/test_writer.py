"""Write faults keep samples (with their modes) and pauses in memory, written in order later."""

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.backlog import Backlog, day_of_samples
from collector.pause import Pause
from collector.sampler import Reading
from collector.store import RunInfo, Store
from collector.writer import Writer
from tests.test_faults_disk import tmpfs


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def now(self) -> float:
        return self.t

    def mono(self) -> float:
        return self.t - 1_000_000_000


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "c.db", 10)
    yield s
    s.close()


def value(cpu: float) -> Reading:
    return Reading(cpu, None)


def stored(store: Store) -> list[tuple[float, float]]:
    return store.conn.execute("SELECT ts, cpu FROM samples ORDER BY ts").fetchall()


def test_the_queue_holds_a_day_at_the_interval_and_drops_the_oldest_when_full() -> None:
    assert day_of_samples(5.0) == 17_280
    assert day_of_samples(0.1) == 864_000
    q = Backlog(3)
    modes = (1, 2, 3, 4, 5, 6, 7)
    assert all(q.append(float(t), Reading(t * 10.0, modes)) for t in range(3))
    assert q.append(3.0, Reading(30.0, None)) is False
    nulls = (None,) * 7
    assert q.head(10) == [(1.0, 10.0, *modes), (2.0, 20.0, *modes), (3.0, 30.0, *nulls)]
    q.discard(2)
    assert q.head(10) == [(3.0, 30.0, *nulls)]


def test_a_locked_database_keeps_samples_in_order_and_logs_once_per_episode(
    tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    writer = Writer(store, Backlog(100), mono=clock.mono)
    other = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    with caplog.at_level(logging.WARNING, logger="collector"):
        writer(5.0, value(1.0))
        other.execute("BEGIN IMMEDIATE")  # someone holds the write lock: "database is locked"
        for t in range(2, 12):
            writer(t * 5.0, value(float(t)))
        assert stored(store) == [(5.0, 1.0)]
        assert len(writer.backlog) == 10
        assert caplog.text.count("cannot write") == 1
        assert "database is locked" in caplog.text
        other.execute("ROLLBACK")
        writer(60.0, value(12.0))
    assert stored(store) == [(t * 5.0, float(t)) for t in range(1, 13)]
    assert len(writer.backlog) == 0
    assert caplog.text.count("writing works again") == 1
    assert "wrote 11 waiting samples" in caplog.text
    other.close()


def test_a_full_disk_fills_the_bounded_queue_then_the_newest_are_written(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    writer = Writer(store, Backlog(50), mono=clock.mono)
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLITE_FULL, as on a full disk
    with caplog.at_level(logging.WARNING, logger="collector"):
        for t in range(1, 1001):
            writer(float(t), value(50.0))
        assert caplog.text.count("cannot write") == 1
        assert "full" in caplog.text
        assert caplog.text.count("memory queue is full") == 1
        assert len(writer.backlog) == 50
        store.conn.execute("PRAGMA max_page_count = 1000000")
        writer(1001.0, value(50.0))
    rows = stored(store)
    written = [ts for ts, _ in rows]
    assert written == sorted(written)
    assert written[-50:] == [float(t) for t in range(952, 1002)]  # the newest, in order
    assert "oldest were dropped" in caplog.text


def test_a_stamp_already_stored_is_dropped_not_overwritten_and_logged_once(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    writer = Writer(store, Backlog(10), mono=clock.mono)
    with caplog.at_level(logging.WARNING, logger="collector"):
        for t in (5.0, 10.0, 15.0, 5.0, 10.0, 15.0, 20.0):
            writer(t, value(t * 2 if len(caplog.records) else t))
    assert stored(store) == [(5.0, 5.0), (10.0, 10.0), (15.0, 15.0), (20.0, 40.0)]
    assert caplog.text.count("a sample is already stored") == 1
    assert "dropped 3 samples" in caplog.text


def test_a_wal_that_filled_the_disk_is_checkpointed_and_the_write_tried_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # low_space=0 keeps the WAL at its usual size even on 200 kB, so it fills the disk after
    # about 30 commits; the first version stopped writing there for good.
    with tmpfs(tmp_path / "tiny", "200k") as tiny:
        store = Store.open(tiny / "c.db", 10, low_space=0)
        clock = Clock()
        writer = Writer(store, Backlog(100), mono=clock.mono)
        with caplog.at_level(logging.DEBUG, logger="collector"):
            for t in range(1, 151):
                writer(float(t), value(1.0))
        rows = stored(store)
        store.close()
    assert [ts for ts, _ in rows] == [float(t) for t in range(1, 151)]
    assert "checkpointed the WAL to make room" in caplog.text
    assert "cannot write" not in caplog.text


def test_pauses_wait_through_a_write_fault_and_are_written_with_the_run(
    tmp_path: Path, store: Store
) -> None:
    clock = Clock()
    run_id = store.begin_run(RunInfo(1.0, 5.0, 1, "t", "boot", 0.5))
    writer = Writer(store, Backlog(100), mono=clock.mono)
    other = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    writer.pause(Pause(100.0, 160.0, "stall", 0.0))
    writer(165.0, value(1.0))
    writer.pause(Pause(170.0, 800.0, "suspend", 620.0))
    writer(805.0, Reading(2.0, (100, 0, 100, 0, 0, 0, 50)))
    assert store.conn.execute("SELECT count(*) FROM pauses").fetchone() == (0,)
    other.execute("ROLLBACK")
    other.close()
    writer(810.0, value(3.0))
    pauses = store.conn.execute("SELECT run, start, stop, kind, slept FROM pauses ORDER BY id")
    assert pauses.fetchall() == [
        (run_id, 100.0, 160.0, "stall", 0.0),
        (run_id, 170.0, 800.0, "suspend", 620.0),
    ]
    modes = store.conn.execute("SELECT * FROM sample_modes WHERE ts = 805").fetchone()
    assert modes == (805.0, 2.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.5)
