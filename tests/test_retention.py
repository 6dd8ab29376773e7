"""Housekeeping: retention deletes old samples in small batches, the edit log stays short."""

import logging
import sqlite3
from pathlib import Path

import pytest

from collector.retention import Retention
from collector.store import EDITS_KEPT, Store
from tests.test_store import plain
from tests.test_writer import Clock, store, stored

__all__ = ["store"]  # the fixture, shared with test_writer


def test_retention_deletes_old_samples_in_batches_and_the_file_shrinks(
    tmp_path: Path, store: Store
) -> None:
    clock = Clock()
    day = 86400.0
    old = [(clock.t - 40 * day + i * 5.0, 10.0) for i in range(60_000)]
    store.insert(plain(old))
    store.insert(plain([(clock.t - 60.0, 20.0)]))
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = (tmp_path / "c.db").stat().st_size
    retention = Retention(store, 30, 5.0, now=clock.now, mono=clock.mono)
    for _ in range(20):  # a few ticks, each within its time budget, get through it all
        retention()
    assert stored(store) == [(clock.t - 60.0, 20.0)]
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    after = (tmp_path / "c.db").stat().st_size
    assert after < before / 10
    assert store.conn.execute("PRAGMA freelist_count").fetchone()[0] == 0


def test_retention_zero_keeps_everything(store: Store) -> None:
    clock = Clock()
    store.insert(plain([(1.0, 1.0)]))
    Retention(store, 0, 5.0, now=clock.now, mono=clock.mono)()
    assert stored(store) == [(1.0, 1.0)]


def test_retention_that_cannot_delete_warns_once_per_episode_and_says_when_it_works(
    tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    store.insert(plain([(clock.t - 40 * 86400.0, 1.0), (clock.t - 60.0, 2.0)]))
    retention = Retention(store, 30, 5.0, now=clock.now, mono=clock.mono)
    other = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # someone holds the write lock: retention cannot delete
    with caplog.at_level(logging.WARNING, logger="collector"):
        for _ in range(5):  # five attempts, a minute apart
            retention()
            clock.t += 61
        # The first version logged these at debug level only: silent at the default level.
        assert caplog.text.count("cannot delete samples older than 30 days") == 1
        other.execute("ROLLBACK")
        retention()
    other.close()
    assert caplog.text.count("retention works again") == 1
    assert stored(store) == [(clock.t - 5 * 61 - 60.0, 2.0)]


def edits(store: Store) -> list[tuple[int, float, float]]:
    return store.conn.execute("SELECT seq, low, high FROM edits ORDER BY seq").fetchall()


def test_deleting_the_oldest_samples_is_no_edit(store: Store) -> None:
    clock = Clock()
    store.insert(plain([(clock.t - 40 * 86400.0 + k, 1.0) for k in range(5000)]))
    store.insert(plain([(clock.t - 60.0, 2.0)]))
    retention = Retention(store, 30, 5.0, now=clock.now, mono=clock.mono)
    for _ in range(10):
        retention()
    assert stored(store) == [(clock.t - 60.0, 2.0)]
    assert edits(store) == []  # what retention does is no change a reader must catch up on


def test_the_edit_log_is_folded_into_one_row_past_a_thousand(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    # Samples stamped in the past (the clock went back) are edits: 1,500 of them.
    store.insert(plain([(10_000.0, 1.0)]))
    store.insert(plain([(float(t), 1.0) for t in range(1, EDITS_KEPT + 501)]))
    assert len(edits(store)) == EDITS_KEPT + 500
    clock = Clock()
    retention = Retention(store, 0, 5.0, now=clock.now, mono=clock.mono)
    with caplog.at_level(logging.INFO, logger="collector"):
        retention()
    (only,) = edits(store)
    assert only == (EDITS_KEPT + 500, 1.0, float(EDITS_KEPT + 500))  # the highest seq, all
    assert "folded the edit log's 1500 rows into one" in caplog.text
    store.insert(plain([(5000.5, 1.0)]))  # the log goes on from there
    assert edits(store)[-1] == (EDITS_KEPT + 501, 5000.5, 5000.5)


def test_a_short_edit_log_is_left_alone(store: Store) -> None:
    store.insert(plain([(10_000.0, 1.0)]))
    store.insert(plain([(float(t), 1.0) for t in range(1, 11)]))
    clock = Clock()
    Retention(store, 0, 5.0, now=clock.now, mono=clock.mono)()
    assert len(edits(store)) == 10
