"""The arithmetic of gaps, minute buckets and unbroken line segments, on plain numbers."""

import itertools

from hypothesis import given
from hypothesis import strategies as st

from viewer.aggregate import (
    DEFAULT_INTERVAL,
    Gap,
    Point,
    Run,
    find_gaps,
    interval_at,
    minute_points,
    minute_series,
    minute_starts,
    split_at_gaps,
)

M = 1_800_000_000.0  # a whole minute (divisible by 60)
RUNS = [Run(M - 1000, 5.0)]


def pt(ts: float, cpu: float = 10.0) -> Point:
    return Point(ts, cpu, cpu, cpu, ts, ts)


def test_interval_is_the_runs_that_started_last_before_the_sample() -> None:
    runs = [Run(100.0, 5.0), Run(200.0, 1.0), Run(300.0, 60.0)]
    assert interval_at(runs, 50.0) == 5.0  # older than the first run: the first run's
    assert interval_at(runs, 200.0) == 1.0  # started <= ts
    assert interval_at(runs, 299.9) == 1.0
    assert interval_at(runs, 1e9) == 60.0
    assert interval_at([], 1.0) == DEFAULT_INTERVAL


def test_no_gap_in_a_steady_series() -> None:
    stamps = [M + 5 * i for i in range(1, 13)]
    assert find_gaps(stamps, RUNS, M, M + 60) == []


def test_a_step_of_exactly_two_intervals_is_not_a_gap_but_a_longer_one_is() -> None:
    assert find_gaps([M + 5, M + 15, M + 25.01, M + 30], RUNS, M + 1, M + 31) == [
        Gap(M + 15, M + 25.01)
    ]


def test_interior_head_and_tail_gaps() -> None:
    stamps = [M + 20, M + 25, M + 30, M + 60, M + 65]
    assert find_gaps(stamps, RUNS, M, M + 90) == [
        Gap(M, M + 20),  # head: from the window's start
        Gap(M + 30, M + 60),
        Gap(M + 65, M + 90),  # tail: to the window's end
    ]


def test_an_empty_window_is_one_gap_unless_shorter_than_two_intervals() -> None:
    assert find_gaps([], RUNS, M, M + 60) == [Gap(M, M + 60)]
    assert find_gaps([], [Run(0, 3600.0)], M, M + 900) == []


def test_the_interval_of_the_later_samples_run_judges_a_gap() -> None:
    runs = [Run(M, 1.0), Run(M + 100, 30.0)]
    # 50 s between samples of a 30 s run: no gap; 3 s inside the 1 s run: a gap.
    stamps = [M + 10, M + 13, M + 50, M + 100, M + 150]
    assert find_gaps(stamps, runs, M + 9, M + 150) == [Gap(M + 10, M + 13), Gap(M + 13, M + 50)]


def test_minutes_of_a_window_include_the_cut_first_and_the_current_last() -> None:
    assert list(minute_starts(M + 10, M + 130)) == [M, M + 60, M + 120]
    # (M, M + 60] overlaps (M, ...]; the minute before M does not.
    assert list(minute_starts(M, M + 120)) == [M, M + 60]


def test_minute_series_fills_empty_minutes_with_none() -> None:
    rows = [(int(M), 40.0, 2), (int(M + 120), 10.0, 1)]
    assert minute_series(rows, M + 1, M + 170) == [
        (M, 40.0, 2),
        (M + 60, None, 0),
        (M + 120, 10.0, 1),
    ]


def test_segments_split_exactly_at_gaps() -> None:
    points = [pt(M + 5), pt(M + 10), pt(M + 40), pt(M + 45), pt(M + 80)]
    gaps = find_gaps([p.ts for p in points], RUNS, M, M + 85)
    segs = split_at_gaps(points, gaps)
    assert [[p.ts for p in s] for s in segs] == [[M + 5, M + 10], [M + 40, M + 45], [M + 80]]


def test_minute_means_break_at_empty_minutes_and_at_gaps_between_middles() -> None:
    series = [(int(M), 10.0, 12), (int(M + 60), 20.0, 12), (int(M + 120), None, 0)]
    series += [(int(M + 180), 30.0, 12), (int(M + 240), 40.0, 6)]
    gaps = [Gap(M + 200, M + 215)]
    segs = minute_points(series, gaps, M, M + 300)
    assert segs == [[(M + 30, 10.0), (M + 90, 20.0)], [(M + 210, 30.0)], [(M + 270, 40.0)]]


def test_minute_means_outside_the_window_are_not_drawn() -> None:
    series = [(int(M), 10.0, 12), (int(M + 60), 20.0, 3)]
    assert minute_points(series, [], M + 40, M + 80) == []


@given(st.lists(st.floats(1.0, 1e10), max_size=40, unique=True))
def test_gaps_never_overlap_and_leave_no_step_longer_than_the_rule(xs: list[float]) -> None:
    stamps = sorted(xs)
    t0, t1 = (stamps[0] - 7 if stamps else 0.0), (stamps[-1] + 3 if stamps else 100.0)
    gaps = find_gaps(stamps, RUNS, t0, t1)
    for g, h in itertools.pairwise(gaps):
        assert g.end <= h.start
    edges = [t0, *stamps, t1]
    covered = {(g.start, g.end) for g in gaps}
    for a, b in itertools.pairwise(edges):
        assert ((a, b) in covered) == (b - a > 10), (a, b)
