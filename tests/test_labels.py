"""Local time for people: ticks on whole local steps, the date where a day starts, the zone's
offsets across a daylight-saving change, and labels clear of the plot's edges."""

from datetime import datetime

import pytest

from viewer.labels import offsets, ticks

pytestmark = pytest.mark.usefixtures("berlin")


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_an_hour_ticks_on_whole_local_steps_without_dates() -> None:
    found = ticks(at("2026-11-30T13:00:20+01:00"), at("2026-11-30T14:00:20+01:00"))
    assert [t.text for t in found] == ["13:10", "13:20", "13:30", "13:40", "13:50", "14:00"]
    assert all(t.date == "" for t in found)


def test_a_day_dates_the_first_tick_and_each_midnight_and_follows_summer_time() -> None:
    # 24 h to 2026-10-25 12:00: the clocks went back at 03:00 that night.
    t1 = at("2026-10-25T12:00+01:00")
    found = ticks(t1 - 86_400, t1)
    assert [(t.text, t.date) for t in found][:2] == [("15:00", "Oct 24"), ("18:00", "")]
    assert ("00:00", "Oct 25") in [(t.text, t.date) for t in found]
    # After the change the same 3-hour step lands on 02:00, 05:00, ...: each label is right.
    assert [t.text for t in found][-4:] == ["02:00", "05:00", "08:00", "11:00"]


def test_longer_windows_tick_by_day_then_by_month() -> None:
    week = ticks(at("2026-11-23T12:00+01:00"), at("2026-11-30T12:00+01:00"))
    assert [t.text for t in week] == [f"Nov {d}" for d in range(24, 31)]
    year = ticks(at("2025-12-01T12:00+01:00"), at("2026-11-30T12:00+01:00"))
    assert len(year) <= 8 and all(t.text.endswith(("2026",)) for t in year)


def test_no_label_sits_on_the_plots_edges() -> None:
    t1 = at("2026-11-30T14:01:00+01:00")
    t0 = t1 - 3600  # 13:01: the tick at 13:10 is 15 % in, 14:00 is 98 % in
    found = ticks(t0, t1, edge=0.055)
    assert all(0.055 <= (t.ts - t0) / 3600 <= 1 - 0.0275 for t in found)
    assert [t.text for t in found][-1] == "13:50"  # 14:00 would overflow the right margin


def test_offsets_name_each_change_to_the_second() -> None:
    found = offsets(at("2026-10-24T12:00+02:00"), at("2026-10-26T12:00+01:00"))
    assert found == [(at("2026-10-24T12:00+02:00"), 7200), (at("2026-10-25T03:00+02:00"), 3600)]
