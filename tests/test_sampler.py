"""Busy percent from pairs of counter readings, by psutil's definition."""

from collections.abc import Iterator
from typing import NamedTuple

import pytest

from collector.sampler import Counters, Sampler, busy_percent, counters


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
    return busy_percent(counters(before), counters(after))


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
    assert pct(Times(), after) == pytest.approx(50.0)


def test_deltas_not_totals_count() -> None:
    before = Times(user=1000, idle=9000)
    after = Times(user=1100, idle=9100)
    assert pct(before, after) == pytest.approx(50.0)


def test_a_backwards_iowait_is_clamped_into_range() -> None:
    before = Times(user=10, iowait=5, idle=10)
    after = Times(user=20, iowait=4, idle=10)  # iowait stepped back: busy > total
    assert pct(before, after) == 100.0
    assert busy_percent(Counters(5, 10), Counters(5, 10)) == 0.0


def test_sampler_primes_then_measures_each_window_from_the_previous_reading() -> None:
    readings: Iterator[Times] = iter(
        [Times(idle=100), Times(user=50, idle=150), Times(user=50, idle=250)]
    )
    sample = Sampler(lambda: next(readings))
    sample.prime()
    assert sample() == pytest.approx(50.0)
    assert sample() == pytest.approx(0.0)


def test_an_unprimed_sampler_refuses() -> None:
    with pytest.raises(RuntimeError):
        Sampler(lambda: Times(idle=1))()


def test_the_real_counters_give_a_percentage() -> None:
    sample = Sampler()
    sample.prime()
    sum(range(200_000))
    assert 0.0 <= sample() <= 100.0
