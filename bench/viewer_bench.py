"""The viewer's answer times for every window, warm and cold, beside pygal alone; the same on
a year of history beside a database that holds only the last 30 days; and its memory."""

import random
import time
from dataclasses import dataclass
from pathlib import Path

from bench.children import ChildError, Server
from bench.history import History
from bench.http_client import HttpError
from bench.procstat import rss_mb
from bench.pygal_floor import pygal_floors
from bench.stats import Row, Summary, Target, error_row, single, summarise

SECTION = "viewer"
SCALE = "scale"
PAGE = "GET /"
CHARTS = {
    "instant chart": "/charts/instant.svg?minutes={m}",
    "average chart": "/charts/average.svg?minutes={m}",
    "modes chart": "/charts/modes.svg?minutes={m}",
}
VIEWS = {PAGE: "/?minutes={m}", **CHARTS}
PRESETS = {15: "15 min", 60: "1 h", 360: "6 h", 1440: "24 h", 10080: "7 d", 43200: "30 d"}
YEAR = 525_600
WINDOWS = {**PRESETS, YEAR: "365 d"}
CHART_WINDOWS = (60, 1440)  # the charts alone, beside pygal alone
NOT_FOUND = "/bench-no-such-page"
COLD_PAGE_MS = 150.0  # 24 h, 7 d and 30 d
COLD_YEAR_MS = 500.0
Key = tuple[str, int, str, str]  # (warm|cold, minutes, view, server)
Job = tuple[int, str, str, Server]


@dataclass(frozen=True)
class Plan:
    warm_reps: int
    cold_reps: int
    floor_reps: int


def jobs_for(servers: list[Server]) -> list[Job]:
    """The page for every window (the year's window on the year only), and the charts alone
    for an hour and a day."""
    jobs: list[Job] = []
    for s in servers:
        for m in WINDOWS:
            if m == YEAR and s.name != "year":
                continue
            jobs.append((m, PAGE, VIEWS[PAGE].format(m=m), s))
            if m in CHART_WINDOWS:
                jobs += [(m, view, path.format(m=m), s) for view, path in CHARTS.items()]
    return jobs


def measure_all(servers: list[Server], plan: Plan) -> dict[Key, list[float]]:
    """Every job in a shuffled order each round (seeded, so reproducible), so neither the
    machine's noise nor a request's position favours one window or server. Cold: right after
    a new newest sample, on a viewer that has served the window before."""
    times: dict[Key, list[float]] = {}
    rng = random.Random(1)
    jobs = jobs_for(servers)
    for _m, _view, path, s in jobs:
        s.client.fetch(path)
    warm = [*jobs, *((0, "404", NOT_FOUND, s) for s in servers)]
    for _ in range(plan.warm_reps):
        for m, view, path, s in rng.sample(warm, len(warm)):
            status = 404 if view == "404" else 200
            times.setdefault(("warm", m, view, s.name), []).append(s.client.timed_ms(path, status))
    for _ in range(plan.cold_reps):
        for m, view, path, s in rng.sample(jobs, len(jobs)):
            s.history.add_newest()
            times.setdefault(("cold", m, view, s.name), []).append(s.client.timed_ms(path))
    return times


def cold_target(m: int, view: str) -> Target | None:
    if view == "instant chart" and m == 60:
        return Target(2.0, "ratio")
    if view == PAGE and m in (1440, 10080, 43200):
        return Target(COLD_PAGE_MS)
    if view == PAGE and m == YEAR:
        return Target(COLD_YEAR_MS)
    if view != PAGE and m == 1440:
        return Target(COLD_PAGE_MS)
    return None


def main_rows(times: dict[Key, list[float]], floors: dict[tuple[int, str], float]) -> list[Row]:
    """Every figure on the year's database: the one a long-running host has."""
    warm_floor = summarise(times[("warm", 0, "404", "year")]).p50
    rows = []
    for phase in ("warm", "cold"):
        for m, window in WINDOWS.items():
            for view in VIEWS:
                found = times.get((phase, m, view, "year"))
                if not found:
                    continue
                value, name = summarise(found), f"{phase} {view}, {window}"
                if phase == "warm":
                    label = "the same server answering a 404 (waitress + bottle, no query)"
                    rows.append(Row(SECTION, name, "ms", value, warm_floor, label, Target(5.0)))
                else:
                    label = "pygal alone drawing the same series (dots off, same size)"
                    floor = floors.get((m, view))
                    rows.append(
                        Row(SECTION, name, "ms", value, floor, label, cold_target(m, view))
                    )
    return rows


def scale_rows(times: dict[Key, list[float]], history_label: str) -> list[Row]:
    """The year's figures over the same on a database that holds only the last 30 days."""
    rows = []
    for phase in ("warm", "cold"):
        for m, window in PRESETS.items():
            value: Summary = summarise(times[(phase, m, PAGE, "year")])
            floor = summarise(times[(phase, m, PAGE, "month")]).p50
            label = "the same request on a database holding only the last 30 days"
            name = f"{history_label}/30 days: {phase} {PAGE}, {window}"
            rows.append(Row(SCALE, name, "ms", value, floor, label, Target(1.2, "ratio")))
    return rows


def first_year_row(history: History, work: Path) -> Row:
    """A viewer's very first 365-day page: every cell of the year read once (no target)."""
    server = Server("fresh", history, work)
    try:
        started = time.perf_counter()
        server.client.fetch(VIEWS[PAGE].format(m=YEAR))
        ms = 1000 * (time.perf_counter() - started)
    finally:
        server.stop()
    note = "a new viewer's first request: it reads the whole year once, then keeps its cells"
    return Row(SECTION, "first GET /, 365 d, fresh viewer", "ms", single(ms), note=note)


def memory_rows(servers: list[Server]) -> list[Row]:
    return [
        Row(
            SECTION,
            f"resident memory after the run, {s.name} DB",
            "MB",
            summarise([rss_mb(s.child.pid)]),
            target=Target(80.0) if s.name == "year" else None,
            note="VmRSS; 1 MB = 10^6 bytes" if s.name == "year" else "",
        )
        for s in servers
    ]


def measure(
    histories: dict[str, History], work: Path, plan: Plan, history_label: str
) -> list[Row]:
    """Start a viewer on each database (30 days, a year), measure, and end them."""
    servers: list[Server] = []
    try:
        for name, history in histories.items():
            history.top_up()
            servers.append(Server(name, history, work))
        times = measure_all(servers, plan)
        year = next(s for s in servers if s.name == "year")
        floors = pygal_floors(year.client.fetch, CHART_WINDOWS, VIEWS, plan.floor_reps)
        rows = main_rows(times, floors) + scale_rows(times, history_label)
        rows += memory_rows(servers)
        return [*rows, first_year_row(histories["year"], work)]
    except (ChildError, HttpError, OSError, ValueError, KeyError) as exc:
        logs = "; ".join(f"{s.name} viewer: {s.child.tail()}" for s in servers[:1])
        return [error_row(SECTION, "requests", "ms", f"{type(exc).__name__}: {exc} ({logs})")]
    finally:
        for s in servers:
            s.stop()
