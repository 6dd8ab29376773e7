"""The loop with a fake clock: exact stamps, no drift, gaps after stalls, clock steps."""

import itertools
import logging
import math
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from threading import Event

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.backlog import Backlog
from collector.loop import SystemClock, run, signal_wakeup
from collector.pause import Pause
from collector.sampler import Reading
from collector.store import Store
from collector.writer import Writer
from shared.timeutil import interval_ratio, stamp

START = 1_700_000_001.3  # 1.3 s after a multiple of 5 s


class FakeClock:
    """Time moves only when the loop waits (plus a little wake-up latency); hooks can jump it."""

    def __init__(self, wall: float, latency: float = 0.0) -> None:
        self.w, self.m, self.latency = wall, 5000.0, latency
        self.s = 0.0  # seconds suspended: a hook that suspends adds to w, m and s
        self.hooks: list[tuple[float, Callable[[FakeClock], None]]] = []

    def wall(self) -> float:
        return self.w

    def mono(self) -> float:
        return self.m

    def slept(self) -> float:
        return self.s

    def wait(self, seconds: float, stop: Event) -> None:
        # A real wait lasts at least a few microseconds, even for a remainder smaller than the
        # resolution of a wall-clock float (~0.5 us at 4e9), which would otherwise stand still.
        step = max(seconds + self.latency, 1e-5)
        self.w += step
        self.m += step
        for hook in [h for h in self.hooks if h[0] <= self.w]:
            self.hooks.remove(hook)
            hook[1](self)

    def at(self, wall: float, action: Callable[["FakeClock"], None]) -> None:
        self.hooks.append((wall, action))


class FakeSampler:
    def __init__(self) -> None:
        self.primes = 0
        self.calls = 0

    def prime(self) -> None:
        self.primes += 1

    def __call__(self) -> Reading:
        self.calls += 1
        return Reading(float(self.calls % 100), None)


class FakeNotify:
    ping_every = math.inf

    def __init__(self) -> None:
        self.pings = 0
        self.statuses: list[tuple[float, float]] = []

    def ping(self) -> None:
        self.pings += 1

    def sampled(self, ts: float, cpu: float) -> None:
        self.statuses.append((ts, cpu))


class Sink:
    """The loop's `write`: hands samples to `on_sample`, keeps the pauses it reports."""

    def __init__(self, on_sample: Callable[[float, Reading], None]) -> None:
        self.on_sample = on_sample
        self.pauses: list[Pause] = []

    def __call__(self, ts: float, reading: Reading) -> None:
        self.on_sample(ts, reading)

    def pause(self, pause: Pause) -> None:
        self.pauses.append(pause)


class Recorder:
    """The loop's `write`: records (stamp, value, wall time of the write) and pauses; stops at
    `until`."""

    def __init__(self, clock: FakeClock, stop: Event, until: float) -> None:
        self.clock, self.stop, self.until = clock, stop, until
        self.rows: list[tuple[float, float, float]] = []
        self.pauses: list[Pause] = []

    def __call__(self, ts: float, reading: Reading) -> None:
        self.rows.append((ts, reading.cpu, self.clock.w))
        if self.clock.w >= self.until:
            self.stop.set()

    def pause(self, pause: Pause) -> None:
        self.pauses.append(pause)

    @property
    def stamps(self) -> list[float]:
        return [r[0] for r in self.rows]


def drive(clock: FakeClock, interval: float, seconds: float) -> tuple[Recorder, FakeSampler]:
    stop = Event()
    write = Recorder(clock, stop, clock.w + seconds)
    sampler = FakeSampler()
    run(sampler, write, FakeNotify(), clock, interval, stop)
    return write, sampler


def ticks(stamps: list[float], ratio: Fraction) -> list[int]:
    """The tick number of every stamp, asserting each stamp is exactly stamp(tick)."""
    out = []
    for ts in stamps:
        k = round(ts * ratio.denominator / ratio.numerator)
        assert ts == stamp(k, ratio), f"{ts!r} is not exactly stamp({k})"
        out.append(k)
    return out


def test_an_hour_at_5s_holds_720_exact_consecutive_stamps_without_drift() -> None:
    clock = FakeClock(START, latency=0.003)  # every wake a little late, as in life
    write, sampler = drive(clock, 5.0, 3600)
    ks = ticks(write.stamps, interval_ratio(5.0))
    assert ks == list(range(ks[0], ks[0] + len(ks)))
    assert len([ts for ts in write.stamps if START < ts <= START + 3600]) == 720
    assert all(ts % 5 == 0 for ts in write.stamps)
    assert sampler.primes == 1


def test_at_0_1s_every_stamp_is_tick_over_ten_not_tick_times_a_tenth() -> None:
    clock = FakeClock(1_700_000_000.03, latency=0.0004)
    write, _ = drive(clock, 0.1, 60)
    ks = ticks(write.stamps, interval_ratio(0.1))
    assert ks == list(range(ks[0], ks[0] + len(ks)))
    assert len(ks) >= 599
    assert all(ts == k / 10 for ts, k in zip(write.stamps, ks, strict=True))
    assert any(k / 10 != k * 0.1 for k in ks)  # the trap the integer ticks avoid


def test_the_first_reading_only_primes_and_a_too_short_first_window_is_skipped() -> None:
    clock = FakeClock(1_700_000_004.9)  # the next stamp is 0.1 s after start
    write, sampler = drive(clock, 5.0, 20)
    assert write.stamps[0] == 1_700_000_010.0
    assert sampler.primes == 1
    assert sampler.calls == len(write.rows)


def test_a_late_tick_is_followed_by_a_stored_short_window_not_a_missing_sample() -> None:
    # Found at --interval 0.1: a wake-up 60 ms late left the next window 40 ms long, which the
    # loop used to drop silently, so a complete minute held 599 samples instead of 600.
    clock = FakeClock(1_700_000_000.03, latency=0.0004)

    def oversleep(c: FakeClock) -> None:
        c.w += 0.06
        c.m += 0.06

    for late_at in (1_700_000_010.05, 1_700_000_020.05, 1_700_000_030.05):
        clock.at(late_at, oversleep)
    write, sampler = drive(clock, 0.1, 62)
    ks = ticks(write.stamps, interval_ratio(0.1))
    assert ks == list(range(ks[0], ks[0] + len(ks)))  # no tick missing
    minute = [ts for ts in write.stamps if 1_700_000_000 < ts <= 1_700_000_060]
    assert len(minute) == 600
    assert sampler.primes == 1


def test_after_a_stall_the_counters_are_primed_again_and_nothing_is_invented(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(START)

    def stall(c: FakeClock) -> None:
        c.w += 60
        c.m += 60

    clock.at(START + 30, stall)
    with caplog.at_level(logging.WARNING, logger="collector"):
        write, sampler = drive(clock, 5.0, 150)
    assert sampler.primes == 2
    assert "stall" in caplog.text
    gaps = [b - a for a, b in itertools.pairwise(write.stamps)]
    assert max(gaps) > 60  # the stall shows as a gap ...
    assert gaps.count(max(gaps)) == 1 and set(gaps) - {max(gaps)} == {5.0}  # ... and only there
    written_at = [r[2] for r in write.rows]
    assert all(b - a >= 5 for a, b in itertools.pairwise(written_at))  # no burst


def test_a_clock_step_forward_is_logged_and_stamps_follow_the_new_time(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(START)
    clock.at(START + 20, lambda c: setattr(c, "w", c.w + 3600))
    with caplog.at_level(logging.WARNING, logger="collector"):
        write, sampler = drive(clock, 5.0, 3700)
    assert caplog.text.count("stepped forward by 3600") == 1
    assert sampler.primes == 1  # the window was still one interval: no stall
    gaps = [b - a for a, b in itertools.pairwise(write.stamps)]
    assert sorted(set(gaps)) == [5.0, 3605.0]
    assert write.stamps[-1] >= START + 3700


def test_a_clock_step_back_never_overwrites_a_stored_sample_and_carries_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store.open(tmp_path / "c.db", 50)
    clock = FakeClock(START)
    writer = Writer(store, Backlog(100), mono=clock.mono)
    clock.at(START + 60, lambda c: setattr(c, "w", c.w - 30))
    stop, seen = Event(), []

    def write(ts: float, reading: Reading) -> None:
        seen.append(ts)
        writer(ts, reading)
        if clock.w >= START + 120:
            stop.set()

    with caplog.at_level(logging.WARNING, logger="collector"):
        run(FakeSampler(), Sink(write), FakeNotify(), clock, 5.0, stop)
    assert caplog.text.count("stepped back by 30") == 1
    assert "already stored" in caplog.text
    rows = store.conn.execute("SELECT ts, cpu FROM samples ORDER BY ts").fetchall()
    stamps = [r[0] for r in rows]
    assert len(seen) > len(rows)  # the repeated stamps were offered ...
    assert stamps == sorted(set(seen))  # ... but each stamp is stored once
    first = {ts: i + 1.0 for i, ts in reversed(list(enumerate(seen)))}
    assert all(cpu == first[ts] for ts, cpu in rows)  # holding the first value, not the later
    assert stamps[-1] >= START + 115  # and sampling carried on past the old time
    store.close()


def test_a_stop_ends_a_long_wait_at_once() -> None:
    stop = Event()
    thread = threading.Thread(
        target=run,
        args=(FakeSampler(), Sink(lambda ts, r: None), FakeNotify(), SystemClock(), 3600.0, stop),
    )
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    stop.set()
    thread.join(3)
    assert not thread.is_alive()
    assert time.monotonic() - started < 3


def test_a_stop_signal_ends_a_long_wait_on_the_wakeup_pipe_at_once() -> None:
    stop = Event()
    before = signal.signal(signal.SIGALRM, lambda *_: stop.set())
    try:
        with signal_wakeup() as wakeup:
            clock = SystemClock(wakeup)
            signal.setitimer(signal.ITIMER_REAL, 0.2)  # the signal comes while it waits
            started = time.monotonic()
            clock.wait(60.0, stop)
            assert stop.is_set()
            assert time.monotonic() - started < 30
            started = time.monotonic()
            clock.wait(60.0, stop)  # once stopped, a wait does not wait at all
            assert time.monotonic() - started < 1
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)
    assert signal.set_wakeup_fd(-1) == -1  # the pipe was handed back on the way out


def test_a_signal_that_does_not_stop_ends_one_wait_and_no_more() -> None:
    stop, heard = Event(), Event()
    before = signal.signal(signal.SIGUSR1, lambda *_: heard.set())
    try:
        with signal_wakeup() as wakeup:
            clock = SystemClock(wakeup)
            os.kill(os.getpid(), signal.SIGUSR1)
            clock.wait(60.0, stop)  # the byte is already in the pipe: returns at once
            assert heard.is_set() and not stop.is_set()
            started = time.monotonic()
            clock.wait(0.2, stop)  # drained: the next wait waits its time
            assert time.monotonic() - started >= 0.19
    finally:
        signal.signal(signal.SIGUSR1, before)


def test_the_loop_pings_at_every_tick() -> None:
    clock, stop, notify = FakeClock(START), Event(), FakeNotify()
    write = Recorder(clock, stop, START + 60)
    run(FakeSampler(), write, notify, clock, 5.0, stop)
    assert notify.pings >= len(write.rows)
    assert [s[0] for s in notify.statuses] == write.stamps


def test_the_store_holds_what_the_loop_wrote(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "c.db", 50)
    clock, stop = FakeClock(START), Event()
    writer = Writer(store, Backlog(10), mono=clock.mono)
    recorder = Recorder(clock, stop, START + 10)

    def write(ts: float, reading: Reading) -> None:
        recorder(ts, reading)
        writer(ts, reading)

    run(FakeSampler(), Sink(write), FakeNotify(), clock, 0.5, stop)
    store.close()
    with sqlite3.connect(tmp_path / "c.db") as conn:
        assert [
            r[0] for r in conn.execute("SELECT ts FROM samples ORDER BY ts")
        ] == recorder.stamps


@settings(max_examples=60, deadline=None)
@given(
    interval=st.decimals(min_value="0.1", max_value="3600", places=2).map(float),
    start=st.floats(min_value=1e9, max_value=4e9),
    latency=st.floats(min_value=0, max_value=0.01),
)
def test_any_interval_gives_consecutive_exact_stamps(
    interval: float, start: float, latency: float
) -> None:
    clock = FakeClock(start, latency=min(latency, interval / 10))
    write, sampler = drive(clock, interval, 12 * interval)
    ks = ticks(write.stamps, interval_ratio(interval))
    assert len(ks) >= 10
    assert ks == list(range(ks[0], ks[0] + len(ks)))
    assert sampler.primes == 1


def test_waking_exactly_on_a_stamp_that_rounded_down_still_takes_that_tick() -> None:
    # With no latency the fake clock lands exactly on each float stamp. For some k, k / 10
    # rounds below the exact k x 0.1, where tick_at_or_before() answers k - 1.
    ratio = interval_ratio(0.1)
    below = [
        k
        for k in range(17_000_000_000, 17_000_000_100)
        if Fraction(stamp(k, ratio)) < Fraction(k, 10)
    ]
    assert below
    clock, stop = FakeClock(stamp(below[0] - 5, ratio) + 0.01), Event()
    stamps: list[float] = []

    def write(ts: float, reading: Reading) -> None:
        assert ts not in stamps, f"{ts!r} offered twice"
        stamps.append(ts)
        if len(stamps) >= 50:
            stop.set()

    run(FakeSampler(), Sink(write), FakeNotify(), clock, 0.1, stop)
    assert stamp(below[0], ratio) in stamps
    assert ticks(stamps, ratio) == list(range(below[0] - 4, below[0] + 46))


def test_a_clock_step_back_between_ticks_is_no_stall_and_loses_no_window(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Found at 0.1 s: the wall clock stepped back by 3.002 s just as a tick woke (at 10.103,
    # now 7.101). Waiting for the next stamp on the new time (7.2) kept the window open 0.1 s
    # more: 0.202 s in all, taken for a stall ("no reading for 0.2 s"), primed again, lost.
    clock = FakeClock(1_700_000_000.03, latency=0.003)
    clock.at(1_700_000_010.1, lambda c: setattr(c, "w", c.w - 3.002))
    with caplog.at_level(logging.WARNING, logger="collector"):
        write, sampler = drive(clock, 0.1, 20)
    assert caplog.text.count("stepped back by 3.0") == 1
    assert "no reading" not in caplog.text
    assert sampler.primes == 1 and sampler.calls == len(write.rows)
    # The window the step cut short was closed at once, stamped with the tick just passed on
    # the new time (7.1, already stored: the writer drops it as a collision).
    stamps = write.stamps
    back = next(i for i, (a, b) in enumerate(itertools.pairwise(stamps)) if b < a)
    assert stamps[back : back + 3] == [1_700_000_010.0, 1_700_000_007.1, 1_700_000_007.2]


def test_a_stall_is_reported_as_a_pause_from_the_last_reading_to_the_new_prime() -> None:
    clock = FakeClock(START)

    def stall(c: FakeClock) -> None:  # SIGSTOP for a minute: no time asleep
        c.w += 60
        c.m += 60

    clock.at(START + 30, stall)
    write, _ = drive(clock, 5.0, 150)
    (p,) = write.pauses
    assert p.kind == "stall" and p.slept == 0.0
    before = max(r[2] for r in write.rows if r[2] <= START + 30)
    after = min(r[0] for r in write.rows if r[0] > START + 30)
    # From the wall time of the last reading before it to the prime that ended it, which is
    # at most one interval before the first sample after it.
    assert p.start == before and after - 5.0 <= p.stop < after
    assert p.stop - p.start > 60


def test_a_suspend_is_measured_by_boottime_minus_monotonic_and_reported_as_one() -> None:
    clock = FakeClock(START)

    def suspend(c: FakeClock) -> None:  # the host sleeps 10 minutes: BOOTTIME counts them
        c.w += 600
        c.m += 600
        c.s += 600

    clock.at(START + 30, suspend)
    write, sampler = drive(clock, 5.0, 800)
    (p,) = write.pauses
    assert p.kind == "suspend" and p.slept == 600.0
    assert sampler.primes == 2


def test_a_short_sleep_inside_a_long_stall_is_a_stall() -> None:
    clock = FakeClock(START)

    def mostly_stalled(c: FakeClock) -> None:
        c.w += 100
        c.m += 100
        c.s += 20  # asleep for a fifth of it

    clock.at(START + 30, mostly_stalled)
    write, _ = drive(clock, 5.0, 300)
    assert [(p.kind, p.slept) for p in write.pauses] == [("stall", 20.0)]
