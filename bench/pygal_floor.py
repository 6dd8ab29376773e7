"""The viewer's floor: pygal alone, in this process, drawing the series the viewer serves."""

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pygal

from bench.stats import summarise
from viewer.window import COLUMNS  # the viewer's pixel columns: where it starts reducing

Point = tuple[float, float | None]
Series = dict[str, list[Point]]


def chart_size(svg: bytes) -> tuple[int, int]:
    """Width and height from the served SVG's viewBox (pygal's default 800x600 otherwise)."""
    found = re.search(rb'viewBox="[\d.\-]+ [\d.\-]+ ([\d.]+) ([\d.]+)"', svg[:4000])
    return (round(float(found[1])), round(float(found[2]))) if found else (800, 600)


def broken_line(samples: Sequence[Sequence[float]], gap: float) -> list[Point]:
    """The samples as one line with a None wherever two are more than `gap` apart."""
    points: list[Point] = []
    for ts, cpu in samples:
        if points and ts - points[-1][0] > gap:
            points.append(((ts + points[-1][0]) / 2, None))
        points.append((ts, cpu))
    return points


def column_bands(samples: Sequence[Sequence[float]], t0: float, t1: float, width: int) -> Series:
    """Per-column mean, min and max, one column a pixel; an empty column breaks the lines."""
    columns: dict[int, list[float]] = {}
    for ts, cpu in samples:
        columns.setdefault(min(width - 1, int((ts - t0) / (t1 - t0) * width)), []).append(cpu)
    span = (t1 - t0) / width
    series: Series = {"mean": [], "min": [], "max": []}
    for col in range(width):
        x, values = t0 + (col + 0.5) * span, columns.get(col)
        series["mean"].append((x, sum(values) / len(values) if values else None))
        series["min"].append((x, min(values) if values else None))
        series["max"].append((x, max(values) if values else None))
    return series


def instant_series(api: dict[str, Any], columns: int = COLUMNS) -> Series:
    """What chart 1 draws: every sample, or per-column bands when they outnumber the columns."""
    samples, t0, t1 = api["samples"], float(api["from"]), float(api["to"])
    if len(samples) > columns:
        return column_bands(samples, t0, t1, columns)
    return {"cpu": broken_line(samples, 2 * float(api["interval"]))}


def average_series(api: dict[str, Any]) -> Series:
    """What chart 2 draws: each minute's mean at the minute's middle; None for an empty minute."""
    return {"mean": [(m + 30.0, avg) for m, avg, _count in api["averages"]]}


def render(series: Series, size: tuple[int, int], span: tuple[float, float]) -> bytes:
    chart = pygal.XY(
        width=size[0],
        height=size[1],
        js=[],
        allow_interruptions=True,
        show_dots=False,
        xrange=span,
        range=(0, 100),
    )
    for name, points in series.items():
        chart.add(name, points)
    svg: bytes = chart.render()
    return svg


def render_ms(series: Series, size: tuple[int, int], span: tuple[float, float]) -> float:
    start = time.perf_counter()
    render(series, size, span)
    return 1000 * (time.perf_counter() - start)


def pygal_floors(
    fetch: Callable[[str], bytes], windows: Iterable[int], views: Mapping[str, str], reps: int
) -> dict[tuple[int, str], float]:
    """Median pygal time for each chart and window, drawing what the server just served."""
    floors: dict[tuple[int, str], float] = {}
    for m in windows:
        size = chart_size(fetch(views["instant chart"].format(m=m)))
        samples = json.loads(fetch(f"/api/samples?minutes={m}"))
        averages = json.loads(fetch(f"/api/averages?minutes={m}"))
        span = (float(samples["from"]), float(samples["to"]))
        for view, series in (
            ("instant chart", instant_series(samples)),
            ("average chart", average_series(averages)),
        ):
            floors[(m, view)] = summarise([render_ms(series, size, span) for _ in range(reps)]).p50
        if b"<svg" in fetch(views["GET /"].format(m=m)):  # the page inlines both charts
            floors[(m, "GET /")] = floors[(m, "instant chart")] + floors[(m, "average chart")]
    return floors
