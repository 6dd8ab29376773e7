"""/metrics through the app in-process: parsed with prometheus_client's own parsers, every value
checked against sums worked out here from the rows, growing as samples arrive, never falling."""

import gzip
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text

from shared.schema import MODE_COLUMNS, MODES
from tests.test_app import call
from tests.test_reader import make_db
from viewer.app import make_app
from viewer.hosts import Hosts

M = 1_800_000_000.0
PROMETHEUS_ACCEPT = (  # what Prometheus 2.42 sends
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
# (started, interval, stopped, boot_id): a clean stop, then a run that was killed, then a run
# on another boot. Samples before the first run take its interval.
RUNS = [(M, 5.0, M + 100, "boot-a"), (M + 200, 1.0, None, "boot-a"), (M + 400, 2.0, None, "b")]
SUSPEND = (3, M + 440, M + 470, "suspend", 30.0)  # (run, start, stop, kind, slept)
# (a, b, cause) of each gap, by the rules in docs/http-api.md, from the rows below.
SPANS = [
    (M + 100, M + 201, "collector-stopped"),  # run 1 stopped cleanly at +100
    (M + 229, M + 241, "unknown"),  # inside run 2, which recorded no pause
    (M + 260, M + 402, "host-restarted"),  # run 3 is on another boot
    (M + 440, M + 472, "host-suspended"),  # the pause recorded inside run 3
]
CLOSABLE = (
    "collector-stopped",
    "collector-killed",
    "host-restarted",
    "host-suspended",
    "collector-stalled",
    "unknown",
)


def closed_by(t: float) -> dict[str, float]:
    """Seconds of the gaps that a sample at or before t has closed, by cause."""
    out = dict.fromkeys(CLOSABLE, 0.0)
    for a, b, cause in SPANS:
        if b <= t:
            out[cause] += b - a
    return out


GAPS = closed_by(M + 500)


def modes(k: int) -> tuple[int, ...]:
    """Hundredths of a percent for the seven modes; the six busy ones add up to cpu()."""
    return (100 * (k % 30), 50, 25 * (k % 4), 0, 10, 0, 300)


def cpu(k: int) -> float:
    return sum(modes(k)[:6]) / 100


def stamps() -> list[float]:
    before = [M - 20 + 5 * k for k in range(4)]  # older than any run: run 1's interval
    run1 = [M + 5 * k for k in range(21)]  # M .. M+100, the first on run 1's start
    run2 = [M + 201 + k for k in range(60) if not 230 <= 201 + k <= 240]  # .. +260
    run3 = [M + 402 + 2 * k for k in range(50) if not 440 < 402 + 2 * k < 472]  # .. +500
    return [*before, *run1, *run2, *run3]


def rows(ts: list[float]) -> list[tuple[float, ...]]:
    """Samples with modes, except those of run 1, which carry none (as before schema 3)."""
    out: list[tuple[float, ...]] = []
    for t in ts:
        k = int(t - M)
        out.append((t, cpu(k)) if M <= t <= M + 100 else (t, cpu(k), *modes(k)))
    return out


def build(path: Path, ts: list[float]) -> Path:
    make_db(path, rows(ts), RUNS)
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO pauses (run, start, stop, kind, slept) VALUES (?,?,?,?,?)", SUSPEND
        )
    return path


def append(path: Path, ts: list[float]) -> None:
    names = ("ts", "cpu", *MODE_COLUMNS)
    with sqlite3.connect(path) as conn:
        for sample in rows(ts):
            marks = ", ".join("?" * len(sample))
            conn.execute(
                f"INSERT INTO samples ({', '.join(names[: len(sample)])}) VALUES ({marks})", sample
            )


def by_hand(path: Path) -> dict[str, Any]:
    """The counters from the rows, the way a person with the sqlite3 shell would add them."""
    conn = sqlite3.connect(path)
    runs = conn.execute("SELECT started, interval FROM runs ORDER BY started").fetchall()
    found = conn.execute(f"SELECT ts, cpu, {', '.join(MODE_COLUMNS)} FROM samples").fetchall()
    conn.close()
    sums: dict[str, Any] = {"busy": 0.0, "sampled": 0.0, "modes": [0.0] * len(MODES)}
    for ts, busy, *hundredths in found:
        interval = ([i for started, i in runs if started <= ts] or [runs[0][1]])[-1]
        sums["busy"] += busy / 100 * interval
        sums["sampled"] += interval
        for i, h in enumerate(hundredths):
            if h is not None:
                sums["modes"][i] += h / 10_000 * interval
    return sums


def scrape(app: Any, accept: str = "") -> dict[str, Any]:
    """{sample name: value, or {label value: value}} from a text scrape, types checked."""
    answer = call(app, "/metrics", headers={"Accept": accept} if accept else {})
    assert answer.code == 200, answer.text
    parse = parse_om if "openmetrics" in answer.headers["content-type"] else parse_text
    types = {}
    values: dict[str, Any] = {}
    for family in parse(answer.text):
        types[family.name] = family.type
        for s in family.samples:
            if s.labels:
                ((_, value),) = s.labels.items()
                values.setdefault(s.name, {})[value] = s.value
            else:
                values[s.name] = s.value
    assert types == {
        "cpuload_last_sample_timestamp_seconds": "gauge",
        "cpuload_cpu_busy_percent": "gauge",
        "cpuload_collector_up": "gauge",
        "cpuload_busy_seconds": "counter",
        "cpuload_sampled_seconds": "counter",
        "cpuload_mode_seconds": "counter",
        "cpuload_gap_seconds": "counter",
    }
    return values


def check(values: dict[str, Any], path: Path, gaps: dict[str, float]) -> None:
    want = by_hand(path)
    assert values["cpuload_busy_seconds_total"] == pytest.approx(want["busy"], rel=1e-12)
    assert values["cpuload_sampled_seconds_total"] == pytest.approx(want["sampled"], rel=1e-12)
    got_modes = values["cpuload_mode_seconds_total"]
    assert list(got_modes) == list(MODES)
    assert list(got_modes.values()) == pytest.approx(want["modes"], rel=1e-12)
    assert values["cpuload_gap_seconds_total"] == pytest.approx(gaps)


def test_every_metric_equals_the_sums_over_the_rows(tmp_path: Path) -> None:
    db = build(tmp_path / "c.db", stamps())
    app = make_app(db, clock=lambda: M + 501)
    values = scrape(app)
    check(values, db, GAPS)
    assert values["cpuload_last_sample_timestamp_seconds"] == M + 500
    assert values["cpuload_cpu_busy_percent"] == cpu(500)
    assert values["cpuload_collector_up"] == 1.0
    # Sampled seconds: 4 + 21 samples at 5 s, 49 at 1 s, 35 at 2 s.
    assert values["cpuload_sampled_seconds_total"] == 25 * 5 + 49 * 1 + 35 * 2


def test_samples_counted_as_they_arrive_give_the_same_sums(tmp_path: Path) -> None:
    """The first scrape sums the whole file; later ones add each newer sample once and close
    the gaps they end: the same totals as one scrape of the finished file."""
    ts = stamps()
    now = [M + 60]
    db = build(tmp_path / "c.db", [t for t in ts if t <= now[0]])
    app = make_app(db, clock=lambda: now[0])
    values = scrape(app)
    check(values, db, dict.fromkeys(GAPS, 0.0))
    for step in (150, 205, 235, 300, 450, 480, 501):
        append(db, [t for t in ts if now[0] < t <= M + step])
        now[0] = M + step
        for _ in range(2):  # a scrape with nothing new changes nothing
            values = scrape(app)
            check(values, db, closed_by(M + step))
    assert values["cpuload_collector_up"] == 1.0


def test_a_retention_delete_never_lowers_a_counter(tmp_path: Path) -> None:
    ts = stamps()
    db = build(tmp_path / "c.db", ts[:-1])
    app = make_app(db, clock=lambda: M + 501)
    before = scrape(app)
    with sqlite3.connect(db) as conn:  # what retention does: the oldest rows go
        conn.execute("DELETE FROM samples WHERE ts < ?", (M + 300,))
    after = scrape(app)
    assert after == before
    append(db, ts[-1:])
    grown = scrape(app)
    interval = 2.0
    assert grown["cpuload_busy_seconds_total"] == pytest.approx(
        before["cpuload_busy_seconds_total"] + cpu(500) / 100 * interval
    )
    assert grown["cpuload_sampled_seconds_total"] == before["cpuload_sampled_seconds_total"] + 2
    for mode, h in zip(MODES, modes(500), strict=True):
        assert grown["cpuload_mode_seconds_total"][mode] == pytest.approx(
            before["cpuload_mode_seconds_total"][mode] + h / 10_000 * interval
        )
    # A new viewer starts from the file as it is now: less than the running one counted.
    fresh = scrape(make_app(db, clock=lambda: M + 501))
    assert fresh["cpuload_sampled_seconds_total"] < grown["cpuload_sampled_seconds_total"]


def test_text_by_default_openmetrics_when_asked_and_gzip(tmp_path: Path) -> None:
    db = build(tmp_path / "c.db", stamps())
    app = make_app(db, clock=lambda: M + 501)
    plain = call(app, "/metrics")
    assert plain.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# EOF" not in plain.text and "# TYPE cpuload_busy_seconds_total counter" in plain.text
    for accept in (PROMETHEUS_ACCEPT, "application/openmetrics-text; version=1.0.0"):
        om = call(app, "/metrics", headers={"Accept": accept})
        assert om.headers["content-type"].startswith("application/openmetrics-text; version=1")
        assert om.text.endswith("# EOF\n") and "# UNIT cpuload_busy_seconds seconds" in om.text
        assert scrape(app, accept) == scrape(app)
    for odd in ("text/html", "application/openmetrics-text; version=abc", "text/plain;version=x"):
        assert call(app, "/metrics", headers={"Accept": odd}).text == plain.text, odd
    zipped = call(app, "/metrics", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert gzip.decompress(zipped.body) == plain.body
    assert "Accept" in zipped.headers["vary"]


def test_without_a_file_or_a_fresh_sample_the_collector_is_down(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    app = make_app(db, clock=lambda: M + 501)
    answer = call(app, "/metrics")
    assert answer.code == 200 and "cpuload_collector_up 0.0" in answer.text
    assert "cpuload_busy_seconds_total" not in answer.text  # no file: nothing to count from
    make_db(db, [])
    empty = call(app, "/metrics").text  # a file with no sample: the counters, at zero
    assert (
        "cpuload_busy_seconds_total 0.0" in empty and "cpuload_sampled_seconds_total 0.0" in empty
    )
    db.unlink()
    build(db, stamps())
    check(scrape(app), db, GAPS)  # the file appeared: the whole file, at once
    stale = scrape(make_app(db, clock=lambda: M + 500 + 3 * 2.0))
    assert stale["cpuload_collector_up"] == 0.0  # as /healthz: 3 intervals old is stale


def test_a_row_stamped_in_the_future_counts_once_its_time_comes(tmp_path: Path) -> None:
    """A row put in by hand (or left by a clock that went back) stamped later than now must
    not be counted yet: counted at once, it would hide every real sample older than it."""
    ts = stamps()
    db = build(tmp_path / "c.db", ts)
    now = [M + 501]
    app = make_app(db, clock=lambda: now[0])
    start = scrape(app)
    append(db, [M + 600.0])  # ahead of now
    assert scrape(app) == start
    append(db, [M + 502.0])  # a real sample, older than the row from the future
    now[0] = M + 503
    grown = scrape(app)
    assert grown["cpuload_sampled_seconds_total"] == start["cpuload_sampled_seconds_total"] + 2
    now[0] = M + 601
    later = scrape(app)
    assert later["cpuload_sampled_seconds_total"] == grown["cpuload_sampled_seconds_total"] + 2


def test_the_counters_start_at_the_sums_of_the_file_when_the_viewer_starts(
    tmp_path: Path,
) -> None:
    ts = stamps()
    db = build(tmp_path / "c.db", ts)
    app = make_app(db, clock=lambda: M + 501)
    app.config["cpuload.metrics"].prime()  # what cpuload-viewer does once it listens
    with sqlite3.connect(db) as conn:  # retention before anyone scraped
        conn.execute("DELETE FROM samples WHERE ts < ?", (M + 300,))
    check(scrape(app), build(tmp_path / "whole.db", ts), GAPS)


def test_concurrent_scrapes_count_each_sample_once(tmp_path: Path) -> None:
    ts = stamps()
    db = build(tmp_path / "c.db", ts[:20])
    app = make_app(db, clock=lambda: M + 501)
    scrape(app)
    errors: list[BaseException] = []

    def scraper() -> None:
        try:
            for _ in range(15):
                scrape(app)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=scraper) for _ in range(4)]
    for t in threads:
        t.start()
    for k in range(20, len(ts), 10):
        append(db, ts[k : k + 10])
    for t in threads:
        t.join()
    assert not errors
    check(scrape(app), db, GAPS)


def test_a_host_that_is_not_allowed_gets_400_on_metrics_too(tmp_path: Path) -> None:
    db = build(tmp_path / "c.db", stamps())
    app = make_app(db, clock=lambda: M + 501, hosts=Hosts(["prometheus-target.example"]))
    assert call(app, "/metrics", headers={"Host": "prometheus-target.example:8080"}).code == 200
    assert call(app, "/metrics", headers={"Host": "evil.example"}).code == 400
