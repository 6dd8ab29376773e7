"""/metrics scrapes and cpuload-export on the long history, modes included."""

import time
from dataclasses import dataclass
from pathlib import Path

from bench.children import Child, ChildError, Server, clean_env, program
from bench.history import History
from bench.http_client import HttpError
from bench.stats import Row, Target, error_row, single, summarise

SECTION = "fleet"
NOT_FOUND = "/bench-no-such-page"
FORMATS = ("openmetrics", "csv")


@dataclass(frozen=True)
class Plan:
    scrapes: int  # warm scrapes, each after one new sample
    label: str  # "year", or how long the smaller history is


def scrape_rows(history: History, work: Path, plan: Plan) -> list[Row]:
    """A viewer's first scrape (the sums over the whole file), then warm ones."""
    history.top_up()
    server = Server("fleet", history, work)
    try:
        client = server.client  # waits until the viewer listens
        first = client.timed_ms("/metrics")
        warm, floor = [], []
        for _ in range(plan.scrapes):
            history.add_newest()
            warm.append(client.timed_ms("/metrics"))
            floor.append(client.timed_ms(NOT_FOUND, 404))
        return [
            Row(
                SECTION,
                f"first /metrics scrape, {plan.label} history",
                "ms",
                single(first),
                note="sums the whole file (busy, sampled, modes, gaps), once per viewer",
            ),
            Row(
                SECTION,
                "warm /metrics scrape, one new sample",
                "ms",
                summarise(warm),
                summarise(floor).p50,
                "the same server answering a 404 (waitress + bottle, no query)",
                Target(5.0),
            ),
        ]
    except (ChildError, HttpError, OSError, ValueError) as exc:
        return [error_row(SECTION, "warm /metrics scrape", "ms", f"{exc}: {server.child.tail()}")]
    finally:
        server.stop()


def export_rows(history: History, work: Path, plan: Plan) -> list[Row]:
    """cpuload-export of the whole history, to /dev/null: its time and peak memory."""
    rows: list[Row] = []
    for fmt in FORMATS:
        argv = [*program("cpuload-export"), "--db", str(history.path), "--format", fmt]
        argv += ["--minutes", "525600", "--end", f"{history.newest:.3f}"]
        argv += ["--label", "instance=bench"]
        figure = f"export of a {plan.label} at 5 s, {fmt}"
        env = clean_env(work / "state-export")
        start = time.perf_counter()
        child = Child(argv, work / f"export-{fmt}.log", env, stdout=Path("/dev/null"))
        try:
            code, peak = child.finish(timeout=1800)
        except ChildError as exc:
            rows.append(error_row(SECTION, f"{figure}: time", "s", str(exc)))
            continue
        took = time.perf_counter() - start
        if code != 0:
            rows.append(error_row(SECTION, f"{figure}: time", "s", child.tail()))
            continue
        note = f"{history.rows:,} samples and their modes, to /dev/null"
        rows.append(Row(SECTION, f"{figure}: time", "s", single(took), note=note))
        memory = f"{figure}: peak resident memory"
        rows.append(Row(SECTION, memory, "MB", single(peak), target=Target(100.0)))
    return rows


def measure(history: History, work: Path, scrapes: int, label: str) -> list[Row]:
    """On `history` (with modes, as the collector writes them), which stays open."""
    plan = Plan(scrapes, label)
    return scrape_rows(history, work, plan) + export_rows(history, work, plan)
