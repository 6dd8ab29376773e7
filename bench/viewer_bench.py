"""The viewer's answer times, warm and cold, beside pygal alone; and the same on a year of data."""

import random
from dataclasses import dataclass
from pathlib import Path

from bench.children import ChildError, Server
from bench.history import History
from bench.http_client import HttpError
from bench.procstat import rss_mb
from bench.pygal_floor import pygal_floors
from bench.stats import Row, Summary, Target, error_row, summarise

SECTION = "viewer"
SCALE = "scale"
VIEWS = {
    "GET /": "/?minutes={m}",
    "instant chart": "/charts/instant.svg?minutes={m}",
    "average chart": "/charts/average.svg?minutes={m}",
}
NOT_FOUND = "/bench-no-such-page"
WINDOWS = {60: "1 h", 1440: "24 h"}
Key = tuple[str, int, str, str]  # (warm|cold, minutes, view, server)


@dataclass(frozen=True)
class Plan:
    warm_reps: int
    cold_reps: int
    floor_reps: int


def measure_all(servers: list[Server], plan: Plan) -> dict[Key, list[float]]:
    """Every view on every server, in a shuffled order each round (seeded, so reproducible),
    so neither the machine's noise nor a request's position favours one server."""
    times: dict[Key, list[float]] = {}
    rng = random.Random(1)
    jobs = [
        (m, view, path.format(m=m), s)
        for m in WINDOWS
        for view, path in VIEWS.items()
        for s in servers
    ]
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
    if view != "GET /" and m == 1440:
        return Target(150.0)
    return None


def main_rows(times: dict[Key, list[float]], floors: dict[tuple[int, str], float]) -> list[Row]:
    warm_floor = summarise(times[("warm", 0, "404", "day")]).p50
    rows = []
    for phase in ("warm", "cold"):
        for m, window in WINDOWS.items():
            for view in VIEWS:
                value = summarise(times[(phase, m, view, "day")])
                name = f"{phase} {view}, {window}"
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
    """The year database's figures over the smallest database that holds the same window."""
    rows = []
    for phase in ("warm", "cold"):
        for m, window in WINDOWS.items():
            small = "hour" if m == 60 else "day"
            for view in VIEWS:
                value: Summary = summarise(times[(phase, m, view, "year")])
                floor = summarise(times[(phase, m, view, small)]).p50
                label = f"the same request on a database holding only {small_label(small)}"
                name = f"{history_label}/{small}: {phase} {view}, {window}"
                rows.append(Row(SCALE, name, "ms", value, floor, label, Target(1.2, "ratio")))
    return rows


def small_label(small: str) -> str:
    return "the last hour" if small == "hour" else "the last 24 hours"


def memory_rows(servers: list[Server]) -> list[Row]:
    return [
        Row(
            SECTION,
            f"resident memory after the run, {s.name} DB",
            "MB",
            summarise([rss_mb(s.child.pid)]),
            note="VmRSS; 1 MB = 10^6 bytes" if s.name == "year" else "",
        )
        for s in servers
    ]


def measure(
    histories: dict[str, History], work: Path, plan: Plan, history_label: str
) -> list[Row]:
    """Start a viewer on each database (hour, day, year), measure, and end them."""
    servers: list[Server] = []
    try:
        for name, history in histories.items():
            history.top_up()
            servers.append(Server(name, history, work))
        times = measure_all(servers, plan)
        day = next(s for s in servers if s.name == "day")
        floors = pygal_floors(day.client.fetch, WINDOWS, VIEWS, plan.floor_reps)
        rows = main_rows(times, floors) + scale_rows(times, history_label)
        return rows + memory_rows(servers)
    except (ChildError, HttpError, OSError, ValueError, KeyError) as exc:
        logs = "; ".join(f"{s.name} viewer: {s.child.tail()}" for s in servers[:1])
        return [error_row(SECTION, "requests", "ms", f"{type(exc).__name__}: {exc} ({logs})")]
    finally:
        for s in servers:
            s.stop()
