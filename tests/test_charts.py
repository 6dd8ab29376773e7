"""The SVG itself, parsed: breaks and bands at gaps, stacked modes, a proportional time axis
with dated labels, nothing from outside, and the pygal markup the drawing relies on."""

import json
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from viewer import charts
from viewer.cells import Means, Point
from viewer.facts import Run
from viewer.gaps import holes, name
from viewer.window import Window

NS = {"s": "http://www.w3.org/2000/svg"}
T1 = 1_800_000_000.0
T0 = T1 - 3600
RUNS = (Run(1, T0 - 100, 5.0),)
MODES = (1000, 0, 300, 0, 50, 0, 20)  # hundredths: user 10 %, system 3 %, softirq 0.5 %, ...


def pt(ts: float, cpu: float, modes: tuple[int, ...] | None = MODES) -> Point:
    known = tuple(m / 100 for m in modes) if modes else None
    return Point(ts, cpu, cpu, cpu, ts, ts, 1, known)


def window(stamps: list[float], t0: float = T0, t1: float = T1) -> Window:
    points = [pt(ts, 20 + (ts % 50)) for ts in stamps]
    found = holes([(p.first, p.last) for p in points], RUNS, t0, t1, None, None)
    return Window(t0, t1, points, False, name(found, RUNS, (), False), [], None, frozenset())


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def lines(svg: str, series: str) -> list[list[tuple[float, float]]]:
    """The drawn <path>s of one series (cpu, low, high, mean), each as its list of (x, y)."""
    group = [
        g for g in parsed(svg).iter(f"{{{NS['s']}}}g") if f"line-{series}" in g.get("class", "")
    ]
    if not group:
        return []
    out = []
    for path in group[0].findall("s:path", NS):
        nums = [float(n) for n in re.findall(r"-?\d+\.?\d*", path.get("d", ""))]
        out.append(list(zip(nums[::2], nums[1::2], strict=True)))
    return out


def meta(svg: str) -> dict[str, Any]:
    node = parsed(svg).find("s:metadata", NS)
    assert node is not None and node.text
    data: dict[str, Any] = json.loads(node.text)
    return data


def plot_left(svg: str) -> float:
    plot = next(g for g in parsed(svg).iter(f"{{{NS['s']}}}g") if g.get("class") == "plot")
    return float(re.findall(r"translate\(([\d.]+)", plot.get("transform", ""))[0])


def of_class(svg: str, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in parsed(svg).iter(f"{{{NS['s']}}}{tag}") if cls in e.get("class", "")]


def test_each_gap_starts_a_new_path() -> None:
    stamps = [T0 + 5 * i for i in range(1, 721) if not 200 <= i < 260 and not 500 <= i < 510]
    chart = charts.instant(window(stamps))
    drawn = lines(chart.document, "cpu")
    assert len(drawn) == 3
    assert sum(len(p) for p in drawn) == len(stamps)


def test_a_lone_sample_between_gaps_gets_a_dot() -> None:
    stamps = [T0 + 100, T0 + 105, T0 + 1000, T0 + 2000, T0 + 2005]
    chart = charts.instant(window(stamps))
    assert len(lines(chart.document, "cpu")) == 2
    assert len(of_class(chart.document, "circle", "lone")) == 1


def test_data_spans_its_share_of_the_window() -> None:
    # Samples only in the last quarter of the hour: the line covers the last quarter.
    stamps = [T1 - 900 + 5 * i for i in range(0, 181)]
    chart = charts.instant(window(stamps))
    m = meta(chart.document)
    (path,) = lines(chart.document, "cpu")
    xs = [plot_left(chart.document) + x for x, _ in path]
    width = m["x1"] - m["x0"]
    assert abs((xs[-1] - xs[0]) / width - 900 / 3600) < 1e-3
    assert abs((xs[0] - m["x0"]) / width - 0.75) < 1e-3
    # The axis is the same with no data.
    empty = meta(charts.instant(window([])).document)
    assert (empty["x0"], empty["x1"]) == (m["x0"], m["x1"])


def test_the_axis_spans_the_window_with_no_data() -> None:
    chart = charts.instant(window([]))
    assert "No data" not in chart.document
    texts = [t.text for t in parsed(chart.document).iter(f"{{{NS['s']}}}text")]
    assert len([t for t in texts if t and re.fullmatch(r"\d\d:\d\d", t)]) >= 4
    assert lines(chart.document, "cpu") == []


def test_reduced_windows_draw_min_and_max_too() -> None:
    points = [
        Point(T0 + 5 * i, 50, 10, 90, T0 + 5 * i - 2, T0 + 5 * i + 2, 40, None)
        for i in range(1, 700)
    ]
    win = Window(T0, T1, points, True, [], [], None, frozenset())
    chart = charts.instant(win)
    assert [len(lines(chart.document, s)) for s in ("low", "high", "cpu")] == [1, 1, 1]
    ys = {s: lines(chart.document, s)[0][0][1] for s in ("low", "high", "cpu")}
    assert ys["high"] < ys["cpu"] < ys["low"]  # max above mean above min (y grows downwards)


def test_every_gap_is_a_band_over_the_plots_height_never_too_thin_to_see() -> None:
    # A day with one 20 s gap: 0.2 px wide by scale, drawn BAND_MIN wide; a 2 h gap by scale.
    t1, t0 = T1, T1 - 86_400
    stamps = [t0 + 10 * i for i in range(1, 8640) if i != 3000 and not 5000 <= i < 5720]
    chart = charts.instant(window(stamps, t0, t1))
    bands = of_class(chart.document, "rect", "band")
    assert len(bands) == 2
    plot_height = meta(chart.document)["height"]
    plot_width = meta(chart.document)["x1"] - meta(chart.document)["x0"]
    widths = sorted(float(b.get("width", 0)) for b in bands)
    assert widths[0] == charts.BAND_MIN and widths[1] == pytest.approx(plot_width / 12, abs=0.2)
    assert all(float(b.get("height", 0)) == pytest.approx(plot_height, abs=0.1) for b in bands)
    titles = [b.find("s:title", NS) for b in bands]
    assert all(
        t is not None and t.text and "gap " in t.text and "unknown" in t.text for t in titles
    )
    assert any("20 s" in (t.text or "") for t in titles if t is not None)
    assert all("cause-unknown" in b.get("class", "") for b in bands)


def test_minute_means_break_draw_at_the_middle_and_mark_a_cut_minute() -> None:
    minutes = [
        Means(T0, 60, 10.0, 10.0, 10.0, 1, 12),
        Means(T0 + 60, 60, 20.0, 20.0, 20.0, 1, 7),  # a gap cuts it
        Means(T0 + 600, 60, 30.0, 30.0, 30.0, 1, 12),
    ]
    win = Window(T0, T1, [], False, [], minutes, None, frozenset({T0 + 60}))
    chart = charts.average(win)
    assert len(lines(chart.document, "mean")) == 1
    assert len(of_class(chart.document, "circle", "lone")) == 1
    assert len(of_class(chart.document, "circle", "partial")) == 1
    m = meta(chart.document)
    stamps, t = [], m["t0"]
    for step in m["steps"]:
        t += step
        stamps.append(t)
    assert stamps == [T0 + 30, T0 + 90, T0 + 630]
    assert m["columns"][3] == [12, 7, 12] and m["columns"][5] == [0, 1, 0]


def test_modes_are_stacked_bottom_up_and_a_mode_that_is_always_zero_draws_nothing() -> None:
    chart = charts.modes(window([T0 + 5 * i for i in range(1, 720)]))
    areas = of_class(chart.document, "path", "mode")
    assert [a.get("class") for a in areas] == [
        "mode mode-iowait",
        "mode mode-softirq",
        "mode mode-system",
        "mode mode-user",
    ]  # drawn from the top down, each covering the base of the one above
    m = meta(chart.document)
    assert m["max"] == 20.0  # the stack reaches 13.7 %: the scale is the next step up

    def y(v: float) -> float:
        return float(m["y0"] + (m["y1"] - m["y0"]) * v / m["max"])

    top = float(re.findall(r"V(-?[\d.]+)", areas[0].get("d", ""))[0]) + m["top"]
    assert top == pytest.approx(y(10 + 3 + 0.5 + 0.2), abs=0.1)
    user_top = float(re.findall(r"V(-?[\d.]+)", areas[-1].get("d", ""))[0]) + m["top"]
    assert user_top == pytest.approx(y(10), abs=0.1)


def test_samples_without_modes_leave_the_modes_chart_empty_there_without_a_band() -> None:
    points = [pt(T0 + 5 * i, 20, None if 100 <= i < 200 else MODES) for i in range(1, 720)]
    win = Window(T0, T1, points, False, [], [], None, frozenset())
    chart = charts.modes(win)
    (user,) = of_class(chart.document, "path", "mode-user")
    assert user.get("d", "").count("M") == 2  # two stretches with modes, none across
    assert not of_class(chart.document, "rect", "band")


def test_a_window_across_midnight_dates_its_first_label_of_each_day(berlin: None) -> None:
    t1 = 1_796_090_400.0  # 2026-12-01 05:00 in Berlin
    chart = charts.instant(window([], t1 - 86_400, t1))
    dates = [s.text for s in parsed(chart.document).iter(f"{{{NS['s']}}}tspan")]
    assert dates == ["Nov 30", "Dec 1"]
    assert meta(chart.document)["dated"] is True
    same_day = charts.instant(window([], t1 - 3600, t1))
    assert not list(parsed(same_day.document).iter(f"{{{NS['s']}}}tspan"))


def test_the_pygal_markup_the_drawing_relies_on() -> None:
    """If pygal moves what this draws into (pyproject bounds it below 4), this says what."""
    chart = charts.instant(window([T0 + 5 * i for i in range(1, 700)]))
    root = parsed(chart.document)
    plots = [g for g in root.iter(f"{{{NS['s']}}}g") if g.get("class") == "plot"]
    assert len(plots) == 1, "pygal's plot group (class 'plot') moved"
    assert plots[0].find("s:g[@class='cpuload']", NS) is not None, "our layer is not in the plot"
    axis = [g for g in root.iter(f"{{{NS['s']}}}g") if g.get("class") == "axis x"]
    assert axis and list(axis[0].iter(f"{{{NS['s']}}}text")), "pygal's x-axis texts moved"


def test_nothing_refers_outside_and_the_inline_copy_has_no_style() -> None:
    win = window([T0 + 5 * i for i in range(1, 700) if i != 300])
    for chart in (charts.instant(win), charts.average(win), charts.modes(win)):
        for svg in (chart.document, chart.inline):
            urls = set(re.findall(r"https?://[^\s\"'<>)]+", svg))
            assert urls <= {"http://www.w3.org/2000/svg"}, urls
            assert "<script" not in svg and "href" not in svg and "@import" not in svg
            assert ' style="' not in svg
        assert "<style" in chart.document and "<style" not in chart.inline
        assert chart.style_hash.startswith("'sha256-")
