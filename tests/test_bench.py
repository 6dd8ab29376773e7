"""The benchmark runs end to end on tiny inputs and prints its table; no timing is asserted."""

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import idle_bench
from bench.history import History
from bench.load import parse_wrk
from bench.stats import Row, Target, summarise
from tests.conftest import ROOT, require

TINY = ["--quick", "--samples", "6", "--year-rows", "20000", "--reps", "2", "--load-seconds", "1"]
TINY += ["--idle-seconds", "3"]
FIGURES = (
    "collector: CPU per sample",
    "collector: resident memory (VmRSS)",
    "collector: CPU per sample with modes, against the v2 collector",
    "storage: file check at collector start (quick_check)",
    "viewer: resident memory after the run, year DB",
    "bytes per sample",
    "warm GET /, 1 h",
    "cold instant chart, 1 h",
    "cold instant chart, 24 h",
    "cold average chart, 24 h",
    "cold modes chart, 24 h",
    "cold GET /, 30 d",
    "cold GET /, 365 d",
    "first GET /, 365 d, fresh viewer",
    "/30 days: cold GET /, 30 d",
    "collector + viewer at 5 s, against sadc",
    "GET / throughput, 4 clients",
    "GET / throughput, 32 clients",
    "first /metrics scrape, 1.2-day history",
    "warm /metrics scrape, one new sample",
    "export of a 1.2-day at 5 s, openmetrics: time",
    "export of a 1.2-day at 5 s, openmetrics: peak resident memory",
    "export of a 1.2-day at 5 s, csv: peak resident memory",
)


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.slow
def test_quick_run_prints_every_figure_with_floor_and_verdict() -> None:
    require(idle_bench.sadc_path() is not None, "needs sysstat's sadc (.ci/run installs it)")
    # wrk when installed (CI installs it), else the benchmark's Python load generator.
    result = bench(*TINY)
    # 1 means a target was missed, which a noisy machine may do; 2 or a traceback is a bug.
    assert result.returncode in (0, 1), result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("machine: ") and " cores " in lines[0], lines[0]
    assert "not the quiet full run: python -m bench --quick" in lines[1], lines[1]
    assert "20,000 rows" in lines[1], lines[1]
    table = lines[3 : lines.index("floors:")]
    for figure in FIGURES:
        line = next((row for row in table if figure in row), None)
        assert line is not None, f"no row for {figure!r} in:\n{result.stdout}"
        assert line.split()[-1] in ("PASS", "MISS", "info"), (
            f"not measured: {line}\n{result.stdout}"
        )
    assert "NOT a year" in result.stdout  # a smaller run says so


def test_json_storage_figure_is_a_real_file_size_over_the_floor() -> None:
    result = bench("--quick", "--json", "--only", "storage", "--year-rows", "5000")
    assert result.returncode in (0, 1), result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["mode"].startswith("not the quiet full run") and report["machine"]["cores"] >= 1
    row, check = report["rows"]
    assert check["figure"].startswith("file check at collector start") and check["p50"] > 0
    assert row["floor"] == 16.0 and row["target"] == "<= 40 B"
    # Each sample stores two values, its modes, and SQLite's overhead: above 16 bytes.
    assert 16.0 < row["p50"] < 64.0, row
    assert row["status"] in ("PASS", "MISS")


def test_bad_usage_exits_2_with_one_line() -> None:
    result = bench("--only", "nonsense")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "choose from idle,collector,storage,viewer,load,fleet" in result.stderr


WRK_OUTPUT = """Running 10s test @ http://127.0.0.1:8080/
  2 threads and 4 connections
  Latency Distribution
     50%  812.00us
     75%    1.02ms
     90%    1.50ms
     99%    1.20s
  12345 requests in 10.00s, 2.34MB read
  Non-2xx or 3xx responses: 12
Requests/sec:   1234.50
Transfer/sec:    234.56KB
"""


def test_wrk_output_is_read_with_its_units() -> None:
    load = parse_wrk(WRK_OUTPUT)
    assert (load.rps, load.p50_ms, load.p99_ms, load.errors) == (1234.5, 0.812, 1200.0, 12)


def test_summary_is_median_and_95th_percentile() -> None:
    s = summarise([float(v) for v in range(100, 0, -1)])
    assert (s.p50, round(s.p95, 2), s.n) == (50.5, 95.05, 100)
    row = Row("viewer", "x", "ms", s, floor=25.25, target=Target(2.0, "ratio"))
    assert (row.ratio, row.status) == (2.0, "PASS")
    assert Row("viewer", "x", "ms", s, target=Target(50.0)).status == "MISS"


def test_history_windows_hold_no_more_samples_than_the_collector_leaves(tmp_path: Path) -> None:
    history = History(tmp_path / "h.db", 1000)
    for _ in range(3):
        history.add_newest()
        t1 = math.ceil(time.time() / 5) * 5  # the viewer's chart end at 5 s
        sql = "SELECT count(*) FROM samples WHERE ts > ? AND ts <= ?"
        (count,) = history.conn.execute(sql, (t1 - 3600, t1)).fetchone()
        # 719 at 5 s (one fewer if a tick passed between the insert and t1).
        assert count in (718, 719)
    assert history.conn.execute("SELECT count(*) FROM samples").fetchone()[0] in (1001, 1002)
    history.close()
