"""The store on real files: schema, migration, WAL while open, rollback mode at rest, refusals."""

import hashlib
import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.backlog import Row
from collector.store import EDITS_KEPT, RunInfo, Store, StoreError
from shared.schema import APPLICATION_ID, MIGRATIONS, MODES, SCHEMA_VERSION


@pytest.fixture
def umask022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def plain(pairs: list[tuple[float, float]]) -> list[Row]:
    """(ts, cpu) pairs as rows for Store.insert: modes NULL, as for a sample put in by hand."""
    return [(ts, cpu, *(None,) * len(MODES)) for ts, cpu in pairs]


def names(conn: sqlite3.Connection, kind: str) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = ?", (kind,))
    return {r[0] for r in rows}


def sidecars(db: Path) -> list[str]:
    return sorted(p.name for p in db.parent.iterdir() if p.name != db.name)


def test_a_new_database_has_the_schema_and_runs_in_wal(tmp_path: Path, umask022: None) -> None:
    db = tmp_path / "c.db"
    store = Store.open(db, 50)
    conn = store.conn
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
    assert {"samples", "runs"} <= names(conn, "table")
    assert {"minute_means", "gaps", "sample_intervals"} <= names(conn, "view")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    store.insert(plain([(60.0, 10.0)]))
    assert sidecars(db) == ["c.db-shm", "c.db-wal"]
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path
    store.close()


def test_a_clean_close_leaves_rollback_mode_and_no_sidecars(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    store = Store.open(db, 50)
    store.insert(plain([(60.0, 10.0), (65.0, 20.0)]))
    store.close()
    assert sidecars(db) == []
    ro = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    assert ro.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert ro.execute("SELECT count(*) FROM samples").fetchone()[0] == 2
    ro.close()
    again = Store.open(db, 50)
    assert again.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # back at start
    again.close()


def test_a_reader_that_holds_the_file_open_past_a_second_leaves_it_in_wal_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "c.db"
    store = Store.open(db, 50)
    store.insert(plain([(60.0, 10.0)]))
    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    assert reader.execute("SELECT count(*) FROM samples").fetchone() == (1,)
    with caplog.at_level(logging.WARNING, logger="collector"):
        store.close()
    reader.close()
    # The first version swallowed this: no word that the file rests in WAL mode.
    assert "holds" in caplog.text and "stays in WAL mode" in caplog.text


def test_a_reader_that_lets_go_within_the_second_does_not_keep_the_file_in_wal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "c.db"
    store = Store.open(db, 50)
    store.insert(plain([(60.0, 10.0)]))
    reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
    reader.execute("SELECT count(*) FROM samples").fetchone()
    timer = threading.Timer(0.3, reader.close)
    timer.start()
    with caplog.at_level(logging.WARNING, logger="collector"):
        store.close()
    timer.join()
    assert sidecars(db) == []
    assert "stays in WAL mode" not in caplog.text


def test_runs_record_start_interval_pid_version_and_stop(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "c.db", 50)
    run_id = store.begin_run(RunInfo(1000.0, 0.5, 4242, "9.9", "b0", 900.0))
    store.end_run(run_id, 1010.0)
    row = store.conn.execute(
        "SELECT started, interval, pid, version, boot_id, booted, stopped FROM runs"
    ).fetchone()
    assert row == (1000.0, 0.5, 4242, "9.9", "b0", 900.0, 1010.0)
    store.close()


def test_a_version_1_database_is_migrated_keeping_its_data(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)
    conn.executescript(MIGRATIONS[0])
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO runs (started, interval) VALUES (0.5, 5)")
    conn.executemany("INSERT INTO samples (ts, cpu) VALUES (?, ?)", [(60.0, 10.0), (65.0, 30.0)])
    conn.commit()
    conn.close()
    store = Store.open(db, 50)
    c = store.conn
    assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert c.execute("SELECT ts, cpu FROM samples ORDER BY ts").fetchall() == [
        (60.0, 10.0),
        (65.0, 30.0),
    ]
    assert c.execute("SELECT pid, stopped FROM runs").fetchone() == (None, None)
    # 60.0 belongs to the minute 0 < ts <= 60, 65.0 to the next one.
    assert c.execute("SELECT minute, avg, count FROM minute_means ORDER BY minute").fetchall() == [
        (0, 10.0, 1),
        (60, 30.0, 1),
    ]
    store.close()


def test_prune_deletes_only_older_samples_in_batches(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "c.db", 50)
    store.insert(plain([(float(t), 1.0) for t in range(1, 101)]))
    assert store.prune(51.0, 30) == 30
    assert store.prune(51.0, 30) == 20
    assert store.prune(51.0, 30) == 0
    stamps = [r[0] for r in store.conn.execute("SELECT ts FROM samples ORDER BY ts")]
    assert stamps == [float(t) for t in range(51, 101)]
    store.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def foreign(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE contacts (name TEXT)")
        conn.execute("INSERT INTO contacts VALUES ('ann')")
    conn.close()


def newer(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.execute("CREATE TABLE samples (ts REAL PRIMARY KEY, cpu REAL, extra BLOB)")
    conn.close()


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: p.write_bytes(b"not a database at all\n" * 100), "not an SQLite database"),
        (foreign, "another program"),
        (newer, "newer than this cpuload knows"),
    ],
    ids=["not-sqlite", "foreign-sqlite", "newer-schema"],
)
def test_a_file_that_is_not_ours_is_refused_and_left_untouched(
    tmp_path: Path, make: object, says: str
) -> None:
    db = tmp_path / "x.db"
    make(db)  # type: ignore[operator]
    before, mtime = digest(db), db.stat().st_mtime_ns
    with pytest.raises(StoreError, match=says):
        Store.open(db, 50)
    assert digest(db) == before
    assert db.stat().st_mtime_ns == mtime
    assert sidecars(db) == []


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        Store.open(tmp_path, 50)


def test_a_file_locked_by_another_program_is_not_called_foreign(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    Store.open(db, 100).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError) as exc:
            Store.open(db, 100)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "is locked by another program" in str(exc.value)
    assert "not an SQLite database" not in str(exc.value)


def test_the_edit_log_is_folded_into_one_row_only_past_its_limit(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "e.db", 1000)
    store.insert(plain([(1000.0 + i, 1.0) for i in range(EDITS_KEPT + 1)]), [])

    def edit(stamps: range) -> None:
        for i in stamps:  # an UPDATE is always logged: the viewer must redraw that cell
            store.conn.execute("UPDATE samples SET cpu = 2.0 WHERE ts = ?", (1000.0 + i,))

    def log() -> list[tuple[int, float, float]]:
        return store.conn.execute("SELECT seq, low, high FROM edits ORDER BY seq").fetchall()

    edit(range(EDITS_KEPT))
    kept = log()
    assert len(kept) == EDITS_KEPT
    assert store.compact_edits() == 0 and log() == kept  # at the limit: left as it is
    edit(range(EDITS_KEPT, EDITS_KEPT + 1))
    top = log()[-1][0]
    assert store.compact_edits() == EDITS_KEPT + 1
    assert log() == [(top, 1000.0, 1000.0 + EDITS_KEPT)]  # all it covered, the newest seq
    store.close()
