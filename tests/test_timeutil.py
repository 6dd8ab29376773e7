"""shared/timeutil.py: exact stamps from integer ticks, the minute rule, zone labels."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.timeutil import interval_ratio, minute_of, stamp, tick_at_or_before
from tests.conftest import in_zone
from viewer.labels import zone_label


def test_a_tenth_of_a_second_gives_the_same_float_as_k_over_ten() -> None:
    ratio = interval_ratio(0.1)
    ticks = range(17_000_000_000, 17_000_010_000)
    assert all(stamp(k, ratio) == k / 10 for k in ticks)
    # The trap this avoids: k * 0.1 differs for a large share of the same ticks.
    assert sum(k * 0.1 != k / 10 for k in ticks) > 1000


@given(
    st.sampled_from([0.1, 0.2, 0.25, 0.3, 1.5, 5.0, 7.0, 60.0, 3600.0]),
    st.floats(min_value=1e9, max_value=4e9),
)
def test_a_stamp_maps_back_to_its_own_tick(interval: float, around: float) -> None:
    ratio = interval_ratio(interval)
    k = int(around / interval)
    assert tick_at_or_before(stamp(k, ratio), ratio) == k
    assert tick_at_or_before(stamp(k, ratio) - 1e-3, ratio) == k - 1


@pytest.mark.parametrize(
    ("ts", "minute"),
    [
        (1_700_000_040.0, 1_699_999_980),  # on a whole minute: belongs to the minute before
        (1_700_000_040.1, 1_700_000_040),
        (1_700_000_099.9, 1_700_000_040),
        (1_700_000_100.0, 1_700_000_040),
    ],
)
def test_minute_rule(ts: float, minute: int) -> None:
    assert minute_of(ts) == minute
    assert minute < ts <= minute + 60


@given(st.integers(min_value=10**9, max_value=2 * 10**10))
def test_minute_rule_holds_for_tenth_second_stamps(k: int) -> None:
    ts = stamp(k, interval_ratio(0.1))
    m = minute_of(ts)
    assert m % 60 == 0
    assert m < ts <= m + 60


@pytest.mark.usefixtures("berlin")
def test_zone_label_names_the_zone_and_follows_daylight_saving() -> None:
    winter, summer = 1_700_000_000.0, 1_690_000_000.0  # November 2023, July 2023
    assert zone_label(winter) == "Europe/Berlin, UTC+01:00"
    assert zone_label(summer) == "Europe/Berlin, UTC+02:00"


@pytest.mark.parametrize(
    ("tz", "label"),
    [
        ("Japan", "Japan, UTC+09:00"),  # a zone file without a slash in its name
        ("EST5EDT", "EST5EDT, UTC-05:00"),
        ("Nowhere/Zone", "Nowhere, UTC+00:00"),  # no such zone: the C library's own name
    ],
)
def test_zone_label_names_what_tz_really_selects(tz: str, label: str) -> None:
    with in_zone(tz):
        assert zone_label(1_700_000_000.0) == label
