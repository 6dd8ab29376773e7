"""Read-only queries on real SQLite files: minute buckets, reduction, unreadable files."""

import hashlib
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.schema import SCHEMA_VERSION, migrate
from shared.timeutil import minute_of
from viewer import queries, reader, window
from viewer.aggregate import Run, find_gaps
from viewer.grid import Grid
from viewer.reader import Unavailable

M = 1_800_000_000.0  # a whole minute


def make_db(
    path: Path, samples: Iterable[tuple[float, float]], runs: Iterable[tuple[float, float]] = ()
) -> Path:
    """A cpuload database as the collector makes it, filled with these rows."""
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO runs (started, interval) VALUES (?, ?)", runs)
    conn.executemany("INSERT INTO samples (ts, cpu) VALUES (?, ?)", samples)
    conn.execute("COMMIT")
    conn.close()
    return path


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def means(db: Path, t0: float, t1: float) -> list[tuple[int, float | None, int]]:
    with reader.open_ro(db) as conn:
        return window.read_means(conn, t0, t1)


def test_a_sample_on_the_minute_belongs_to_the_minute_before(tmp_path: Path) -> None:
    db = make_db(tmp_path / "c.db", [(M, 10.0), (M + 0.5, 50.0), (M + 60, 30.0)])
    assert means(db, M - 60, M + 60) == [(M - 60, 10.0, 1), (M, 40.0, 2)]


def test_empty_minutes_one_sample_and_the_current_minute(tmp_path: Path) -> None:
    db = make_db(tmp_path / "c.db", [(M + 30, 20.0)])
    assert means(db, M - 50, M + 130) == [
        (M - 60, None, 0),
        (M, 20.0, 1),
        (M + 60, None, 0),
        (M + 120, None, 0),  # the current minute, still running
    ]


def test_a_minute_cut_by_the_window_start_still_averages_the_whole_minute(
    tmp_path: Path,
) -> None:
    db = make_db(tmp_path / "c.db", [(M + 10, 0.0), (M + 20, 0.0), (M + 50, 90.0)])
    assert means(db, M + 40, M + 60) == [(M, 30.0, 3)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(1e9, 2e9), min_size=1, max_size=30, unique=True))
def test_sql_minutes_agree_with_minute_of(
    tmp_path_factory: pytest.TempPathFactory, xs: list[float]
) -> None:
    db = make_db(tmp_path_factory.mktemp("h") / "c.db", [(x, 1.0) for x in xs])
    with reader.open_ro(db) as conn:
        found = queries.cells(conn, 0, 3e9, 60.0, None)
    expected: dict[int, int] = {}
    for x in xs:
        expected[minute_of(x)] = expected.get(minute_of(x), 0) + 1
    assert {c * 60: sum(p.count for p in ps) for c, ps in found.items()} == expected
    assert all(minute_of(x) < x <= minute_of(x) + 60 for x in xs)


def test_an_old_run_at_a_short_interval_does_not_stop_todays_reduction(tmp_path: Path) -> None:
    # A day at 5 s, and two days before it a run at 0.1 s: that old run must not make every
    # 5 s step a possible gap, which split each sample into its own point (17,280 of them).
    day = [(M + 5 * i, float(i % 100)) for i in range(1, 17_281)]
    db = make_db(tmp_path / "c.db", day, [(M - 172_800, 0.1), (M, 5.0)])
    t0, t1 = M, M + 86_400
    with reader.open_ro(db) as conn:
        runs = queries.runs(conn)
        points, reduced = window.read_points(conn, window.Grids(), runs, t0, t1)
    assert reduced and len(points) <= 721
    assert sum(p.count for p in points) == len(day)


def test_reduction_keeps_extremes_and_gaps(tmp_path: Path) -> None:
    rows = [(M + 0.1 * i, 50.0) for i in range(1, 20_000) if not 9_000 <= i < 9_100]
    rows[3000] = (rows[3000][0], 100.0)  # one spike
    rows[15000] = (rows[15000][0], 0.0)  # one dip
    db = make_db(tmp_path / "c.db", rows, [(M, 0.1)])
    t0, t1 = M, M + 2000
    with reader.open_ro(db) as conn:
        runs = queries.runs(conn)
        points, reduced = window.read_points(conn, window.Grids(), runs, t0, t1)
        gaps = window.find_gaps(points, runs, t0, t1)
    assert reduced and len(points) <= 721
    assert max(p.high for p in points) == 100.0 and min(p.low for p in points) == 0.0
    assert sum(p.count for p in points) == len(rows)
    assert gaps == find_gaps([ts for ts, _ in rows], [Run(M, 0.1)], t0, t1)
    (inner,) = [g for g in gaps if g.start > t0 and g.end < t1]
    assert inner.end - inner.start == pytest.approx(10.1)
    # No column spans the gap: one ends at its start, the next begins at its end.
    assert any(p.last == inner.start for p in points)
    assert any(p.first == inner.end for p in points)


def test_reading_never_changes_the_file(tmp_path: Path) -> None:
    db = make_db(tmp_path / "c.db", [(M + i, 5.0) for i in range(1, 500)], [(M, 1.0)])
    before = digest(db)
    for _ in range(5):
        with reader.open_ro(db) as conn:
            window.build(conn, window.Grids(), queries.runs(conn), 60, M + 600)
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
    got = [r for b in queries.sample_batches(db, M + 0.1, M + 5000) for r in b]
    assert got == rows[1:]


def test_cached_cells_give_the_same_points_as_a_fresh_read(tmp_path: Path) -> None:
    rows = [(M + 0.5 * i, float(i % 97)) for i in range(1, 8000) if not 3000 <= i < 3010]
    db = make_db(tmp_path / "c.db", rows, [(M, 0.5)])
    grid = Grid(5.0, 1.0)
    with reader.open_ro(db) as conn:
        for end in (M + 2500, M + 3000, M + 3600, M + 3999.5):
            cached = grid.points(conn, end - 1800, end, M + 3999.5)
            fresh = Grid(5.0, 1.0).points(conn, end - 1800, end, M + 3999.5)
            assert cached == fresh
        assert grid.cells  # completed cells were kept
        # A sample written late into a cached cell is noticed (the count differs).
        with sqlite3.connect(db) as rw:
            rw.execute("INSERT INTO samples (ts, cpu) VALUES (?, ?)", (M + 2500.25, 99.0))
        later = grid.points(conn, M + 2199.5, M + 3999.5, M + 3999.5)
        assert max(p.high for p in later) == 99.0
        assert sum(p.count for p in later) == queries.count(conn, M + 2199.5, M + 3999.5)


def test_every_sample_query_searches_the_primary_key_range(tmp_path: Path) -> None:
    """The number checks (typeof) filter what the key range finds; they never force a scan."""
    db = make_db(tmp_path / "c.db", [(M + i, 5.0) for i in range(1, 3000)], [(M, 1.0)])
    statements: list[str] = []
    with reader.open_ro(db) as conn:
        conn.set_trace_callback(statements.append)
        window.build(conn, window.Grids(), queries.runs(conn), 60, M + 2000)  # reduced
        window.build(conn, window.Grids(), queries.runs(conn), 5, M + 2000)  # every sample
        queries.batch(conn, M, M + 2000)
        conn.set_trace_callback(None)
        reads = {s for s in statements if "FROM samples" in s}
        assert len(reads) >= 5
        for sql in reads:
            plan = " | ".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql))
            assert "SEARCH samples USING PRIMARY KEY (ts>? AND ts<?)" in plan or (
                "SEARCH samples USING PRIMARY KEY (ts<?)" in plan and "LIMIT 1" in sql
            ), (sql, plan)
            assert "SCAN samples" not in plan, (sql, plan)
