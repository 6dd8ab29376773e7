"""The SVG itself, parsed: breaks at gaps, a proportional time axis, nothing from outside."""

import json
import re
import xml.etree.ElementTree as ET

from viewer import charts
from viewer.aggregate import Point, Run, find_gaps, split_at_gaps

NS = {"s": "http://www.w3.org/2000/svg"}
T1 = 1_800_000_000.0
T0 = T1 - 3600


def pt(ts: float, cpu: float) -> Point:
    return Point(ts, cpu, cpu, cpu, ts, ts)


def segments(stamps: list[float]) -> list[list[Point]]:
    points = [pt(ts, 20 + (ts % 50)) for ts in stamps]
    return split_at_gaps(points, find_gaps(stamps, [Run(T0, 5.0)], T0, T1))


def lines(svg: str, series: int) -> list[list[tuple[float, float]]]:
    """The drawn <path>s of one series, each as its list of (x, y)."""
    root = ET.fromstring(svg)
    group = root.find(
        f".//s:g[@class='plot']/s:g[@class='series serie-{series} color-{series}']", NS
    )
    assert group is not None
    out = []
    for path in group.findall("s:path", NS):
        nums = [float(n) for n in re.findall(r"-?\d+\.?\d*", path.get("d", ""))]
        out.append(list(zip(nums[::2], nums[1::2], strict=True)))
    return out


def meta(svg: str) -> dict[str, float]:
    root = ET.fromstring(svg)
    node = root.find("s:metadata", NS)
    assert node is not None and node.text
    data: dict[str, float] = json.loads(node.text)
    return data


def test_each_gap_starts_a_new_path() -> None:
    stamps = [T0 + 5 * i for i in range(1, 721) if not 200 <= i < 260 and not 500 <= i < 510]
    chart = charts.instant(segments(stamps), T0, T1, reduced=False)
    drawn = lines(chart.document, 3)
    assert len(drawn) == 3
    assert sum(len(p) for p in drawn) == len(stamps)


def test_a_lone_sample_between_gaps_gets_a_dot() -> None:
    stamps = [T0 + 100, T0 + 105, T0 + 1000, T0 + 2000, T0 + 2005]
    chart = charts.instant(segments(stamps), T0, T1, reduced=False)
    assert len(lines(chart.document, 3)) == 2
    assert chart.document.count('class="dot reactive tooltip-trigger"') == 1


def test_data_spans_its_share_of_the_window() -> None:
    # Samples only in the last quarter of the hour: the line covers the last quarter.
    stamps = [T1 - 900 + 5 * i for i in range(0, 181)]
    chart = charts.instant(segments(stamps), T0, T1, reduced=False)
    m = meta(chart.document)
    (path,) = lines(chart.document, 3)
    tx = float(re.findall(r'translate\(([\d.]+), [\d.]+\)" class="plot"', chart.document)[0])
    xs = [tx + x for x, _ in path]
    width = m["x1"] - m["x0"]
    assert abs((xs[-1] - xs[0]) / width - 900 / 3600) < 1e-3
    assert abs((xs[0] - m["x0"]) / width - 0.75) < 1e-3
    # The window's ends are inside the plot area, and the axis is the same with no data.
    empty = meta(charts.instant([], T0, T1, reduced=False).document)
    assert (empty["x0"], empty["x1"]) == (m["x0"], m["x1"])


def test_the_axis_spans_the_window_with_no_data() -> None:
    chart = charts.instant([], T0, T1, reduced=False)
    assert "No data" not in chart.document
    labels = re.findall(
        r'<text x="[\d.]+" y="[\d.]+" class="[^"]*">(\d\d:\d\d)</text>', chart.document
    )
    assert len(labels) >= 4
    assert lines(chart.document, 3) == []


def test_reduced_windows_draw_min_and_max_too() -> None:
    points = [
        Point(T0 + 5 * i, 50, 10, 90, T0 + 5 * i - 2, T0 + 5 * i + 2, 40) for i in range(1, 700)
    ]
    chart = charts.instant([points], T0, T1, reduced=True)
    assert [len(lines(chart.document, s)) for s in (1, 2, 3)] == [1, 1, 1]
    ys = {s: lines(chart.document, s)[0][0][1] for s in (1, 2, 3)}
    assert ys[2] < ys[3] < ys[1]  # max above mean above min (SVG y grows downwards)


def test_minute_chart_breaks_and_draws_at_the_middle() -> None:
    segs = [[(T0 + 30, 10.0), (T0 + 90, 20.0)], [(T0 + 600 + 30, 30.0)]]
    chart = charts.average(segs, T0, T1)
    assert len(lines(chart.document, 3)) == 1
    assert chart.document.count('class="dot reactive tooltip-trigger"') == 1
    assert [p[0] for p in meta(chart.document)["points"]] == [T0 + 30, T0 + 90, T0 + 630]  # type: ignore[attr-defined]


def test_nothing_refers_outside_and_the_inline_copy_has_no_style() -> None:
    chart = charts.instant(segments([T0 + 5 * i for i in range(1, 700)]), T0, T1, reduced=False)
    for svg in (chart.document, chart.inline):
        urls = set(re.findall(r"https?://[^\s\"'<>)]+", svg))
        assert urls <= {"http://www.w3.org/2000/svg"}, urls
        assert "<script" not in svg and "href" not in svg and "@import" not in svg
        assert ' style="' not in svg
    assert "<style" in chart.document and "<style" not in chart.inline
    assert chart.style_hash.startswith("'sha256-")
