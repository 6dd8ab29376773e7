"""Write faults keep samples in a bounded queue, written in order later; retention shrinks."""

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.backlog import Backlog, day_of_samples
from collector.store import Store
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


def stored(store: Store) -> list[tuple[float, float]]:
    return store.conn.execute("SELECT ts, cpu FROM samples ORDER BY ts").fetchall()


def test_the_queue_holds_a_day_at_the_interval_and_drops_the_oldest_when_full() -> None:
    assert day_of_samples(5.0) == 17_280
    assert day_of_samples(0.1) == 864_000
    q = Backlog(3)
    assert all(q.append(float(t), t * 10.0) for t in range(3))
    assert q.append(3.0, 30.0) is False
    assert q.head(10) == [(1.0, 10.0), (2.0, 20.0), (3.0, 30.0)]
    q.discard(2)
    assert q.head(10) == [(3.0, 30.0)]


def test_a_locked_database_keeps_samples_in_order_and_logs_once_per_episode(
    tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    writer = Writer(store, Backlog(100), 0, 5.0, now=clock.now, mono=clock.mono)
    other = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    with caplog.at_level(logging.WARNING, logger="collector"):
        writer(5.0, 1.0)
        other.execute("BEGIN IMMEDIATE")  # someone holds the write lock: "database is locked"
        for t in range(2, 12):
            writer(t * 5.0, float(t))
        assert stored(store) == [(5.0, 1.0)]
        assert len(writer.backlog) == 10
        assert caplog.text.count("cannot write") == 1
        assert "database is locked" in caplog.text
        other.execute("ROLLBACK")
        writer(60.0, 12.0)
    assert stored(store) == [(t * 5.0, float(t)) for t in range(1, 13)]
    assert len(writer.backlog) == 0
    assert caplog.text.count("writing works again") == 1
    assert "wrote 11 waiting samples" in caplog.text
    other.close()


def test_a_full_disk_fills_the_bounded_queue_then_the_newest_are_written(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    writer = Writer(store, Backlog(50), 0, 5.0, now=clock.now, mono=clock.mono)
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLITE_FULL, as on a full disk
    with caplog.at_level(logging.WARNING, logger="collector"):
        for t in range(1, 1001):
            writer(float(t), 50.0)
        assert caplog.text.count("cannot write") == 1
        assert "full" in caplog.text
        assert caplog.text.count("memory queue is full") == 1
        assert len(writer.backlog) == 50
        store.conn.execute("PRAGMA max_page_count = 1000000")
        writer(1001.0, 50.0)
    rows = stored(store)
    written = [ts for ts, _ in rows]
    assert written == sorted(written)
    assert written[-50:] == [float(t) for t in range(952, 1002)]  # the newest, in order
    assert "oldest were dropped" in caplog.text


def test_a_stamp_already_stored_is_dropped_not_overwritten_and_logged_once(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    writer = Writer(store, Backlog(10), 0, 5.0, now=clock.now, mono=clock.mono)
    with caplog.at_level(logging.WARNING, logger="collector"):
        for t in (5.0, 10.0, 15.0, 5.0, 10.0, 15.0, 20.0):
            writer(t, t * 2 if len(caplog.records) else t)
    assert stored(store) == [(5.0, 5.0), (10.0, 10.0), (15.0, 15.0), (20.0, 40.0)]
    assert caplog.text.count("a sample is already stored") == 1
    assert "dropped 3 samples" in caplog.text


def test_retention_deletes_old_samples_in_batches_and_the_file_shrinks(
    tmp_path: Path, store: Store
) -> None:
    clock = Clock()
    day = 86400.0
    old = [(clock.t - 40 * day + i * 5.0, 10.0) for i in range(60_000)]
    store.insert(old)
    store.insert([(clock.t - 60.0, 20.0)])
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = (tmp_path / "c.db").stat().st_size
    writer = Writer(store, Backlog(10), 30, 5.0, now=clock.now, mono=clock.mono)
    for _ in range(20):  # a few ticks, each within its time budget, get through it all
        writer.housekeep()
    assert stored(store) == [(clock.t - 60.0, 20.0)]
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    after = (tmp_path / "c.db").stat().st_size
    assert after < before / 10
    assert store.conn.execute("PRAGMA freelist_count").fetchone()[0] == 0


def test_retention_zero_keeps_everything(store: Store) -> None:
    clock = Clock()
    store.insert([(1.0, 1.0)])
    Writer(store, Backlog(10), 0, 5.0, now=clock.now, mono=clock.mono).housekeep()
    assert stored(store) == [(1.0, 1.0)]


def test_a_wal_that_filled_the_disk_is_checkpointed_and_the_write_tried_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # low_space=0 keeps the WAL at its usual size even on 200 kB, so it fills the disk after
    # about 30 commits; the first version stopped writing there for good.
    with tmpfs(tmp_path / "tiny", "200k") as tiny:
        store = Store.open(tiny / "c.db", 10, low_space=0)
        clock = Clock()
        writer = Writer(store, Backlog(100), 0, 5.0, now=clock.now, mono=clock.mono)
        with caplog.at_level(logging.DEBUG, logger="collector"):
            for t in range(1, 151):
                writer(float(t), 1.0)
        rows = stored(store)
        store.close()
    assert [ts for ts, _ in rows] == [float(t) for t in range(1, 151)]
    assert "checkpointed the WAL to make room" in caplog.text
    assert "cannot write" not in caplog.text


def test_retention_that_cannot_delete_warns_once_per_episode_and_says_when_it_works(
    tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    store.insert([(clock.t - 40 * 86400.0, 1.0), (clock.t - 60.0, 2.0)])
    writer = Writer(store, Backlog(10), 30, 5.0, now=clock.now, mono=clock.mono)
    other = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # someone holds the write lock: retention cannot delete
    with caplog.at_level(logging.WARNING, logger="collector"):
        for _ in range(5):  # five attempts, a minute apart
            writer.housekeep()
            clock.t += 61
        # The first version logged these at debug level only: silent at the default level.
        assert caplog.text.count("cannot delete samples older than 30 days") == 1
        other.execute("ROLLBACK")
        writer.housekeep()
    other.close()
    assert caplog.text.count("retention works again") == 1
    assert stored(store) == [(clock.t - 5 * 61 - 60.0, 2.0)]
