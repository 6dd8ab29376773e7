"""Busy percent and its modes from pairs of counter readings, by psutil's definition."""

import os
from collections.abc import Iterator
from typing import NamedTuple

import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from collector.sampler import ProcStat, Reading, Sampler, split


class Times(NamedTuple):
    """The fields of psutil.cpu_times() on Linux."""

    user: float = 0.0
    nice: float = 0.0
    system: float = 0.0
    idle: float = 0.0
    iowait: float = 0.0
    irq: float = 0.0
    softirq: float = 0.0
    steal: float = 0.0
    guest: float = 0.0
    guest_nice: float = 0.0


def pct(before: Times, after: Times) -> float:
    return split(before, after).cpu


def test_user_and_system_are_busy_idle_is_not() -> None:
    assert pct(Times(), Times(user=30, system=10, idle=60)) == pytest.approx(40.0)


def test_iowait_is_not_busy() -> None:
    assert pct(Times(), Times(user=25, iowait=50, idle=25)) == pytest.approx(25.0)


def test_irq_softirq_steal_nice_are_busy() -> None:
    after = Times(nice=10, irq=5, softirq=5, steal=10, idle=70)
    assert pct(Times(), after) == pytest.approx(30.0)


def test_guest_is_already_inside_user_and_not_counted_twice() -> None:
    # The kernel adds guest time to user (and guest_nice to nice) as well as to guest.
    after = Times(user=40, guest=40, nice=10, guest_nice=10, idle=50)
    assert split(Times(), after) == Reading(50.0, (4000, 1000, 0, 0, 0, 0, 0))


def test_deltas_not_totals_count() -> None:
    before = Times(user=1000, idle=9000)
    after = Times(user=1100, idle=9100)
    assert pct(before, after) == pytest.approx(50.0)


def test_every_mode_in_hundredths_of_all_cpu_time() -> None:
    after = Times(user=12.34, nice=1, system=5, idle=70, iowait=3, irq=0.5, softirq=1, steal=7.16)
    reading = split(Times(), after)
    assert reading.modes == (1234, 100, 500, 50, 100, 716, 300)
    assert reading.cpu == pytest.approx(27.0)


def test_a_backwards_iowait_is_clamped_and_the_modes_that_cannot_add_up_are_none() -> None:
    before = Times(user=10, iowait=5, idle=10)
    after = Times(user=20, iowait=4, idle=10)  # iowait stepped back: busy > total
    assert split(before, after) == Reading(100.0, None)


def test_a_backwards_iowait_within_range_is_zero_iowait_and_the_sum_still_holds() -> None:
    before = Times(user=10, iowait=5, idle=10)
    after = Times(user=20, iowait=4, idle=100)
    reading = split(before, after)
    assert reading.modes is not None and reading.modes[-1] == 0
    assert sum(reading.modes[:6]) / 100 == pytest.approx(reading.cpu, abs=0.05)


def test_counters_that_did_not_advance_give_zero_and_no_modes() -> None:
    assert split(Times(user=5, idle=5), Times(user=5, idle=5)) == Reading(0.0, None)


def test_a_busy_counter_that_went_back_gives_no_modes() -> None:
    # CPU hot-unplug takes a CPU's counters out of the sums: one busy mode may go back.
    reading = split(Times(user=50, system=40, idle=100), Times(user=60, system=39, idle=200))
    assert reading.modes is None and 0 <= reading.cpu <= 100


counter = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@given(before=st.builds(Times, *[counter] * 10), growth=st.builds(Times, *[counter] * 10))
def test_the_six_busy_modes_add_up_to_cpu_within_a_twentieth_of_a_point(
    before: Times, growth: Times
) -> None:
    after = Times(*(b + g for b, g in zip(before, growth, strict=True)))
    # guest is part of user, as the kernel counts it: keep the generated counters honest.
    after = after._replace(user=after.user + after.guest, nice=after.nice + after.guest_nice)
    reading = split(before, after)
    assert 0.0 <= reading.cpu <= 100.0
    if reading.modes is not None:
        assert all(0 <= m <= 10000 for m in reading.modes)
        assert abs(sum(reading.modes[:6]) / 100 - reading.cpu) <= 0.05


def test_sampler_primes_then_measures_each_window_from_the_previous_reading() -> None:
    readings: Iterator[Times] = iter(
        [Times(idle=100), Times(user=50, idle=150), Times(user=50, idle=250)]
    )
    sample = Sampler(lambda: next(readings))
    sample.prime()
    assert sample() == Reading(50.0, (5000, 0, 0, 0, 0, 0, 0))
    assert sample() == Reading(0.0, (0, 0, 0, 0, 0, 0, 0))


def test_an_unprimed_sampler_refuses() -> None:
    with pytest.raises(RuntimeError):
        Sampler(lambda: Times(idle=1))()


def test_the_real_counters_give_a_percentage_and_modes_that_add_up() -> None:
    sample = Sampler()
    sample.prime()
    sum(range(2_000_000))
    reading = sample()
    assert 0.0 <= reading.cpu <= 100.0
    if reading.modes is not None:  # None only if the counters did not move at all
        assert abs(sum(reading.modes[:6]) / 100 - reading.cpu) <= 0.05


def kernel_ticks() -> list[int]:
    """The first line of /proc/stat, read here the plain way: the kernel's own ticks."""
    with open("/proc/stat") as f:
        return [int(v) for v in f.readline().split()[1:11]]


def test_the_kept_descriptor_reads_the_kernels_counters_afresh_each_time() -> None:
    read = ProcStat()
    tick = os.sysconf("SC_CLK_TCK")
    for _ in range(3):
        before = kernel_ticks()
        sum(range(500_000))
        got = read()
        after = kernel_ticks()
        assert got._fields == psutil.cpu_times()._fields
        for field, lo, value, hi in zip(got._fields, before, got, after, strict=False):
            assert lo <= round(value * tick) <= hi, field
        assert round(got.user * tick) + round(got.system * tick) > 0


def test_a_sampler_on_the_kept_descriptor_measures_windows_like_psutil() -> None:
    ours, theirs = Sampler(ProcStat()), Sampler()
    ours.prime()
    theirs.prime()
    sum(range(2_000_000))
    a, b = ours(), theirs()
    assert 0.0 <= a.cpu <= 100.0
    assert abs(a.cpu - b.cpu) <= 20.0  # the same window to within the reads' few ticks
