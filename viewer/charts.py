"""Pure: points -> SVG text with pygal, on a proportional time axis spanning the whole window."""

import base64
import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import pygal
from pygal.style import Style

from shared.timeutil import local_datetime
from viewer.aggregate import Point

WIDTH, HEIGHT = 960, 300
# A window holding more samples than this is drawn as per-column mean, min and max.
COLUMNS = 720
_STEPS = (10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
_LABELS = {
    "instant": "Chart of the CPU load samples; the minute means are in the table below",
    "average": "Chart of the mean CPU load of each minute; the same values are in the table below",
}
# Series order is fixed (frame, min, max, line, lone dots) so CSS can colour by index.
_COLORS = ("#9e9e9e", "#90a4ae", "#90a4ae", "#1565c0", "#1565c0")
# (index, name, values, options). pygal pads every series to the longest with None and walks
# each value in Python, so empty series cost as much as the full one: only those with values
# are drawn, and _finish gives them back their fixed index.
Series = tuple[int, str, Sequence[tuple[float, float | None]], dict[str, Any]]


def _style(indices: Sequence[int]) -> Style:
    return Style(
        background="transparent",
        plot_background="transparent",
        colors=tuple(_COLORS[i] for i in indices),
        font_family="system-ui, sans-serif",
    )


@dataclass(frozen=True)
class Chart:
    """`document` stands alone (own style); `inline` is for the page (styled by viewer.css)."""

    document: str
    inline: str
    style_hash: str  # CSP source for the document's one <style> element


def ticks(t0: float, t1: float) -> list[float]:
    """Label stamps on whole local steps (…:00, :15, :30), at most eight across the window."""
    step = next((s for s in _STEPS if (t1 - t0) / s <= 8), _STEPS[-1])
    offset = _offset(t0)
    first = math.ceil((t0 + offset) / step) * step - offset
    return [first + i * step for i in range(int((t1 - first) // step) + 1)]


def _offset(ts: float) -> float:
    delta = local_datetime(ts).utcoffset()
    return delta.total_seconds() if delta else 0.0


def label(ts: float, seconds: bool = False) -> str:
    """A local wall-clock label, each stamp converted on its own (right across DST)."""
    return local_datetime(ts).strftime("%H:%M:%S" if seconds else "%H:%M")


def _chart(t0: float, t1: float, series: Sequence[Series]) -> tuple[pygal.XY, list[int]]:
    """The chart with the series that have values (all, axes only, when none has)."""
    # An invisible series at both ends keeps the axes drawn when the window holds no data.
    frame: Series = (0, "frame", [(t0, 0), (t1, 0)], {"stroke": False, "show_dots": False})
    present = [s for s in series if s[2]] or [frame, *series]
    marks = ticks(t0, t1)
    seconds = len(marks) > 1 and marks[1] - marks[0] < 60
    chart = pygal.XY(
        style=_style([s[0] for s in present]),
        width=WIDTH,
        height=HEIGHT,
        explicit_size=False,
        js=[],
        disable_xml_declaration=True,
        allow_interruptions=True,
        show_dots=False,
        show_legend=False,
        xrange=(t0, t1),
        range=(0, 100),
        x_labels=marks,
        y_labels=[0, 25, 50, 75, 100],
        x_value_formatter=lambda x: label(x, seconds),
        value_formatter=lambda y: f"{y:g} %",
        stroke_style={"width": 1.5},
    )
    for _index, name, values, options in present:
        chart.add(name, list(values), **options)
    return chart, [s[0] for s in present]


def _broken(segments: Sequence[Sequence[tuple[float, float]]]) -> list[tuple[float, float | None]]:
    """One series with a None between segments: pygal then draws one <path> per segment."""
    values: list[tuple[float, float | None]] = []
    for seg in segments:
        if values:
            values.append((seg[0][0], None))
        values.extend(seg)
    return values


def _lone(segments: Sequence[Sequence[tuple[float, float]]]) -> list[tuple[float, float]]:
    """A one-point segment draws no line: it gets a dot instead."""
    return [seg[0] for seg in segments if len(seg) == 1]


def instant(segments: Sequence[Sequence[Point]], t0: float, t1: float, reduced: bool) -> Chart:
    means = [[(p.ts, p.mean) for p in seg] for seg in segments]
    lows = [[(p.ts, p.low) for p in seg] for seg in segments] if reduced else []
    highs = [[(p.ts, p.high) for p in seg] for seg in segments] if reduced else []
    series: list[Series] = [
        (1, "min", _broken(lows), {"stroke_style": {"width": 1}}),
        (2, "max", _broken(highs), {"stroke_style": {"width": 1}}),
        (3, "cpu", _broken(means), {"stroke_style": {"width": 2}}),
        (4, "lone", _lone(means), {"stroke": False, "show_dots": True, "dots_size": 2.5}),
    ]
    chart, indices = _chart(t0, t1, series)
    flat = [p for seg in segments for p in seg]
    data = [[p.ts, p.mean, p.low, p.high, label(p.ts, True)] for p in flat]
    return _finish(chart, indices, t0, t1, data, "instant")


def average(segments: Sequence[Sequence[tuple[float, float]]], t0: float, t1: float) -> Chart:
    series: list[Series] = [
        (1, "min", [], {}),
        (2, "max", [], {}),
        (3, "mean", _broken(segments), {"stroke_style": {"width": 2}}),
        (4, "lone", _lone(segments), {"stroke": False, "show_dots": True, "dots_size": 2.5}),
    ]
    chart, indices = _chart(t0, t1, series)
    flat = [p for seg in segments for p in seg]
    data = [[x, y, y, y, label(x - 30) + "\N{EN DASH}" + label(x + 30)] for x, y in flat]
    return _finish(chart, indices, t0, t1, data, "average")


def _finish(
    chart: pygal.XY,
    indices: Sequence[int],
    t0: float,
    t1: float,
    data: list[list[object]],
    name: str,
) -> Chart:
    svg = chart.render(is_unicode=True)
    # pygal numbered the series it was given; give them back their fixed index.
    svg = re.sub(r"\b(serie|color)-(\d+)\b", lambda m: f"{m[1]}-{indices[int(m[2])]}", svg)
    svg = re.sub(r"chart-[0-9a-f-]{36}", f"cpuload-{name}", svg)
    x0, x1 = _x_of(svg, ticks(t0, t1), t0, t1)
    meta = {"t0": t0, "t1": t1, "x0": x0, "x1": x1, "points": data}
    island = f'<metadata class="cpuload-data">{escape(json.dumps(meta))}</metadata>'
    # pygal's config <script> serves only its own JS, which we do not load.
    svg = re.sub(r"<!--.*?-->|<title>Pygal</title>|<script.*?</script>", "", svg, flags=re.S)
    svg = re.sub(r' style="[^"]*"', "", svg.replace("<defs>", island + "<defs>", 1))
    return Chart(svg, _inline(svg, name), _style_hash(svg))


def _style_hash(svg: str) -> str:
    found = re.search(r"<style[^>]*>(.*?)</style>", svg, flags=re.S)
    digest = hashlib.sha256(found[1].encode() if found else b"").digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def _inline(svg: str, name: str) -> str:
    """Drop pygal's <style> and style attributes: the page's CSP allows neither."""
    svg = re.sub(r"<defs>.*?</defs>", "", svg, flags=re.S)
    label = _LABELS[name]
    return svg.replace(
        ' class="pygal-chart"', f' class="pygal-chart" role="img" aria-label="{label}"', 1
    )


def _x_of(svg: str, marks: Sequence[float], t0: float, t1: float) -> tuple[float, float]:
    """The viewBox x of t0 and t1, read from where pygal put the first and last labels."""
    tx = float(re.search(r'translate\(([-\d.]+), [-\d.]+\)" class="plot"', svg)[1])  # type: ignore[index]
    axis = svg[svg.index('class="axis x') : svg.index('class="series')]
    xs = [float(x) for x in re.findall(r'<text x="([-\d.]+)"', axis)]
    a, b = marks[0], marks[-1]
    scale = (xs[-1] - xs[0]) / (b - a) if b > a else 0.0
    return tx + xs[0] + (t0 - a) * scale, tx + xs[0] + (t1 - a) * scale
