"""shared/schema.py: the views a person uses from the sqlite3 shell follow the viewer's rules."""

import random
import sqlite3
from pathlib import Path

from shared.schema import SCHEMA_VERSION, migrate
from shared.timeutil import interval_ratio, minute_of, stamp
from viewer.facts import Run
from viewer.gaps import holes

T0 = 17_000_000_000  # a tick number at 0.1 s: 1,700,000,000 s


def tenth_second_db(path: Path, ticks: list[int]) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn) == 0
    ratio = interval_ratio(0.1)
    conn.execute("INSERT INTO runs (started, interval) VALUES (?, 0.1)", (stamp(T0, ratio) - 1,))
    rows = [(stamp(k, ratio), random.uniform(0, 100)) for k in ticks]
    conn.executemany("INSERT INTO samples (ts, cpu) VALUES (?, ?)", rows)
    return conn


def test_a_step_of_exactly_two_intervals_is_not_a_gap_however_the_floats_round(
    tmp_path: Path,
) -> None:
    # One missing tick every 7 (a step of two intervals: not a gap) and, at three places,
    # two missing ticks (three intervals: a gap). Float differences of two ticks at 0.1 s
    # are 0.2 give or take 5e-8, so a bare "> 2 * interval" found gaps at random.
    ticks = [k for k in range(T0, T0 + 3000) if k % 7 != 3]
    for hole in (T0 + 500, T0 + 1500, T0 + 2500):
        ticks = [k for k in ticks if k not in (hole, hole + 1)]
    conn = tenth_second_db(tmp_path / "c.db", ticks)
    in_sql = conn.execute('SELECT start, "end" FROM gaps ORDER BY start').fetchall()
    stamps = [ts for (ts,) in conn.execute("SELECT ts FROM samples ORDER BY ts")]
    runs = (Run(1, stamps[0] - 1, 0.1),)
    in_viewer = holes([(s, s) for s in stamps], runs, stamps[0], stamps[-1], None, None)
    assert len(in_sql) == 3
    assert [(g.start, g.end) for g in in_viewer] == in_sql


def test_the_minute_view_follows_the_minute_rule(tmp_path: Path) -> None:
    ticks = list(range(T0 - 5, T0 + 1805))  # three minutes at 0.1 s and a bit either side
    conn = tenth_second_db(tmp_path / "c.db", ticks)
    rows = conn.execute("SELECT ts, cpu FROM samples").fetchall()
    by_hand: dict[int, list[float]] = {}
    for ts, cpu in rows:
        by_hand.setdefault(minute_of(ts), []).append(cpu)
    view = conn.execute("SELECT minute, avg, count FROM minute_means ORDER BY minute").fetchall()
    assert [(m, c) for m, _, c in view] == [(m, len(v)) for m, v in sorted(by_hand.items())]
    assert all(abs(a - sum(by_hand[m]) / len(by_hand[m])) < 1e-9 for m, a, _ in view)
    full = [c for m, _, c in view if m > T0 / 10 and m + 60 <= (T0 + 1804) / 10]
    assert full == [600, 600]  # a complete minute at 0.1 s holds exactly 600 samples


def test_a_fresh_file_gets_the_current_version(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    migrate(conn)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental
