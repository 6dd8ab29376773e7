"""cpuload-export: CSV and JSON byte for byte as the HTTP answers, OpenMetrics parsed by
prometheus_client, and the real command's exit codes, pipes, terminal and read-only use."""

import io
import os
import pty
import select
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om

from shared.schema import MODES
from tests.conftest import script
from tests.test_app import call
from tests.test_reader import digest, make_db
from viewer import export, openmetrics, rows
from viewer.app import make_app

EXPORT = script("cpuload-export")
B = 1_700_000_000.0  # in the past, so a window ending near it is fixed, as over HTTP
LONG = rows.BATCH + 5_000  # more than one batch


def modes(k: int) -> tuple[int, ...]:
    return (100 * (k % 40), 7 * (k % 3), 250, 1, 33, 0, 12 * (k % 5))


def build(path: Path) -> Path:
    """LONG samples at 1 s with modes and a 5-minute hole, older ones at 5 s without modes."""
    old = [(B - 600 + 5 * k, float(k % 100)) for k in range(100)]
    new = [
        (B + k, sum(modes(k)[:6]) / 100, *modes(k)) for k in range(1, LONG) if not 1000 < k < 1300
    ]
    runs = [(B - 600, 5.0, B - 100, "boot-1"), (B, 1.0, None, "boot-1")]
    return make_db(path, [*old, *new], runs)


def run(*args: str) -> tuple[int, bytes]:
    out = io.BytesIO()
    err = io.StringIO()
    code = export.main(list(args), environ={}, stdout=out, stderr=err)
    assert code != 0 or not err.getvalue(), err.getvalue()
    return code, out.getvalue()


WINDOWS = [  # (minutes, end): all of it, a past hour that cuts the hole, one with no sample
    ("525600", str(B + LONG)),
    ("60", "2023-11-14T22:40:00Z"),
    ("5", str(B - 3000)),
    ("30", f"{B + 1100:.0f}.5"),
]


@pytest.mark.parametrize(("minutes", "end"), WINDOWS)
def test_csv_and_json_are_the_http_answers_for_the_same_window(
    tmp_path: Path, minutes: str, end: str
) -> None:
    db = build(tmp_path / "c.db")
    app = make_app(db)
    query = f"minutes={minutes}&end={end.replace('+', '%2B')}"
    for fmt, route in (("csv", "/api/samples.csv"), ("json", "/api/samples")):
        code, body = run("--db", str(db), "--format", fmt, "--minutes", minutes, "--end", end)
        answer = call(app, f"{route}?{query}")
        assert code == 0 and answer.code == 200
        assert body == answer.body, fmt


def test_csv_is_the_default_format() -> None:
    code, body = run("--db", "/nonexistent/c.db")
    assert code == 1 and body == b""


def test_openmetrics_holds_every_sample_with_its_stamp_and_the_labels(tmp_path: Path) -> None:
    db = build(tmp_path / "c.db")
    labels = ["--label", "instance=web1", "--label", 'site=a "b"\\c']
    code, body = run("--db", str(db), "--format", "openmetrics", "--minutes", "525600",
                     "--end", str(B + LONG), *labels)  # fmt: skip
    assert code == 0 and body.endswith(b"# EOF\n")
    found = {f.name: f for f in parse_om(body.decode())}  # type: ignore[no-untyped-call]
    assert {n: f.type for n, f in found.items()} == {
        "cpuload_cpu_busy_percent": "gauge",
        "cpuload_cpu_mode_percent": "gauge",
        "cpuload_busy_seconds": "counter",
        "cpuload_sampled_seconds": "counter",
    }
    conn = sqlite3.connect(db)
    want = conn.execute("SELECT * FROM sample_modes ORDER BY ts").fetchall()
    own = {"instance": "web1", "site": 'a "b"\\c'}

    def points(family: str, **extra: str) -> list[tuple[float, float]]:
        out = [
            (float(s.timestamp), s.value)
            for s in found[family].samples
            if s.labels == {**own, **extra}
        ]
        assert len(out) == sum(
            s.labels.get("mode", "") == extra.get("mode", "") for s in found[family].samples
        )
        return out

    def same(got: list[tuple[float, float]], expected: list[tuple[float, float]]) -> None:
        assert [round(t * 1000) for t, _ in got] == [round(t * 1000) for t, _ in expected]
        assert [v for _, v in got] == [v for _, v in expected]

    same(points("cpuload_cpu_busy_percent"), [(r[0], r[1]) for r in want])
    for i, mode in enumerate(MODES):
        same(
            points("cpuload_cpu_mode_percent", mode=mode),
            [(r[0], r[2 + i]) for r in want if r[2] is not None],
        )
    busy, sampled, cumulative = 0.0, 0.0, []
    for ts, cpu, *_ in want:
        interval = 5.0 if ts < B else 1.0
        busy += cpu * interval / 100
        sampled += interval
        cumulative.append((ts, busy, sampled))
    got_busy = points("cpuload_busy_seconds")
    got_sampled = points("cpuload_sampled_seconds")
    assert [v for _, v in got_busy] == pytest.approx([b for _, b, _ in cumulative], rel=1e-12)
    assert [v for _, v in got_sampled] == [s for _, _, s in cumulative]


def test_every_series_is_in_time_order_and_each_family_in_one_piece(tmp_path: Path) -> None:
    db = build(tmp_path / "c.db")
    code, body = run(
        "--db", str(db), "--format", "openmetrics", "--minutes", "600", "--end", str(B + LONG)
    )
    assert code == 0
    seen: list[str] = []
    last: dict[str, float] = {}
    for line in body.decode().splitlines():
        if line.startswith("# TYPE"):
            seen.append(line.split()[2])
        if line.startswith("#"):
            continue
        series, _, stamp = line.rsplit(" ", 2)
        assert float(stamp) > last.get(series, 0.0), line
        last[series] = float(stamp)
    assert len(seen) == len(set(seen)) == 4
    assert len(last) == 1 + len(MODES) + 2


def test_a_stamp_with_a_fraction_lands_on_its_millisecond_in_promtool() -> None:
    """promtool stores int64(float(text) * 1000); computed here with the same doubles."""
    for k in range(20_000):
        for ts in (B + k / 10, B + k / 1000, 1795857000 + k * 0.3):
            text = openmetrics.stamp(ts)
            assert int(float(text) * 1000) == round(ts * 1000), (ts, text)
    assert openmetrics.stamp(B) == "1700000000"


def test_help_version_and_bad_usage_exit_codes() -> None:
    result = subprocess.run([*EXPORT, "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "--format {csv,json,openmetrics}" in result.stdout
    assert "--label NAME=VALUE" in result.stdout
    result = subprocess.run([*EXPORT, "--version"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and result.stdout.startswith("cpuload-export ")
    for bad in (
        ["--minutes", "0"],
        ["--minutes", "1e3"],
        ["--end", "yesterday"],
        ["--minutes", "1", "--minutes", "2"],  # repeated: a bad window, as over HTTP
        ["--end", "1", "--end", "2"],
        ["--format", "xml"],
        ["--label", "instance"],
        ["--label", "__name__=x"],
        ["--label", "mode=x"],
        ["--label", "a=1", "--label", "a=2"],
    ):
        result = subprocess.run([*EXPORT, *bad], capture_output=True, text=True, timeout=30)
        last = result.stderr.splitlines()[-1]
        assert result.returncode == 2, (bad, result.stderr)
        assert last.startswith("cpuload-export: error: ") and "Traceback" not in result.stderr


def test_a_missing_file_is_one_line_and_exit_1(tmp_path: Path) -> None:
    db = tmp_path / "none.db"
    result = subprocess.run([*EXPORT, "--db", str(db)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and result.stdout == ""
    assert (
        result.stderr
        == f"cpuload-export: error: {db} does not exist yet; is cpuload-collector running?\n"
    )
    assert not db.exists()
    not_ours = tmp_path / "other.db"
    sqlite3.connect(not_ours).execute("CREATE TABLE t (x)").connection.commit()
    result = subprocess.run(
        [*EXPORT, "--db", str(not_ours)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1 and "not a cpuload database" in result.stderr
    assert result.stderr.count("\n") == 1
    result = subprocess.run([*EXPORT, "--db", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 1
    reason = f"{tmp_path} is a directory; give --db the path of the database file"
    assert result.stderr == f"cpuload-export: error: {reason}\n"


def test_a_closed_pipe_stops_it_quietly_and_the_file_is_untouched(tmp_path: Path) -> None:
    db = build(tmp_path / "c.db")
    before, listing = digest(db), sorted(os.listdir(tmp_path))
    argv = [
        *EXPORT,
        "--db",
        str(db),
        "--format",
        "openmetrics",
        "--minutes",
        "525600",
        "--end",
        str(B + LONG),
    ]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    assert child.stdout.readline().startswith(b"# HELP cpuload_cpu_busy_percent")
    child.stdout.close()  # as `| head -1` does
    assert child.wait(timeout=30) == 0
    assert child.stderr.read() == b""
    assert digest(db) == before and sorted(os.listdir(tmp_path)) == listing


def test_a_progress_line_only_on_a_terminal(tmp_path: Path) -> None:
    db = build(tmp_path / "c.db")
    argv = [
        *EXPORT,
        "--db",
        str(db),
        "--format",
        "csv",
        "--minutes",
        "525600",
        "--end",
        str(B + LONG),
    ]
    piped = subprocess.run(argv, capture_output=True, timeout=60)
    assert piped.returncode == 0 and piped.stderr == b""
    leader, follower = pty.openpty()
    try:
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=follower)
        os.close(follower)
        shown = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1)
            try:
                chunk = os.read(leader, 4096) if ready else b""
            except OSError:  # the terminal closed with the child
                break
            if ready and not chunk:
                break
            shown += chunk
        assert child.wait(timeout=30) == 0
    finally:
        os.close(leader)
    assert b"cpuload-export: " in shown and b"% of" in shown and shown.endswith(b"\n"), shown
