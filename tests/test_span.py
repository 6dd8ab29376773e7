"""The window a request names: minutes and end, parsed strictly, in the viewer's time zone."""

from datetime import datetime

import pytest

from viewer.span import BAD_END, MAX_MINUTES, BadParameter, Span, end_text, parse

NOW = 1_800_000_000.0


def test_defaults_are_the_last_hour_ending_now() -> None:
    assert parse([], [], NOW) == Span(60, NOW - 3600, NOW, True)


def test_epoch_ends_make_past_windows_and_later_than_now_means_now() -> None:
    assert parse(["15"], ["1799999000"], NOW) == Span(15, 1799999000 - 900, 1799999000, False)
    assert parse(["15"], ["1799999000.25"], NOW).t1 == 1799999000.25
    assert parse(["15"], ["1900000000"], NOW) == Span(15, NOW - 900, NOW, True)


@pytest.mark.parametrize(
    ("text", "meaning"),
    [
        ("2026-11-30T14:00", "2026-11-30T14:00+01:00"),  # Berlin in winter
        ("2026-11-30T14:00:30", "2026-11-30T14:00:30+01:00"),
        ("2026-07-01T12:00", "2026-07-01T12:00+02:00"),  # in summer
        ("2026-11-30T14:00Z", "2026-11-30T14:00+00:00"),
        ("2026-11-30T14:00+03:00", "2026-11-30T14:00+03:00"),
        ("2026-11-30T14:00 03:00", "2026-11-30T14:00+03:00"),  # a '+' arrives as a space
        ("2026-11-30T14:00-05:30", "2026-11-30T14:00-05:30"),
    ],
)
def test_iso_ends_in_local_time_or_with_an_offset(berlin: None, text: str, meaning: str) -> None:
    assert parse(["60"], [text], 2e9).t1 == datetime.fromisoformat(meaning).timestamp()


def test_a_skipped_local_time_is_refused_and_a_repeated_one_is_the_first(berlin: None) -> None:
    with pytest.raises(BadParameter, match="daylight-saving"):
        parse([], ["2026-03-29T02:30"], 2e9)
    # 02:30 happens twice on 2026-10-25: first at +02:00 (00:30 UTC), then at +01:00.
    first = datetime.fromisoformat("2026-10-25T02:30+02:00").timestamp()
    assert parse([], ["2026-10-25T02:30"], 2e9).t1 == first


@pytest.mark.parametrize(
    "minutes",
    [
        "",
        "abc",
        "0",
        str(MAX_MINUTES + 1),
        "1e3",
        "+5",
        "-5",
        " 5",
        "5.0",
        "\uff10",
        "0x10",
        "99999999999999999999",
    ],
)
def test_bad_minutes(minutes: str) -> None:
    with pytest.raises(BadParameter, match="minutes must be a whole number"):
        parse([minutes], [], NOW)


def test_a_year_is_the_longest_window_and_each_parameter_comes_once() -> None:
    assert parse([str(MAX_MINUTES)], [], NOW).minutes == MAX_MINUTES
    with pytest.raises(BadParameter, match="once"):
        parse(["60", "60"], [], NOW)
    with pytest.raises(BadParameter, match="once"):
        parse([], ["1", "2"], NOW)


@pytest.mark.parametrize(
    "end",
    [
        "",
        "1e9",
        "-5",
        "1799999000.1234567",
        "now",
        "2026-11-30",
        "2026-11-30 14:00",
        "2026-11-30T14",
        "2026-13-01T00:00",
        "2026-02-30T00:00",
        "2026-11-30T24:00",
        "2026-11-30T14:00+3",
        "2026-11-30T14:00+25:00",
        "2026-11-30t14:00",
        "\uff12\uff10\uff12\uff16-11-30T14:00",  # full-width digits
    ],
)
def test_bad_ends(berlin: None, end: str) -> None:
    with pytest.raises(BadParameter) as exc:
        parse([], [end], NOW)
    assert "\n" not in str(exc.value) and ("end" in str(exc.value) or BAD_END in str(exc.value))


def test_links_name_the_moment_in_local_time_and_read_back_the_same(berlin: None) -> None:
    moments = ["2026-11-30T14:00+01:00", "2026-07-01T12:00+02:00", "2026-11-30T14:00:30+01:00"]
    moments += ["2026-10-25T02:30+02:00", "2026-10-25T02:30+01:00"]  # the hour that repeats
    for moment in moments:
        ts = datetime.fromisoformat(moment).timestamp()
        text = end_text(ts).replace("%2B", "+").replace("+", " ")
        assert parse([], [text], 2e9).t1 == ts
    winter = datetime.fromisoformat("2026-11-30T14:00+01:00").timestamp()
    assert end_text(winter) == "2026-11-30T14:00%2B01:00"
