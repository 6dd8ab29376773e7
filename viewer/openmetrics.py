"""Pure: samples -> OpenMetrics text with a timestamp on every point, the input of
`promtool tsdb create-blocks-from openmetrics`.

OpenMetrics keeps each family, and each series in it, in one piece, in time order (promtool
drops a point older than the one before it without a word). So the samples are read once per
series: `passes()` gives a fresh stream of the same batches each time it is called.
"""

import math
from collections.abc import Callable, Iterable, Iterator, Sequence

from shared.schema import MODES
from viewer.facts import Run, stretches

# passes(None) reads (ts, cpu) of every sample; passes(i) (ts, percent) of mode i where known.
Passes = Callable[[int | None], Iterable[list[tuple[float, float]]]]
HELP = {
    "cpuload_cpu_busy_percent": "Percent of all CPUs busy over the sample's window.",
    "cpuload_cpu_mode_percent": "Percent of all CPU time in each mode over the sample's window.",
    "cpuload_busy_seconds": "Seconds of CPU time busy since the window's start: cpu / 100 x"
    " interval, summed.",
    "cpuload_sampled_seconds": "Seconds covered by samples since the window's start.",
}


def series_count(moded: bool) -> int:
    """How many times `render` reads the samples: busy, each mode, the two counters."""
    return 3 + (len(MODES) if moded else 0)


def render(
    passes: Passes, runs: Sequence[Run], labels: Sequence[tuple[str, str]], moded: bool
) -> Iterator[bytes]:
    """The families in a fixed order, each series' points oldest first, then `# EOF`."""
    own = [f'{name}="{escape(value)}"' for name, value in labels]
    yield _head("cpuload_cpu_busy_percent", "gauge", "percent")
    yield from _points(passes(None), _name("cpuload_cpu_busy_percent", own))
    if moded:
        yield _head("cpuload_cpu_mode_percent", "gauge", "percent")
        for i, mode in enumerate(MODES):
            prefix = _name("cpuload_cpu_mode_percent", [*own, f'mode="{mode}"'])
            yield from _points(passes(i), prefix)
    for family, busy in (("cpuload_busy_seconds", True), ("cpuload_sampled_seconds", False)):
        yield _head(family, "counter", "seconds")
        prefix = _name(f"{family}_total", own)
        interval, total = intervals(runs), 0.0
        for batch in passes(None):
            out = []
            for ts, cpu in batch:
                total += cpu * interval(ts) / 100 if busy else interval(ts)
                out.append(f"{prefix} {total!r} {stamp(ts)}\n")
            yield "".join(out).encode()
    yield b"# EOF\n"


def intervals(runs: Sequence[Run]) -> Callable[[float], float]:
    """facts.interval_at for stamps given oldest first, without a search for each."""
    steps = stretches(runs, -math.inf, math.inf)
    i = 0

    def at(ts: float) -> float:
        nonlocal i
        while i + 1 < len(steps) and ts >= steps[i + 1][0]:
            i += 1
        return steps[i][1]

    return at


def _points(batches: Iterable[list[tuple[float, float]]], prefix: str) -> Iterator[bytes]:
    for batch in batches:
        yield "".join(f"{prefix} {value!r} {stamp(ts)}\n" for ts, value in batch).encode()


def stamp(ts: float) -> str:
    """Seconds as promtool reads them into whole milliseconds: it truncates ts x 1000, and
    for a stamp such as 1795857000.1 that product falls just below the millisecond; the
    next float up lands on it (an integer stamp is written without a fraction)."""
    if ts.is_integer():
        return str(int(ts))
    if int(ts * 1000) < round(ts * 1000):
        return repr(math.nextafter(ts, math.inf))
    return repr(ts)


def escape(value: str) -> str:
    """A label value as OpenMetrics quotes it."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _name(metric: str, labels: Sequence[str]) -> str:
    return f"{metric}{{{','.join(labels)}}}" if labels else metric


def _head(family: str, kind: str, unit: str) -> bytes:
    return (
        f"# HELP {family} {HELP[family]}\n# TYPE {family} {kind}\n# UNIT {family} {unit}\n"
    ).encode()
