"""A real Prometheus (Debian's, with promtool) on a temporary directory and a free port: it
scrapes the real viewer beside the real collector, and it serves a day that cpuload-export
wrote and promtool backfilled. Every PromQL query in docs/fleet.md and in the Grafana
dashboard runs against both, and the answers are checked against the samples themselves."""

import json
import math
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.children import Child, clean_env
from shared.schema import MODES
from tests.conftest import ROOT, free_port, require_tool, script, wait_for
from tests.test_reader import make_db

pytestmark = pytest.mark.slow

DOC = (ROOT / "docs" / "fleet.md").read_text(encoding="utf-8")
DASHBOARD = json.loads((ROOT / "docs" / "grafana" / "cpuload.json").read_text(encoding="utf-8"))
PROMQL = re.findall(r"^```promql\n(.*?)\n```$", DOC, re.DOTALL | re.MULTILINE)
SCRAPE_CONFIG = re.findall(r"^```yaml\n(.*?)\n```$", DOC, re.DOTALL | re.MULTILINE)[0]
COLLECTOR_UP = re.compile(r"cpuload-collector: writing \S+ every \S+ s \(pid \d+\)")
VIEWER_UP = re.compile(r"cpuload-viewer: serving http://(\S+)/ from ")
# A busy loop for most of each second: some load, and a load that changes.
LOAD = """import time
while True:
    t = time.time()
    while time.time() - t < 0.6:
        pass
    time.sleep(0.4)
"""
DAY = 1440
BACKFILLED = "host-b"


class Prometheus:
    """Prometheus on 127.0.0.1 and a free port, its data in `storage`; ended by `stop()`."""

    def __init__(self, work: Path, config: str, storage: Path) -> None:
        binary = require_tool("prometheus")
        self.port = free_port()
        (work / "prometheus.yml").write_text(config)
        argv = [
            binary,
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={storage}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        self.child = Child(argv, work / "prometheus.log")
        wait_for(self._ready, 60, "Prometheus to be ready")

    def _ready(self) -> bool:
        self.child.check_alive()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=30) as answer:
                body = json.load(answer)
        except urllib.error.HTTPError as exc:
            pytest.fail(f"Prometheus refused {params}: {exc.read().decode()}")
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        data = self.api("query", query=expr, time=f"{at:.3f}")
        assert data["resultType"] in ("vector", "matrix"), data
        return list(data["result"])

    def value(self, expr: str, at: float) -> float:
        (one,) = self.query(expr, at)
        return float(one["value"][1])

    def points(self, expr: str, at: float) -> list[tuple[float, float]]:
        """The raw points of a range selector: [(seconds, value)]."""
        (one,) = self.query(expr, at)
        return [(float(t), float(v)) for t, v in one["values"]]

    def stop(self) -> None:
        self.child.stop(signal.SIGTERM, timeout=20)


@dataclass
class Setup:
    prometheus: Prometheus
    db: Path
    instance: str
    at: list[float]  # times to evaluate the queries at
    ranges: dict[str, str]  # Grafana's $__range and $__rate_interval there


def samples_between(db: Path, a: float, b: float) -> list[tuple[float, float]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT ts, cpu FROM samples WHERE ts > ? AND ts <= ? ORDER BY ts", (a, b)
        ).fetchall()
    finally:
        conn.close()


def mean(found: list[tuple[float, float]]) -> float:
    """The mean of samples of one interval (every run in these tests has a single one)."""
    return sum(cpu for _, cpu in found) / len(found)


def said(child: Child, line: re.Pattern[str]) -> re.Match[str] | None:
    """The child's line matching `line` once it printed it; ChildError if it exited."""
    child.check_alive()
    return line.search(child.output())


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """The collector at 0.5 s under some load, its viewer, and Prometheus scraping it every
    second as docs/fleet.md configures it; the collector stopped once and started again."""
    work = tmp_path_factory.mktemp("live")
    env = clean_env(work / "state")
    db = work / "c.db"
    end = math.floor(time.time() / 5) * 5 - 120  # an hour of history up to 2 minutes ago
    make_db(db, [(end - 5 * k, float(k % 90)) for k in range(720)], [(end - 3600, 5.0, end)])
    children: list[Child] = []

    def start(argv: list[str], name: str, ready: re.Pattern[str] | None = None) -> Child:
        child = Child(argv, work / f"{name}-{len(children)}.log", env)
        children.append(child)
        if ready is not None:
            wait_for(lambda: said(child, ready), 20, name)
        return child

    collector_argv = [*script("cpuload-collector"), "--db", str(db), "--interval", "0.5"]
    prometheus: Prometheus | None = None
    try:
        require_tool("prometheus")
        collector = start(collector_argv, "collector", COLLECTOR_UP)
        start([sys.executable, "-c", LOAD], "load")
        viewer = start([*script("cpuload-viewer"), "--db", str(db), "--port", "0"], "viewer")
        found = wait_for(lambda: said(viewer, VIEWER_UP), 20, "the viewer's address")
        target = found[1]
        config = re.sub(r"(?m)^(\s+)- web1\.example\.org:8080$", rf"\1- {target}", SCRAPE_CONFIG)
        config = re.sub(r"(?m)^\s+- web\d+\.example\.org:8080\n", "", config)
        config = config.replace("scrape_interval: 15s", "scrape_interval: 1s")
        config = config.replace("scrape_timeout: 10s", "scrape_timeout: 1s")
        assert target in config, config
        prometheus = Prometheus(work, config, work / "tsdb")
        p = prometheus
        scraped = "count_over_time(cpuload_sampled_seconds_total[1m])"
        wait_for(lambda: p.query(f"{scraped} >= 12", time.time()), 60, "12 scrapes")
        before_stop = time.time()
        assert collector.stop(signal.SIGTERM) == 0
        wait_for(lambda: p.query("cpuload_collector_up == 0", time.time()), 30, "up == 0")
        down = time.time()
        start(collector_argv, "collector", COLLECTOR_UP)
        wait_for(lambda: p.query("cpuload_collector_up == 1", time.time()), 30, "up again")
        wait_for(lambda: p.query(f"{scraped} >= 20", time.time()), 60, "20 scrapes")
        yield Setup(
            p,
            db,
            "127.0.0.1",
            [before_stop, down, time.time()],
            {"$__range": "1m", "$__rate_interval": "5s"},
        )
    finally:
        if prometheus is not None:
            prometheus.stop()
        for child in reversed(children):
            child.stop(signal.SIGTERM, timeout=10)


def test_the_docs_mean_load_equals_the_mean_of_the_samples_scraped(live: Setup) -> None:
    """rate(busy) / rate(sampled) over a range is the mean of the samples between the first
    and the last scrape in it (their newest samples: the last-sample gauge of those scrapes)."""
    p, at = live.prometheus, live.at[-1]
    checked = 0
    for expr in PROMQL:
        if "cpuload_busy_seconds_total" not in expr:
            continue
        (span,) = set(re.findall(r"\[(\w+)\]", expr))
        got = p.value(expr, at)
        newest = p.points(f"cpuload_last_sample_timestamp_seconds[{span}]", at)
        want = mean(samples_between(live.db, newest[0][1], newest[-1][1]))
        assert abs(got - want) < 1.0, (expr, got, want)
        assert got == pytest.approx(want, abs=1e-9), (expr, got, want)
        checked += 1
    assert checked == 3


def test_the_gap_counter_adds_the_gap_the_restart_left(live: Setup) -> None:
    p = live.prometheus
    before = p.query("cpuload_gap_seconds_total", live.at[0])
    after = p.query("cpuload_gap_seconds_total", live.at[-1])
    grown = sum(float(a["value"][1]) for a in after) - sum(float(b["value"][1]) for b in before)
    newest = p.value("cpuload_last_sample_timestamp_seconds", live.at[0])
    last = p.value("cpuload_last_sample_timestamp_seconds", live.at[-1])
    stamps = [ts for ts, _ in samples_between(live.db, newest, last)]
    limit = 2 * 0.5 + 0.001
    want = sum(b - a for a, b in zip([newest, *stamps], stamps, strict=False) if b - a > limit)
    assert want > 1.0 and grown == pytest.approx(want, abs=1e-6)
    assert {a["metric"]["cause"] for a in after} == {
        "collector-stopped", "collector-killed", "host-restarted", "host-suspended",
        "collector-stalled", "unknown",
    }  # fmt: skip


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """A day at 5 s with modes and a gap, exported as OpenMetrics, turned into blocks by
    promtool, and served by a Prometheus that scrapes nothing."""
    promtool = require_tool("promtool")
    require_tool("prometheus")
    work = tmp_path_factory.mktemp("backfill")
    db = work / "c.db"
    end = math.floor(time.time() / 5) * 5 - 3600
    rows = []
    for k in range(DAY * 12):
        ts = end - 5 * k
        if 1000 <= k < 1100:
            continue  # a gap of about 8 minutes
        user, system = (k * 37) % 7000, (k * 11) % 1500
        modes = (user, 0, system, 5, 20, 0, (k * 3) % 400) if k % 500 else (None,) * 7
        rows.append((ts, sum(m or 0 for m in modes[:6]) / 100, *modes))
    make_db(db, rows, [(end - 86400 - 60, 5.0, None, "boot-x")])
    export = work / "day.om"
    with export.open("wb") as out:
        subprocess.run(
            [*script("cpuload-export"), "--db", str(db), "--format", "openmetrics",
             "--minutes", str(DAY), "--end", str(end), "--label", f"instance={BACKFILLED}"],
            stdout=out, check=True, timeout=120,
        )  # fmt: skip
    blocks = work / "tsdb"
    made = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(export), str(blocks)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert made.returncode == 0, made.stdout + made.stderr
    prometheus = Prometheus(work, "global:\n  scrape_interval: 1m\n", blocks)
    try:
        yield Setup(
            prometheus, db, BACKFILLED, [end], {"$__range": "1d", "$__rate_interval": "5m"}
        )
    finally:
        prometheus.stop()


def test_backfilled_points_are_the_samples_exactly(backfilled: Setup) -> None:
    p, end = backfilled.prometheus, backfilled.at[0]
    conn = sqlite3.connect(f"file:{backfilled.db}?mode=ro", uri=True)
    want = conn.execute("SELECT * FROM sample_modes ORDER BY ts").fetchall()
    conn.close()
    assert len(want) == DAY * 12 - 100
    sel = f'{{instance="{BACKFILLED}"}}[1d]'

    def same(got: list[tuple[float, float]], expected: list[tuple[float, float]]) -> None:
        assert [round(t * 1000) for t, _ in got] == [round(t * 1000) for t, _ in expected]
        assert [v for _, v in got] == [v for _, v in expected]  # exactly: no rounding

    same(p.points(f"cpuload_cpu_busy_percent{sel}", end), [(r[0], r[1]) for r in want])
    for i, mode in enumerate(MODES):
        expr = f'cpuload_cpu_mode_percent{{instance="{BACKFILLED}",mode="{mode}"}}[1d]'
        same(p.points(expr, end), [(r[0], r[2 + i]) for r in want if r[2] is not None])
    busy, sampled, counters = 0.0, 0.0, []
    for ts, cpu, *_ in want:
        busy += cpu * 5.0 / 100
        sampled += 5.0
        counters.append((ts, busy, sampled))
    got_busy = p.points(f"cpuload_busy_seconds_total{sel}", end)
    got_sampled = p.points(f"cpuload_sampled_seconds_total{sel}", end)
    same(got_sampled, [(t, s) for t, _, s in counters])
    assert [round(t * 1000) for t, _ in got_busy] == [round(t * 1000) for t, _, _ in counters]
    assert [v for _, v in got_busy] == pytest.approx([b for _, b, _ in counters], rel=1e-12)
    assert {s["metric"]["__name__"] for s in p.query(f"{{instance='{BACKFILLED}'}}", end)} == {
        "cpuload_cpu_busy_percent",
        "cpuload_cpu_mode_percent",
        "cpuload_busy_seconds_total",
        "cpuload_sampled_seconds_total",
    }


def test_the_docs_mean_load_works_on_backfilled_history(backfilled: Setup) -> None:
    p, end = backfilled.prometheus, backfilled.at[0]
    for expr in PROMQL:
        if "cpuload_busy_seconds_total" not in expr:
            continue
        (span,) = set(re.findall(r"\[(\w+)\]", expr))
        # Backfilled, a point is a sample: the range's first point is the `a` of (a, b].
        stamps = [t for t, _ in p.points(f"cpuload_cpu_busy_percent[{span}]", end)]
        want = mean(samples_between(backfilled.db, stamps[0], stamps[-1]))
        assert p.value(expr, end) == pytest.approx(want, abs=1e-9), expr


def dashboard_queries() -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                found.append(node["expr"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(DASHBOARD["panels"])
    return found


def grafana(expr: str, setup: Setup) -> str:
    """The query as Grafana sends it, its variables filled in."""
    for name, value in {**setup.ranges, "$instance": ".+"}.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, expr
    return expr


def test_every_query_in_the_docs_and_the_dashboard_answers_with_data(
    live: Setup, backfilled: Setup
) -> None:
    """Each query runs at every moment of both setups without an error, and finds data in
    at least one of them (some only while a collector is down, some only in history)."""
    queries = [*PROMQL, *dashboard_queries()]
    assert len(PROMQL) >= 8 and len(dashboard_queries()) >= 8
    empty = []
    for expr in queries:
        answers = [
            setup.prometheus.query(grafana(expr, setup), at)
            for setup in (live, backfilled)
            for at in setup.at
        ]
        for result in answers:
            for series in result:
                value = float(series["value"][1]) if "value" in series else 0.0
                assert math.isfinite(value), (expr, series)
        if not any(answers):
            empty.append(expr)
    assert not empty, f"queries that found nothing in either Prometheus: {empty}"
    variable = DASHBOARD["templating"]["list"][1]["query"]["query"]
    found = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable)
    assert found is not None, variable
    metric, label = found.groups()
    for setup in (live, backfilled):
        names = setup.prometheus.api(f"label/{label}/values", **{"match[]": metric})
        assert setup.instance in names


def test_the_docs_scrape_config_passes_promtool(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    config = tmp_path / "prometheus.yml"
    config.write_text(SCRAPE_CONFIG)
    result = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
