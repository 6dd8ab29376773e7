"""Gaps and their causes on plain numbers: the window's holes, then each cause's rule."""

import itertools

from hypothesis import given
from hypothesis import strategies as st

from viewer.facts import DEFAULT_INTERVAL, Run, interval_at
from viewer.gaps import Hole, Pause, cause, cut_minutes, holes, name

M = 1_800_000_000.0  # a whole minute (divisible by 60)
RUNS = (Run(1, M - 1000, 5.0, None, "boot-a", M - 9000),)


def spans(
    stamps: list[float], runs: tuple[Run, ...], t0: float, t1: float
) -> list[tuple[float, float]]:
    found = holes([(s, s) for s in stamps], runs, t0, t1, None, None)
    return [(h.start, h.end) for h in found]


def test_interval_is_the_runs_that_started_last_before_the_sample() -> None:
    runs = (Run(1, 100.0, 5.0), Run(2, 200.0, 1.0), Run(3, 300.0, 60.0))
    assert interval_at(runs, 50.0) == 5.0  # older than the first run: the first run's
    assert interval_at(runs, 200.0) == 1.0  # started <= ts
    assert interval_at(runs, 299.9) == 1.0
    assert interval_at(runs, 1e9) == 60.0
    assert interval_at((), 1.0) == DEFAULT_INTERVAL


def test_a_step_of_exactly_two_intervals_is_not_a_gap_but_a_longer_one_is() -> None:
    assert spans([M + 5, M + 15, M + 25.01, M + 30], RUNS, M + 1, M + 31) == [(M + 15, M + 25.01)]


def test_interior_head_and_tail_holes_know_the_samples_around_them() -> None:
    found = holes([(M + 20, M + 30), (M + 60, M + 65)], RUNS, M, M + 90, M - 40, M + 200)
    assert found == [
        Hole(M, M + 20, M - 40, M + 20),  # head: its span began before the window
        Hole(M + 30, M + 60, M + 30, M + 60),
        Hole(M + 65, M + 90, M + 65, M + 200),  # tail: its span ends after the window
    ]


def test_an_empty_window_is_one_hole_unless_shorter_than_two_intervals() -> None:
    assert holes([], RUNS, M, M + 60, M - 5, None) == [Hole(M, M + 60, M - 5, None)]
    assert holes([], (Run(1, 0, 3600.0),), M, M + 900, None, None) == []


def test_the_interval_of_the_later_samples_run_judges_a_gap() -> None:
    runs = (Run(1, M, 1.0), Run(2, M + 100, 30.0))
    # 50 s between samples of a 30 s run: no gap; 3 s inside the 1 s run: a gap.
    stamps = [M + 10, M + 13, M + 50, M + 100, M + 150]
    assert spans(stamps, runs, M + 9, M + 150) == [(M + 10, M + 13), (M + 13, M + 50)]


@given(st.lists(st.floats(1.0, 1e10), max_size=40, unique=True))
def test_gaps_never_overlap_and_leave_no_step_longer_than_the_rule(xs: list[float]) -> None:
    stamps = sorted(xs)
    t0, t1 = (stamps[0] - 7 if stamps else 0.0), (stamps[-1] + 3 if stamps else 100.0)
    found = spans(stamps, (Run(1, 0.0, 5.0),), t0, t1)
    for g, h in itertools.pairwise(found):
        assert g[1] <= h[0]
    edges = [t0, *stamps, t1]
    covered = set(found)
    for a, b in itertools.pairwise(edges):
        assert ((a, b) in covered) == (b - a > 10.001), (a, b)


# The causes, rule by rule (the contract's numbered rules, in order).
BOOT_A, BOOT_B = "boot-a", "boot-b"


def test_nothing_before_it_is_before_history() -> None:
    assert cause(None, M + 10, RUNS, (), False) == ("before-history", "")


def test_after_the_newest_sample_the_lock_tells_not_running_from_stalled() -> None:
    assert cause(M + 10, None, RUNS, (), False)[0] == "collector-not-running"
    assert cause(M + 10, None, RUNS, (), True)[0] == "collector-stalled"


def test_rows_outside_any_run_with_boot_records_are_unknown() -> None:
    old = (Run(1, M - 100, 5.0), Run(2, M + 100, 5.0, None, BOOT_A, 1.0))  # a run before v3
    assert cause(M, M + 200, old, (), False)[0] == "unknown"
    stopped = (Run(1, M - 100, 5.0, M, BOOT_A, 1.0), Run(2, M + 100, 5.0, None, BOOT_A, 1.0))
    # M + 50 lies after run 1 stopped and before run 2 started: a row put in by hand.
    assert cause(M + 50, M + 200, stopped, (), False)[0] == "unknown"
    assert cause(M - 200, M + 200, stopped, (), False)[0] == "unknown"  # before the first run


def test_another_boot_is_a_restart_and_says_how_the_run_before_it_ended() -> None:
    clean = (Run(1, M - 100, 5.0, M, BOOT_A, 1.0), Run(2, M + 100, 5.0, None, BOOT_B, 2.0))
    killed = (Run(1, M - 100, 5.0, None, BOOT_A, 1.0), Run(2, M + 100, 5.0, None, BOOT_B, 2.0))
    why, detail = cause(M - 5, M + 200, clean, (), False)
    assert why == "host-restarted" and "stopped cleanly" in detail
    why, detail = cause(M - 5, M + 200, killed, (), False)
    assert why == "host-restarted" and "did not stop cleanly" in detail


def test_in_one_run_the_recorded_pause_names_it() -> None:
    stall = Pause(1, M + 10.01, M + 40, "stall", 0.0)
    sleep = Pause(1, M + 10.01, M + 4000, "suspend", 3980.0)
    assert cause(M + 10, M + 45, RUNS, [stall], False)[0] == "collector-stalled"
    why, detail = cause(M + 10, M + 4005, RUNS, [sleep], False)
    assert why == "host-suspended" and "1 h 06 min" in detail
    assert cause(M + 10, M + 45, RUNS, [], False)[0] == "unknown"
    elsewhere = Pause(2, M + 10.01, M + 40, "stall", 0.0)  # another run's pause
    assert cause(M + 10, M + 45, RUNS, [elsewhere], False)[0] == "unknown"


def test_two_runs_of_one_boot_are_a_stop_or_a_kill() -> None:
    clean = (Run(1, M - 100, 5.0, M, BOOT_A, 1.0), Run(2, M + 100, 5.0, None, BOOT_A, 1.0))
    killed = (Run(1, M - 100, 5.0, None, BOOT_A, 1.0), Run(2, M + 100, 5.0, None, BOOT_A, 1.0))
    assert cause(M - 5, M + 105, clean, (), False)[0] == "collector-stopped"
    assert cause(M - 5, M + 105, killed, (), False)[0] == "collector-killed"


def test_detail_is_always_a_string() -> None:
    found = holes([(M + 20, M + 30)], RUNS, M, M + 90, None, None)
    for gap in name(found, RUNS, (), False):
        assert isinstance(gap.detail, str)


def test_the_minutes_a_gap_cuts() -> None:
    minutes = [M, M + 60, M + 120, M + 180]
    # (M + 55, M + 130): cuts M (its last 5 s), M + 60 wholly, and M + 120's first 10 s.
    assert cut_minutes(minutes, [(M + 55, M + 130)]) == {M, M + 60, M + 120}
    assert cut_minutes(minutes, [(M + 60, M + 120)]) == {M + 60}
