"""Pure: a window -> three SVG charts, drawn by pygal on a proportional time axis.

pygal draws the frame (axes, guides, labels) and the lines, breaking them at None. What it has
no primitive for is drawn as our own SVG elements inside its plot group, on its own axes,
through pygal's xml_filters hook (no text is rewritten): the gap bands, the stacked modes,
lone and partial points, the date line under the first tick of a day, and the data the page's
script reads for hover. pyproject bounds pygal below 4; tests/test_charts.py fails with a clear
message if the tree this relies on (`nodes['plot']`, `view`, `margin_box`, the x-axis texts)
moves.
"""

import base64
import hashlib
import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import pygal
from pygal.etree import etree
from pygal.style import Style

from shared.schema import MODES
from viewer import labels
from viewer.cells import Means, Point
from viewer.facts import duration
from viewer.gaps import Gap
from viewer.window import Window

WIDTH, HEIGHT = 960, 300
BAND_MIN = 4.0  # px: a 20 s gap in a day is a hair; a band never narrower than this
# Labels are sized for the phone layout (the chart scaled to 390 px): pygal's margins must hold
# them at that size, or "100" loses its first digit.
LABEL_SIZE = 24
EDGE = 0.055  # of the plot's width: half a label at LABEL_SIZE
_LABELS = {
    "instant": "Chart of the CPU load samples; the gaps are listed above, the minute means below",
    "average": "Chart of the mean CPU load of each minute; the same values are in the table below",
    "modes": "Chart of where the CPU time went: user, nice, system, irq, softirq, steal, iowait",
}
Values = list[tuple[float, float | None]]
_NUMBER = re.compile(r"-?\d+\.\d+")


class Chart(NamedTuple):
    """`document` stands alone (own style); `inline` is for the page (styled by viewer.css)."""

    document: str
    inline: str
    style_hash: str  # CSP source for the document's one <style> element


class Plot(NamedTuple):
    """pygal's geometry, read inside the filter: plot origin and the value-to-pixel view."""

    left: int
    top: int
    width: float
    height: float
    x: Callable[[float], float]
    y: Callable[[float], float]


def instant(win: Window) -> Chart:
    segments = _segments(win.points, win.gaps)
    means = [[(p.ts, p.mean) for p in seg] for seg in segments]
    lines: list[tuple[str, Values, float]] = []
    if win.reduced:
        lines.append(("low", _broken([[(p.ts, p.low) for p in s] for s in segments]), 1.0))
        lines.append(("high", _broken([[(p.ts, p.high) for p in s] for s in segments]), 1.0))
    lines.append(("cpu", _broken(means), 2.0))
    columns: list[list[Any]] = [[round(p.mean, 1) for p in win.points]]
    if win.reduced:
        columns += [
            [round(p.low, 1) for p in win.points],
            [round(p.high, 1) for p in win.points],
            [p.samples for p in win.points],
        ]
    data = Data([p.ts for p in win.points], columns)
    lone = [s[0] for s in means if len(s) == 1]
    return _render("instant", win, lines, lone, [], data, 100.0, None)


def average(win: Window) -> Chart:
    means = [m for m in win.means if win.t0 <= _middle(m) <= win.t1]
    segments = _mean_segments(means, win.gaps)
    values = [[(_middle(m), m.mean) for m in seg] for seg in segments]
    lines: list[tuple[str, Values, float]] = []
    if win.columns is not None:
        lines.append(("low", _broken([[(_middle(m), m.low) for m in s] for s in segments]), 1.0))
        lines.append(("high", _broken([[(_middle(m), m.high) for m in s] for s in segments]), 1.0))
    lines.append(("mean", _broken(values), 2.0))
    partial = [(_middle(m), m.mean) for m in means if m.start in win.cut]
    lone = [s[0] for s in values if len(s) == 1]
    columns: list[list[Any]] = [
        [round(m.mean, 1) for m in means],
        [round(m.low, 1) for m in means],
        [round(m.high, 1) for m in means],
        [m.samples for m in means],
        [m.minutes for m in means],
        [1 if m.start in win.cut else 0 for m in means],
    ]
    data = Data([_middle(m) for m in means], columns)
    return _render("average", win, lines, lone, partial, data, 100.0, None)


def modes(win: Window) -> Chart:
    points = [p for p in win.points if p.modes is not None]
    top = max((sum(p.modes) for p in points if p.modes), default=0.0)
    scale = next((s for s in (5.0, 10.0, 20.0, 25.0, 50.0) if top <= s), 100.0)
    columns = [[round((p.modes or ())[i], 2) for p in points] for i in range(len(MODES))]
    data = Data([p.ts for p in points], columns)
    stacks = _stacks(win.points, win.gaps)
    return _render("modes", win, [], [], [], data, scale, stacks)


def _render(
    name: str,
    win: Window,
    lines: Sequence[tuple[str, Values, float]],
    lone: Sequence[tuple[float, float]],
    partial: Sequence[tuple[float, float]],
    data: "Data",
    top: float,
    stacks: list[list[Point]] | None,
) -> Chart:
    # A label fits beside the y labels and inside the right margin at phone size (~90 px wide
    # at LABEL_SIZE on an ~830 px plot): the first no longer lands on "0".
    ticks = labels.ticks(win.t0, win.t1, EDGE)
    chart = _frame(win.t0, win.t1, top, ticks)
    names = [title for title, values, _ in lines if values]
    for title, values, width in lines:
        if values:
            chart.add(title, values, stroke_style={"width": width})
    if not names:  # axes need a series: an invisible one
        chart.add("frame", [(win.t0, 0), (win.t1, 0)], stroke=False)
        names = ["frame"]
    tree: list[Any] = []

    def draw(root: Any) -> Any:
        plot = Plot(
            math.trunc(chart.margin_box.left),
            math.trunc(chart.margin_box.top),
            chart.view.width,
            chart.view.height,
            chart.view.x,
            chart.view.y,
        )
        _check_tree(chart, ticks)
        _tidy(root, chart.nodes["plot"])
        _name_series(chart.nodes["plot"], names)
        _date_lines(chart.nodes["plot"], ticks)
        layer = etree.Element("g", {"class": "cpuload"})
        plot_node = chart.nodes["plot"]
        first_series = next(
            i for i, g in enumerate(plot_node) if "series" in g.get("class", "").split()
        )
        plot_node.insert(first_series, layer)  # above the axes and guides, below the lines
        _bands(layer, plot, win.gaps, win.t0, win.t1)
        if stacks is not None:
            _draw_stacks(layer, plot, stacks, top)
        overlay = etree.SubElement(chart.nodes["plot"], "g", {"class": "cpuload-points"})
        _dots(overlay, plot, lone, "lone")
        _dots(overlay, plot, partial, "partial")
        meta = _meta(name, win, plot, top, data)
        root.insert(0, _element("metadata", {"class": "cpuload-data"}, json.dumps(meta)))
        root.set("class", f"pygal-chart cpuload-{name}")
        root.set("id", f"cpuload-{name}")
        tree.append(root)
        return root

    chart.add_xml_filter(draw)
    document = chart.render(is_unicode=True)
    root = tree[0]
    for defs in [e for e in root if _local(e.tag) == "defs"]:
        root.remove(defs)  # the page's CSP allows no inline style: viewer.css styles it
    root.set("role", "img")
    root.set("aria-label", _LABELS[name])
    inline = str(etree.tostring(root, encoding="unicode"))
    return Chart(document, inline, _style_hash(root_style(document)))


def _frame(t0: float, t1: float, top: float, ticks: Sequence[labels.Tick]) -> pygal.XY:
    steps = [top * i / 4 for i in range(5)]
    texts = {t.ts: t.text for t in ticks}
    return pygal.XY(
        style=Style(
            background="transparent",
            plot_background="transparent",
            font_family="system-ui, sans-serif",
            label_font_size=LABEL_SIZE,
            major_label_font_size=LABEL_SIZE,
            colors=("#1565c0",),
        ),
        width=WIDTH,
        height=HEIGHT,
        explicit_size=False,
        js=[],
        disable_xml_declaration=True,
        allow_interruptions=True,
        show_dots=False,
        show_legend=False,
        xrange=(t0, t1),
        range=(0, top),
        x_labels=[t.ts for t in ticks] or [t0],
        y_labels=steps,
        x_value_formatter=lambda x: texts.get(x, ""),
        truncate_label=-1,  # pygal shortens labels it deems long: "05:56:…" for every second
        value_formatter=lambda y: f"{y:g}",
        margin_bottom=LABEL_SIZE + 8,  # room for the date line under a day's first tick
        margin_right=24,
        no_prefix=True,
    )


def _check_tree(chart: pygal.XY, ticks: Sequence[labels.Tick]) -> None:
    """Everything the drawing relies on in pygal's tree, checked with a clear message."""
    missing = [
        what
        for what, ok in (
            ("nodes['plot']", "plot" in getattr(chart, "nodes", {})),
            ("view.x/view.y", callable(getattr(getattr(chart, "view", None), "x", None))),
            ("margin_box", hasattr(chart, "margin_box")),
        )
        if not ok
    ]
    if missing:
        raise RuntimeError(f"pygal's tree moved: {', '.join(missing)} not found; pin pygal<4")


def _tidy(root: Any, plot: Any) -> None:
    """Drop what pygal adds for its own script, which is not loaded (tooltips, overlays), its
    comments and titles (the bands get their own later); round its path data to 0.1 px."""
    for parent in list(root.iter()):
        for child in list(parent):
            if not isinstance(child.tag, str):  # a comment
                parent.remove(child)
                continue
            classes = set(child.get("class", "").split())
            if _local(child.tag) in ("script", "title") or classes & {
                "overlay",
                "text-overlay",
                "tooltip-overlay",
                "titles",
            }:
                parent.remove(child)
    for node in plot.iter():
        if (
            isinstance(node.tag, str)
            and _local(node.tag) == "path"
            and "line" in node.get("class", "")
        ):
            node.set("d", _round_path(node.get("d", "")))


def _name_series(plot: Any, names: Sequence[str]) -> None:
    """pygal numbers its series; the stylesheet needs to know which is the min, max or mean."""
    groups = [g for g in plot if "series" in g.get("class", "").split()]
    if len(groups) != len(names):
        raise RuntimeError(f"pygal drew {len(groups)} series groups for {len(names)} series")
    for g, name in zip(groups, names, strict=True):
        g.set("class", f"{g.get('class')} line-{name}")


def _round_path(d: str) -> str:
    """pygal writes six decimals; a tenth of a pixel is finer than any screen."""
    return _NUMBER.sub(lambda m: _n(float(m[0])), d)


def _date_lines(plot: Any, ticks: Sequence[labels.Tick]) -> None:
    """The x-axis texts in tick order get a second line with the date, where they have one."""
    axis = next(
        (g for g in plot.iter() if "axis" in g.get("class", "") and " x" in f" {g.get('class')}"),
        None,
    )
    texts = [t for t in axis.iter() if _local(t.tag) == "text"] if axis is not None else []
    if len(texts) != len(ticks) and ticks:
        raise RuntimeError(
            f"pygal's x axis has {len(texts)} labels for {len(ticks)} ticks; its markup moved"
        )
    for node, tick in zip(texts, ticks, strict=False):
        if tick.date:
            line = etree.SubElement(node, "tspan", {"x": node.get("x", "0"), "dy": "1.1em"})
            line.text = tick.date


def _bands(layer: Any, plot: Plot, found: Sequence[Gap], t0: float, t1: float) -> None:
    """A shaded band over the plot's full height for every gap, never narrower than BAND_MIN,
    its title naming start, end, length and cause."""
    group = etree.SubElement(layer, "g", {"class": "bands"})
    for g in found:
        a, b = plot.x(max(g.start, t0)), plot.x(min(g.end, t1))
        if b - a < BAND_MIN:
            a, b = (a + b - BAND_MIN) / 2, (a + b + BAND_MIN) / 2
        a, b = max(a, 0.0), min(b, plot.width)
        rect = etree.SubElement(
            group,
            "rect",
            {
                "class": f"band cause-{g.cause}",
                "x": _n(a),
                "y": "0",
                "width": _n(b - a),
                "height": _n(plot.height),
                "data-start": repr(g.start),
                "data-end": repr(g.end),
            },
        )
        title = etree.SubElement(rect, "title")
        title.text = band_title(g)


def band_title(g: Gap) -> str:
    what = g.cause.replace("-", " ")
    detail = f" ({g.detail})" if g.detail else ""
    span = f"{labels.when(g.start)} \N{EN DASH} {labels.when(g.end)}"
    return f"gap {span}, {duration(g.seconds)}: {what}{detail}"


def _stacks(points: Sequence[Point], found: Sequence[Gap]) -> list[list[Point]]:
    """Unbroken runs of points that carry modes: a gap or a point without modes ends one."""
    runs: list[list[Point]] = []
    for seg in _segments(points, found):
        current: list[Point] = []
        for p in seg:
            if p.modes is None:
                if current:
                    runs.append(current)
                current = []
            else:
                current.append(p)
        if current:
            runs.append(current)
    return runs


def _draw_stacks(layer: Any, plot: Plot, runs: Sequence[Sequence[Point]], top: float) -> None:
    """The modes stacked bottom-up in MODES order, each an area from zero to its cumulative
    top, drawn from the highest down so each lower one covers the base of the one above: one
    edge per area instead of two. A mode that is zero throughout draws nothing."""
    group = etree.SubElement(layer, "g", {"class": "modes"})
    for k in reversed(range(len(MODES))):
        if not any(p.modes and p.modes[k] > 0 for run in runs for p in run):
            continue
        d = []
        for run in runs:
            tops = [(p.ts, min(sum((p.modes or ())[: k + 1]), top)) for p in run]
            if len(tops) == 1:  # a lone point: a sliver, so it shows
                tops = [(tops[0][0], tops[0][1]), (tops[0][0], tops[0][1])]
            d.append(_area(plot, tops))
        etree.SubElement(group, "path", {"class": f"mode mode-{MODES[k]}", "d": " ".join(d)})


def _area(plot: Plot, tops: Sequence[tuple[float, float]]) -> str:
    """A closed area under a line, in relative moves rounded without drift."""
    xs = [round(plot.x(t), 1) for t, _ in tops]
    if xs[0] == xs[-1]:
        xs[-1] = xs[0] + 1.0
    ys = [round(plot.y(v), 1) for _, v in tops]
    base = round(plot.y(0), 1)
    parts = [f"M{_n(xs[0])} {_n(base)}V{_n(ys[0])}l"]
    steps = [f"{_n(xs[i] - xs[i - 1])} {_n(ys[i] - ys[i - 1])}" for i in range(1, len(xs))]
    parts.append(" ".join(steps))
    parts.append(f"V{_n(base)}Z")
    return "".join(parts)


def _dots(layer: Any, plot: Plot, where: Sequence[tuple[float, float]], kind: str) -> None:
    for x, y in where:
        etree.SubElement(
            layer, "circle", {"class": kind, "cx": _n(plot.x(x)), "cy": _n(plot.y(y)), "r": "3"}
        )


class Data(NamedTuple):
    """The hover data of a chart: stamps, and one list of values per column."""

    stamps: list[float]
    columns: list[list[Any]]


def _meta(name: str, win: Window, plot: Plot, top: float, data: Data) -> dict[str, Any]:
    """What the page's script needs for hover: the axes in viewBox pixels, the zone's offsets,
    and the points as columns, stamps as steps from t0 (small, repetitive, so they gzip well)."""
    steps: list[float | int] = []
    previous = win.t0
    for ts in data.stamps:
        steps.append(_n3(ts - previous))
        previous += steps[-1]  # from the rounded sum, so rounding never accumulates
    return {
        "kind": name,
        "t0": win.t0,
        "t1": win.t1,
        "x0": plot.left + plot.x(win.t0),
        "x1": plot.left + plot.x(win.t1),
        "top": plot.top,
        "height": plot.height,
        "y0": plot.top + plot.y(0),
        "y1": plot.top + plot.y(top),
        "max": top,
        "tz": labels.offsets(win.t0, win.t1),
        "dated": labels.crosses_midnight(win.t0, win.t1),
        "reduced": win.reduced if name != "average" else win.columns is not None,
        "modes": list(MODES),
        "steps": steps,
        "columns": data.columns,
    }


def _n3(v: float) -> float | int:
    """A step in seconds to the millisecond, as an int where it is whole (5, not 5.0)."""
    r = round(v, 3)
    return int(r) if r == int(r) else r


def _middle(m: Means) -> float:
    return m.start + m.width / 2


def _segments(points: Sequence[Point], found: Sequence[Gap]) -> list[list[Point]]:
    """Runs of points with no gap between neighbours: the unbroken stretches of a line."""
    ends = {g.end for g in found}
    segments: list[list[Point]] = []
    for p in points:
        if not segments or p.first in ends:
            segments.append([])
        segments[-1].append(p)
    return segments


def _mean_segments(means: Sequence[Means], found: Sequence[Gap]) -> list[list[Means]]:
    """Means broken where a minute (or column) has no samples and where a gap lies between two
    neighbouring middles (the line between them would cross it)."""
    segments: list[list[Means]] = []
    for m in means:
        prev = segments[-1][-1] if segments and segments[-1] else None
        if (
            prev is None
            or m.start - prev.start > prev.width + 1e-6
            or any(g.start < _middle(m) and g.end > _middle(prev) for g in found)
        ):
            segments.append([])
        segments[-1].append(m)
    return segments


def _broken(segments: Sequence[Sequence[tuple[float, float]]]) -> Values:
    """One series with a None between segments: pygal then draws one <path> per segment."""
    values: Values = []
    for seg in segments:
        if values:
            values.append((seg[0][0], None))
        values.extend(seg)
    return values


def _element(tag: str, attrs: dict[str, str], text: str) -> Any:
    node = etree.Element(tag, attrs)
    node.text = text
    return node


def _local(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _n(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".") or "0"


def root_style(document: str) -> str:
    start = document.find("<style")
    if start < 0:
        return ""
    return document[document.index(">", start) + 1 : document.index("</style>", start)]


def _style_hash(style: str) -> str:
    digest = hashlib.sha256(style.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"
