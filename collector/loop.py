"""The only loop: wait for the next stamp, take a sample, hand it on; everything passed in."""

import logging
import math
import os
import select
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from threading import Event
from typing import Protocol

from collector.pause import Pause, describe, pause
from collector.sampler import Reading
from shared.timeutil import interval_ratio, stamp, tick_at_or_before

MAX_SLICE = 5.0  # longest single wait, so a clock step is noticed within seconds
log = logging.getLogger("collector")


class Sample(Protocol):
    def prime(self) -> None: ...
    def __call__(self) -> Reading: ...


class Sink(Protocol):
    """Where samples and pauses go: the Writer."""

    def __call__(self, ts: float, reading: Reading) -> None: ...
    def pause(self, pause: Pause) -> None: ...


class Notify(Protocol):
    ping_every: float

    def ping(self) -> None: ...
    def sampled(self, ts: float, cpu: float) -> None: ...


class Clock(Protocol):
    def wall(self) -> float: ...
    def mono(self) -> float: ...
    def slept(self) -> float: ...
    def wait(self, seconds: float, stop: Event) -> None: ...


class SystemClock:
    """Wall time for stamps; CLOCK_BOOTTIME for windows, since it keeps counting in suspend.

    With `wakeup` (the pipe of signal_wakeup()), a wait is one select() that a stop signal
    ends; without it, the Event's own wait, which another thread's set() ends (as in tests).
    The Event's wait is a dozen Python calls around a lock: at 5 s, a tenth of an idle tick.
    """

    def __init__(self, wakeup: int | None = None) -> None:
        self.wakeup = None if wakeup is None else [wakeup]

    def wall(self) -> float:
        return time.time()

    def mono(self) -> float:
        return time.clock_gettime(time.CLOCK_BOOTTIME)

    def slept(self) -> float:
        """Seconds the host has spent suspended since boot: BOOTTIME counts them, MONOTONIC
        does not (read back to back, a few hundred nanoseconds apart)."""
        return time.clock_gettime(time.CLOCK_BOOTTIME) - time.clock_gettime(time.CLOCK_MONOTONIC)

    def wait(self, seconds: float, stop: Event) -> None:
        if self.wakeup is None:
            stop.wait(seconds)
        elif not stop.is_set():  # a signal after this line still wakes the select()
            ready, _, _ = select.select(self.wakeup, (), (), seconds)
            if ready and not stop.is_set():  # some other signal: drain it, or every wait ends
                os.read(self.wakeup[0], 512)


@contextmanager
def signal_wakeup() -> Iterator[int]:
    """The read end of a pipe that every signal writes a byte to (signal.set_wakeup_fd), for
    SystemClock; the handlers run as before. Main thread only; undone on the way out."""
    read, write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    before = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    try:
        yield read
    finally:
        signal.set_wakeup_fd(before)
        os.close(read)
        os.close(write)


@dataclass
class _State:
    next_tick: int
    read_at: float  # mono time of the last counters reading
    primed: bool  # that reading only primed the counters: no sample has ended since
    wall: float  # both clocks at the previous wake, to notice a step
    mono: float
    read_wall: float = 0.0  # wall time and time slept at the last counters reading
    read_slept: float = 0.0

    def reading(self, clock: "Clock", primed: bool) -> None:
        """Note a counters reading just taken: a pause is measured from the last one."""
        self.read_at, self.read_wall, self.read_slept = clock.mono(), clock.wall(), clock.slept()
        self.primed = primed


def run(
    sample: Sample,
    write: Sink,
    notify: Notify,
    clock: Clock,
    interval: float,
    stop: Event,
) -> None:
    """Sample at every wall-clock multiple of `interval` until `stop` is set."""
    ratio = interval_ratio(interval)
    sample.prime()
    wall, mono = clock.wall(), clock.mono()
    st = _State(tick_at_or_before(wall, ratio) + 1, mono, True, wall, mono)
    st.reading(clock, primed=True)
    while not stop.is_set():
        notify.ping()
        wall, mono = clock.wall(), clock.mono()
        if _stepped(st, wall, mono):
            st.next_tick = _after_step(st, wall, mono, ratio, interval)
        st.wall, st.mono = wall, mono
        remaining = stamp(st.next_tick, ratio) - wall
        if remaining > 0:
            clock.wait(min(remaining, notify.ping_every, MAX_SLICE), stop)
            continue
        # stamp(k) is a rounded float and may lie just below the exact k x interval, where
        # tick_at_or_before() still says k - 1: the tick that is due is at least next_tick.
        tick = max(st.next_tick, tick_at_or_before(wall, ratio))
        st.next_tick = tick + 1
        _tick(st, sample, write, notify, clock, interval, stamp(tick, ratio))


def _tick(
    st: _State,
    sample: Sample,
    write: Sink,
    notify: Notify,
    clock: Clock,
    interval: float,
    ts: float,
) -> None:
    """One tick: a sample over the window since the last reading, unless that window is wrong."""
    window = clock.mono() - st.read_at
    if window > 2 * interval:
        _paused(st, sample, write, clock, window)
        return
    if st.primed and window < interval / 2:
        # Only right after a prime: a short window that follows a late tick is a real
        # measurement, and skipping it would leave a minute one sample short, silently.
        return
    reading = sample()
    st.reading(clock, primed=False)
    write(ts, reading)
    notify.sampled(ts, reading.cpu)


def _paused(st: _State, sample: Sample, write: Sink, clock: Clock, window: float) -> None:
    """A stall or a suspend: a sample over the whole span would hide it, and several invented
    samples would be a lie; prime again, let the gap show, and record why it is there."""
    start, slept = st.read_wall, st.read_slept
    sample.prime()
    st.reading(clock, primed=True)
    p = pause(start, st.read_wall, window, st.read_slept - slept)
    log.warning("no reading for %.1f s (%s); leaving a gap", window, describe(p))
    write.pause(p)


def _after_step(st: _State, wall: float, mono: float, ratio: Fraction, interval: float) -> int:
    """The next tick on the new time.

    After a step back the next stamp on the new time may lie up to an interval away while the
    open window is already an interval long: waiting for it stretches the window towards two
    intervals, past them with the wake-ups' latency, where it looks like a stall and is lost.
    Then the window is closed at once, stamped with the tick just passed, as after a late wake.
    """
    tick = tick_at_or_before(wall, ratio) + 1
    if (mono - st.read_at) + (stamp(tick, ratio) - wall) > 1.5 * interval:
        tick -= 1
    return min(st.next_tick, tick)


def _stepped(st: _State, wall: float, mono: float) -> bool:
    """Log a wall-clock step (wall and monotonic disagree beyond NTP's slewing)."""
    elapsed = mono - st.mono
    drift = (wall - st.wall) - elapsed
    if abs(drift) <= 1.0 + 0.001 * elapsed or math.isnan(drift):
        return False
    way = "forward" if drift > 0 else "back"
    log.warning("the wall clock stepped %s by %.1f s; stamps follow the new time", way, abs(drift))
    return True
