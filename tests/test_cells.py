"""Long windows as cells, on real SQLite files, checked against sums done by hand here."""

import itertools
import math
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.schema import APPLICATION_ID, MIGRATIONS, gap_limit
from shared.timeutil import cell_of, minute_of
from tests.test_reader import make_db
from viewer import facts, reader, window
from viewer.cache import Grids
from viewer.cells import Point

M = 1_800_000_000.0  # a whole minute


def build(db: Path, t0: float, t1: float, grids: Grids | None = None) -> window.Window:
    with reader.open_ro(db) as conn:
        found = facts.read(conn, db, t1)
        kept = grids or Grids()
        epoch = kept.sync(conn, found)
        return window.build(conn, found, kept, t0, t1, epoch)


def interval_of(runs: Sequence[tuple[float, float]], ts: float) -> float:
    """The contract's rule, by hand: the run with the greatest start <= ts, else the first."""
    before = [iv for start, iv in runs if start <= ts]
    return before[-1] if before else runs[0][1]


def spans_by_hand(
    stamps: Sequence[float], runs: Sequence[tuple[float, float]], t0: float, t1: float
) -> list[tuple[float, float]]:
    inside = [ts for ts in stamps if t0 < ts <= t1]
    if not inside:
        return [(t0, t1)] if t1 - t0 > gap_limit(interval_of(runs, t1)) else []
    out = []
    if inside[0] - t0 > gap_limit(interval_of(runs, inside[0])):
        out.append((t0, inside[0]))
    out += [
        (a, b) for a, b in itertools.pairwise(inside) if b - a > gap_limit(interval_of(runs, b))
    ]
    if t1 - inside[-1] > gap_limit(interval_of(runs, t1)):
        out.append((inside[-1], t1))
    return out


def columns_by_hand(
    rows: Sequence[tuple[float, float]],
    runs: Sequence[tuple[float, float]],
    width: float,
    t0: float,
    t1: float,
) -> list[tuple[float, float, float, int]]:
    """(mean, low, high, count) of every unbroken stretch of every cell, oldest first."""
    out: list[list[tuple[float, float]]] = []
    previous: tuple[float, float] | None = None
    for ts, cpu in rows:
        if not t0 < ts <= t1:
            continue
        new_cell = previous is None or cell_of(ts, width) != cell_of(previous[0], width)
        broken = previous is not None and ts - previous[0] > gap_limit(interval_of(runs, ts))
        if new_cell or broken:
            out.append([])
        out[-1].append((ts, cpu))
        previous = (ts, cpu)
    return [
        (sum(c for _, c in s) / len(s), min(c for _, c in s), max(c for _, c in s), len(s))
        for s in out
    ]


def minute_means_by_hand(rows: Sequence[tuple[float, float]]) -> dict[float, tuple[float, int]]:
    found: dict[float, list[float]] = {}
    for ts, cpu in rows:
        found.setdefault(float(minute_of(ts)), []).append(cpu)
    return {m: (sum(v) / len(v), len(v)) for m, v in found.items()}


@settings(max_examples=25, deadline=None)
@given(
    holes=st.lists(st.tuples(st.integers(0, 5000), st.integers(1, 400)), max_size=6),
    fast=st.booleans(),
    minutes=st.sampled_from([180, 360, 721]),
    end=st.integers(0, 3000),
)
def test_cells_agree_with_the_samples_summed_by_hand(
    tmp_path_factory: pytest.TempPathFactory,
    holes: list[tuple[int, int]],
    fast: bool,
    minutes: int,
    end: int,
) -> None:
    # Five-second samples for half a day, holes cut in, maybe a 20 s run at 0.5 s in it.
    runs = [(M - 10, 5.0)]
    ticks = [k * 5.0 for k in range(8640)]
    if fast:
        runs.append((M + 20_000, 0.5))
        runs.append((M + 20_020, 5.0))
        ticks = [t for t in ticks if not 20_000 <= t < 20_020]
        ticks += [20_000 + 0.5 * k for k in range(40)]
        ticks.sort()
    skip = {k for start, n in holes for k in range(start, start + n)}
    rows = [(M + t, float((i * 37) % 101)) for i, t in enumerate(ticks) if i not in skip]
    db = make_db(tmp_path_factory.mktemp("c") / "c.db", rows, runs)
    t1 = M + 43_200 - end * 7.3
    t0 = t1 - minutes * 60
    win = build(db, t0, t1)
    stamps = [ts for ts, _ in rows]
    assert [(g.start, g.end) for g in win.gaps] == spans_by_hand(stamps, runs, t0, t1)
    assert win.reduced
    width = window.column_width(minutes)
    got = [(p.mean, p.low, p.high, p.samples) for p in win.points]
    expected = columns_by_hand(rows, runs, width, t0, t1)
    assert len(got) == len(expected)
    for (m, lo, hi, n), (em, elo, ehi, en) in zip(got, expected, strict=True):
        assert (lo, hi, n) == (elo, ehi, en) and m == pytest.approx(em, abs=1e-9)
    by_hand = minute_means_by_hand(rows)
    if win.minutes is not None:
        starts = set(window.minute_starts(t0, t1))
        expect = {m: v for m, v in by_hand.items() if m in starts}
        assert {m.start for m in win.minutes} == set(expect)
        for minute in win.minutes:
            mean, count = expect[minute.start]
            assert minute.mean == pytest.approx(mean) and minute.samples == count


def test_a_short_run_at_a_smaller_interval_keeps_reduction_on(tmp_path: Path) -> None:
    # A day at 5 s and one 2-second run at 0.1 s inside it: the 5 s stretches keep their own
    # gap limit, so the day is still 720 columns (the rule per window made each 5 s sample a
    # point of its own: a 2.2 MB page instead of 343 kB).
    day = [(M + 5 * i, float(i % 100)) for i in range(1, 17_281) if i not in (3000, 3001)]
    fast = [(M + 40_000.1 + 0.1 * k, 50.0) for k in range(20)]
    runs = [(M, 5.0), (M + 40_000.05, 0.1), (M + 40_002.05, 5.0)]
    db = make_db(tmp_path / "c.db", sorted(day + fast), runs)
    win = build(db, M, M + 86_400)
    assert win.reduced and len(win.points) <= window.COLUMNS + 4
    assert sum(p.samples for p in win.points) == len(day) + len(fast)
    assert [(g.start, g.end) for g in win.gaps] == [(M + 5 * 2999, M + 5 * 3002)]


def test_kept_cells_give_what_a_fresh_read_gives_as_the_window_moves(tmp_path: Path) -> None:
    rows = [(M + 0.5 * i, float(i % 97)) for i in range(1, 8000) if not 3000 <= i < 3010]
    db = make_db(tmp_path / "c.db", rows, [(M, 0.5)])
    grids = Grids()
    for end in (M + 2500, M + 3000, M + 3600, M + 3999.5):
        kept = build(db, end - 1800, end, grids)
        fresh = build(db, end - 1800, end)
        assert kept == fresh
    assert any(g.kept for g in grids._lru.values())


def test_a_sample_put_in_by_hand_into_a_kept_cell_is_seen(tmp_path: Path) -> None:
    rows = [(M + 0.5 * i, 10.0) for i in range(1, 8000)]
    db = make_db(tmp_path / "c.db", rows, [(M, 0.5)])
    grids = Grids()
    end = M + 3999.5
    build(db, end - 1800, end, grids)
    with sqlite3.connect(db) as rw:
        rw.execute("INSERT INTO samples (ts, cpu) VALUES (?, ?)", (M + 2500.25, 99.0))
        rw.execute("DELETE FROM samples WHERE ts = ?", (M + 3000.0,))
    later = build(db, end - 1800, end, grids)
    assert max(p.high for p in later.points) == 99.0
    assert later == build(db, end - 1800, end)


def test_retention_of_the_oldest_samples_drops_the_cells_that_held_them(tmp_path: Path) -> None:
    rows = [(M + 0.5 * i, 10.0) for i in range(1, 8000)]
    db = make_db(tmp_path / "c.db", rows, [(M, 0.5)])
    grids = Grids()
    end = M + 3999.5
    build(db, end - 3600, end, grids)
    with sqlite3.connect(db) as rw:  # what the collector's retention does: oldest first
        rw.execute(
            "DELETE FROM samples WHERE ts IN (SELECT ts FROM samples ORDER BY ts LIMIT 3000)"
        )
        assert rw.execute("SELECT count(*) FROM edits").fetchone()[0] == 0
    later = build(db, end - 3600, end, grids)
    assert sum(p.samples for p in later.points) == 7999 - 3000
    assert later == build(db, end - 3600, end)


def test_a_file_older_than_schema_3_keeps_no_cells_between_requests(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    conn = sqlite3.connect(db, isolation_level=None)
    for script in MIGRATIONS[:2]:
        conn.executescript(script)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 2")
    conn.execute("INSERT INTO runs (started, interval) VALUES (?, 0.5)", (M,))
    with conn:  # one transaction, not 8,000
        conn.execute("BEGIN")
        rows = [(M + 0.5 * i, 10.0) for i in range(1, 8000)]
        conn.executemany("INSERT INTO samples VALUES (?, ?)", rows)
    grids = Grids()
    end = M + 3999.5
    build(db, end - 1800, end, grids)
    conn.execute("INSERT INTO samples VALUES (?, ?)", (M + 2500.25, 99.0))  # no edit log
    later = build(db, end - 1800, end, grids)
    assert max(p.high for p in later.points) == 99.0
    assert all(p.modes is None for p in later.points)


def test_modes_are_averaged_per_column_over_the_samples_that_carry_them(tmp_path: Path) -> None:
    rows: list[tuple[float, ...]] = []
    for i in range(1, 4321):  # six hours at 5 s: 30 s columns of six samples
        modes = (i % 7 * 100, 0, 200, 0, 50, 10, 30) if i % 3 else None
        rows.append((M + 5 * i, 3.6 if modes else 1.0, *(modes or ())))
    db = make_db(tmp_path / "c.db", rows, [(M, 5.0)])
    win = build(db, M, M + 21_600)
    assert win.reduced
    for p in win.points:
        inside = [r for r in rows if p.first <= r[0] <= p.last and len(r) > 2]
        assert p.modes is not None and len(inside) == 4
        for k in range(7):
            assert p.modes[k] == pytest.approx(sum(r[2 + k] for r in inside) / 4 / 100)


def test_the_first_minute_cut_by_a_long_window_still_averages_all_its_samples(
    tmp_path: Path,
) -> None:
    rows = [(M + 5 * i, float(i % 12)) for i in range(1, 30_000)]
    db = make_db(tmp_path / "c.db", rows, [(M, 5.0)])
    t0 = M + 600 + 20  # 20 s into a minute
    win = build(db, t0, t0 + 1441 * 60)
    assert win.columns is not None and win.minutes is None
    first = win.columns[0]
    minutes = minute_means_by_hand(rows)
    # The minutes of the first column that overlap the window: the one t0 cuts counts whole.
    inside = [m for m in minutes if first.start <= m < first.start + first.width and m + 60 > t0]
    expect = [minutes[m][0] for m in inside]
    assert first.mean == pytest.approx(sum(expect) / len(expect))
    assert first.minutes == len(expect)


def test_points_of_a_short_window_are_the_samples_themselves(tmp_path: Path) -> None:
    rows = [(M + 5 * i, float(i % 100)) for i in range(1, 200)]
    db = make_db(tmp_path / "c.db", rows, [(M, 5.0)])
    win = build(db, M, M + 900)
    assert not win.reduced
    assert [(p.ts, p.mean) for p in win.points] == [r for r in rows if r[0] <= M + 900]
    assert all(isinstance(p, Point) and p.samples == 1 for p in win.points)
    assert not math.isnan(win.points[0].mean)


def test_a_past_window_ending_inside_a_kept_cell_shows_nothing_after_its_end(
    tmp_path: Path,
) -> None:
    # A later window of the same length keeps the cell its end cuts; an earlier window that
    # ends inside that cell must not take it whole (it held 2 min of samples past its end).
    rows = [(M + 5 * i, float(i % 50)) for i in range(1, 20_000) if not 15_000 <= i < 15_010]
    db = make_db(tmp_path / "c.db", rows, [(M, 5.0)])
    grids = Grids()
    build(db, M + 90_000 - 86_400, M + 90_000, grids)
    end = M + 75_010.0  # 24 h columns are 120 s: this cuts one 10 s in
    assert window.column_width(1440) == 120
    past = build(db, end - 86_400, end, grids)
    assert max(p.last for p in past.points) <= end
    assert past == build(db, end - 86_400, end)


def test_a_read_that_began_before_a_change_was_applied_keeps_nothing(tmp_path: Path) -> None:
    rows = [(M + 0.5 * i, 10.0) for i in range(1, 8000)]
    db = make_db(tmp_path / "c.db", rows, [(M, 0.5)])
    with sqlite3.connect(db) as wal:  # as the collector keeps it: a writer beside readers
        wal.execute("PRAGMA journal_mode = WAL")
    wal.close()
    grids = Grids()
    end = M + 3999.5
    build(db, end - 1800, end, grids)  # cells kept
    with reader.open_ro(db, snapshot=True) as old:  # a read that began before the edit
        found = facts.read(old, db, end)
        stale_epoch = grids.sync(old, found)
        with sqlite3.connect(db) as rw:
            rw.execute("INSERT INTO samples (ts, cpu) VALUES (?, ?)", (M + 2500.25, 99.0))
        with reader.open_ro(db) as new:  # a newer request applies the edit: the cell goes
            grids.sync(new, facts.read(new, db, end))
        window.build(old, found, grids, end - 1800, end, stale_epoch)  # must not bring it back
    assert max(p.high for p in build(db, end - 1800, end, grids).points) == 99.0
