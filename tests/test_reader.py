"""Opening the collector's file read-only: real SQLite files, good, missing and unreadable."""

import hashlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pytest

from shared.schema import MODE_COLUMNS, SCHEMA_VERSION, migrate
from tests.conftest import as_nobody, require_root
from viewer import facts, reader, window
from viewer import rows as sample_rows
from viewer.cache import Grids
from viewer.reader import Unavailable

M = 1_800_000_000.0  # a whole minute


def make_db(
    path: Path, samples: Iterable[tuple[float, ...]], runs: Iterable[tuple[object, ...]] = ()
) -> Path:
    """A cpuload database as the collector makes it, filled with these rows: samples as
    (ts, cpu) or (ts, cpu, user100, ..., iowait100); runs as (started, interval) or
    (started, interval, stopped, boot_id)."""
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn)
    conn.execute("BEGIN")
    for run in runs:
        names = ("started", "interval", "stopped", "boot_id")[: len(run)]
        marks = ", ".join("?" * len(run))
        conn.execute(f"INSERT INTO runs ({', '.join(names)}) VALUES ({marks})", run)
    for sample in samples:
        names = ("ts", "cpu", *MODE_COLUMNS)[: len(sample)]
        marks = ", ".join("?" * len(sample))
        conn.execute(f"INSERT INTO samples ({', '.join(names)}) VALUES ({marks})", sample)
    conn.execute("COMMIT")
    conn.close()
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_reading_never_changes_the_file(tmp_path: Path) -> None:
    db = make_db(tmp_path / "c.db", [(M + i, 5.0) for i in range(1, 500)], [(M, 1.0)])
    before = digest(db)
    for _ in range(5):
        with reader.open_ro(db) as conn:
            found = facts.read(conn, db, M + 600)
            window.build(conn, found, Grids(), M - 3000, M + 600)
    assert digest(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.db"]


def test_missing_file_is_no_data_and_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(Unavailable) as exc, reader.open_ro(tmp_path / "none.db"):
        pass
    assert exc.value.state == "no-data" and "cpuload-collector" in exc.value.reason
    assert not (tmp_path / "none.db").exists()


def test_a_file_that_is_not_sqlite_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "c.db"
    bad.write_bytes(b"hello, this is not a database\n" * 100)
    with pytest.raises(Unavailable) as exc, reader.open_ro(bad):
        pass
    assert exc.value.state == "error"


def test_a_directory_given_as_the_file_is_an_error_that_says_so(tmp_path: Path) -> None:
    with pytest.raises(Unavailable) as exc, reader.open_ro(tmp_path):
        pass
    assert exc.value.state == "error" and not exc.value.transient
    assert (
        exc.value.reason == f"{tmp_path} is a directory; give --db the path of the database file"
    )


def test_a_newer_schema_is_an_error_that_says_upgrade(tmp_path: Path) -> None:
    db = make_db(tmp_path / "c.db", [])
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(Unavailable) as exc, reader.open_ro(db):
        pass
    assert exc.value.state == "error" and "upgrade" in exc.value.reason


def test_an_empty_sqlite_file_is_no_data_yet(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "c.db").close()
    with pytest.raises(Unavailable) as exc, reader.open_ro(tmp_path / "c.db"):
        pass
    assert exc.value.state == "no-data"


def test_batches_cover_the_window_exactly_once(tmp_path: Path) -> None:
    rows = [(M + 0.1 * i, float(i % 100)) for i in range(1, 45_001)]
    db = make_db(tmp_path / "c.db", rows)
    got = [(r.ts, r.cpu) for b in sample_rows.batches(db, True, M + 0.1, M + 5000) for r in b]
    assert got == rows[1:]


def test_every_sample_query_searches_the_primary_key_range(tmp_path: Path) -> None:
    """The number checks filter what the key range finds; they never force a scan."""
    db = make_db(tmp_path / "c.db", [(M + i, 5.0) for i in range(1, 3000)], [(M, 1.0)])
    statements: list[str] = []
    with reader.open_ro(db) as conn:
        conn.set_trace_callback(statements.append)
        found = facts.read(conn, db, M + 2000)
        window.build(conn, found, Grids(), M + 2000 - 3600, M + 2000)  # reduced
        window.build(conn, found, Grids(), M + 2000 - 300, M + 2000)  # every sample
        sample_rows.batch(conn, True, M, M + 2000)
        conn.set_trace_callback(None)
        reads = {s for s in statements if "FROM samples" in s}
        assert len(reads) >= 6
        for sql in reads:
            plan = " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql))
            assert "SCAN samples" not in plan, (sql, plan)
            assert "SEARCH samples USING PRIMARY KEY" in plan, (sql, plan)


def test_a_wal_file_at_rest_reads_without_write_access_to_its_directory(
    request: pytest.FixtureRequest,
) -> None:
    """Only permissions (no read-only mount) keep the reader from the directory: SQLite then
    says READONLY_DIRECTORY, not CANTOPEN, and the file is still read, as immutable."""
    require_root()
    # Under /tmp itself: pytest's own directories are closed to other users.
    state = Path(tempfile.mkdtemp(prefix="cpuload-at-rest-", dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(state, ignore_errors=True))
    state.chmod(0o755)
    db = make_db(state / "c.db", [(M + i, 5.0) for i in range(1, 100)], [(M, 1.0)])
    with sqlite3.connect(db) as conn:  # left in WAL mode; the last close takes -wal and -shm
        conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    assert sorted(p.name for p in state.iterdir()) == ["c.db"]
    os.chmod(db, 0o644)

    def count() -> str:
        try:
            found = reader.read(
                db, lambda c: c.execute("SELECT count(*) FROM samples").fetchone()[0]
            )
            return str(found)
        except Unavailable as exc:
            return exc.reason

    said = as_nobody(count)
    assert said == "99", said
    assert sorted(p.name for p in state.iterdir()) == ["c.db"]
