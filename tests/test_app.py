"""The app in-process through plain WSGI calls: routes, JSON shapes, states, headers, caching."""

import gzip
import hashlib
import itertools
import json
import os
import re
import sqlite3
import wsgiref.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.lock import acquire
from shared.timeutil import minute_of
from tests import routes
from tests.conftest import as_nobody, require_root
from tests.test_reader import digest, make_db
from viewer.app import PAGE_CSP, make_app
from viewer.cache import Caches
from viewer.hosts import Hosts

NOW = 1_800_000_000.0 + 17.25  # 17.25 s into a minute


class Answer:
    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.code = int(status.split()[0])
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    app: Any, url: str, method: str = "GET", headers: dict[str, str | None] | None = None
) -> Answer:
    environ: dict[str, Any] = {}
    wsgiref.util.setup_testing_defaults(environ)
    path, _, query = url.partition("?")
    environ.update(PATH_INFO=path, QUERY_STRING=query, REQUEST_METHOD=method)
    for name, value in (headers or {}).items():
        key = "HTTP_" + name.upper().replace("-", "_")
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    got: list[Any] = []
    chunks = app(environ, lambda status, headers, exc=None: got.extend([status, headers]))
    body = b"".join(chunks)
    return Answer(got[0], got[1], body)


def hour_db(tmp_path: Path, stop: float = NOW - 2) -> Path:
    """An hour at 5 s with a 5-minute hole, the newest sample 2 s before NOW."""
    rows = [(NOW - 2 - 5 * k, float((k * 7) % 100)) for k in range(800)]
    rows = [(ts, cpu) for ts, cpu in rows if ts <= stop and not NOW - 1800 < ts < NOW - 1500]
    return make_db(tmp_path / "c.db", rows, [(NOW - 5000, 5.0)])


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    """The hour, with its lock held as a running collector holds it."""
    path = hour_db(tmp_path)
    fd = acquire(path)
    yield path
    os.close(fd)


def test_page_shows_state_gaps_both_charts_and_the_minute_table(db: Path) -> None:
    r = call(make_app(db, clock=lambda: NOW), "/")
    assert r.code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.text.count("<svg") == 3 and 'class="badge">running<' in r.text
    assert "Gaps in the window (1)" in r.text and "5 min 05 s" in r.text
    assert "<details" in r.text and "Minute means (61 minutes" in r.text
    assert 'name="viewport"' in r.text and "UTC" in r.text
    assert r.headers["content-security-policy"] == PAGE_CSP
    assert "<style" not in r.text and ' style="' not in r.text  # the CSP would block them
    assert not [u for u in _urls(r.text) if u != "http://www.w3.org/2000/svg"]


def _urls(text: str) -> list[str]:
    return re.findall(r"(?:https?:)?//[\w.-]+[^\s\"'<>]*", text)


def test_the_tests_route_list_is_every_route_the_app_serves(db: Path) -> None:
    app = make_app(db, clock=lambda: NOW)
    matched = [app.router.match({"PATH_INFO": p, "REQUEST_METHOD": "GET"}) for p in routes.ALL]
    served = {id(route) for route, _ in matched}
    missing = [r.rule for r in app.routes if id(r) not in served]
    assert not missing, f"add these routes to tests/routes.py: {missing}"


def test_every_answer_carries_the_security_headers(db: Path) -> None:
    app = make_app(db, clock=lambda: NOW)
    for url in ("/", "/charts/instant.svg", "/api/samples", "/healthz", "/nope", "/?minutes=0"):
        r = call(app, url)
        assert r.headers["x-content-type-options"] == "nosniff", url
        assert r.headers["referrer-policy"] == "no-referrer", url
        assert "default-src 'none'" in r.headers["content-security-policy"], url
        assert r.headers["cache-control"] == "no-cache", url
    js = call(app, "/static/viewer.js")
    assert "max-age=31536000" in js.headers["cache-control"]


def test_samples_are_those_with_t0_below_ts_at_or_below_t1(tmp_path: Path) -> None:
    t1 = NOW
    rows = [(t1 - 60, 1.0), (t1 - 59.9, 2.0), (t1, 3.0), (t1 + 0.1, 4.0)]
    db = make_db(tmp_path / "c.db", rows, [(t1 - 100, 0.1)])
    body = call(make_app(db, clock=lambda: t1), "/api/samples?minutes=1").json()
    assert body["from"] == t1 - 60 and body["to"] == t1 and body["interval"] == 0.1
    assert body["samples"] == [[t1 - 59.9, 2.0], [t1, 3.0]]
    assert body["gaps"] == [[t1 - 59.9, t1]]


def test_samples_json_lists_gaps_and_streams_large_windows(tmp_path: Path) -> None:
    start = NOW - 3600
    rows = [(start + 0.1 * i, 50.0) for i in range(1, 36_000) if not 25_000 <= i < 25_050]
    db = make_db(tmp_path / "c.db", rows, [(start, 0.1)])
    r = call(make_app(db, clock=lambda: NOW), "/api/samples?minutes=60")
    assert "content-length" not in r.headers  # streamed
    body = r.json()
    assert len(body["samples"]) == len(rows) and body["samples"][0] == [rows[0][0], 50.0]
    assert body["gaps"] == [[rows[24_998][0], rows[24_999][0]]]


def test_samples_gaps_follow_each_runs_interval_across_batches(tmp_path: Path) -> None:
    """A 5 s run, a 0.1 s run longer than a batch, a 5 s run again: each step is judged by
    the limit of the later sample's run, in whichever batch it falls, as /api/gaps judges it."""
    a = NOW - 2802
    first = [a + 5 * i for i in range(1, 40) if i not in (10, 20, 21)]  # 10 s: no gap; 15 s: gap
    fast = [
        (10 * (a + 200) + k) / 10 for k in range(1, 25_001) if k not in (9_000, 22_000, 22_001)
    ]
    last = [a + 2701 + 5 * i for i in range(1, 21)]  # 6 s after the fast run: within 5 s's limit
    stamps = first + fast + last
    runs = [(a, 5.0, a + 196), (a + 200, 0.1, a + 2500.5), (a + 2701, 5.0)]
    db = make_db(tmp_path / "c.db", [(ts, 1.0) for ts in stamps], runs)
    app = make_app(db, clock=lambda: NOW)
    samples = call(app, "/api/samples?minutes=60").json()
    assert [ts for ts, _ in samples["samples"]] == stamps
    inside = [g for g in samples["gaps"] if g[0] > a]
    assert inside == [
        [a + 95, a + 110],  # 15 s in the 5 s run
        [a + 195, fast[0]],  # the stop between the first two runs
        [(10 * (a + 200) + 21_999) / 10, (10 * (a + 200) + 22_002) / 10],  # 0.3 s at 0.1 s
    ]
    gaps = call(app, "/api/gaps?minutes=60").json()
    assert [[g["start"], g["end"]] for g in gaps["gaps"]] == samples["gaps"]


def test_averages_cover_every_minute_of_the_window(db: Path) -> None:
    body = call(make_app(db, clock=lambda: NOW), "/api/averages?minutes=60").json()
    minutes = [m for m, _, _ in body["averages"]]
    assert body["to"] - body["from"] == 3600
    assert minutes[0] == (NOW - 3600) // 60 * 60 and minutes[-1] == NOW // 60 * 60
    assert all(b - a == 60 for a, b in itertools.pairwise(minutes)) and len(minutes) == 61
    full = [e for e in body["averages"] if e[2] == 12]
    assert full and all(isinstance(e[1], float) for e in full)
    assert any(e[1] is None and e[2] == 0 for e in body["averages"])  # the hole


@pytest.mark.parametrize(
    "query",
    [
        "",
        "abc",
        "0",
        "525601",
        "1e3",
        "+5",
        "-5",
        " 5",
        "5.0",
        "%EF%BC%90",
        "60&minutes=60",
        "0x10",
        "99999999999999999999",
    ],
)
def test_a_bad_minutes_is_a_400_with_one_plain_line(db: Path, query: str) -> None:
    app = make_app(db, clock=lambda: NOW)
    for route in routes.WINDOW:
        r = call(app, f"{route}?minutes={query}")
        assert r.code == 400, (route, query)
        assert r.headers["content-type"].startswith("text/plain")
        assert r.text.count("\n") == 1 and "minutes" in r.text


def test_good_minutes_and_unknown_paths(db: Path) -> None:
    app = make_app(db, clock=lambda: NOW)
    assert call(app, "/api/samples?minutes=1440").code == 200
    assert call(app, "/api/samples?minutes=1&other=x").code == 200
    # "/\xff" is /%FF as a WSGI server hands it over: bottle would decode it to "/".
    for url in (
        "/nope",
        "/static/../app.py",
        "/static/x.js",
        "/charts/other.svg",
        "/api",
        "/\xff",
    ):
        r = call(app, url)
        assert r.code == 404 and r.text.count("\n") == 1 and "Traceback" not in r.text
    r = call(app, "/", method="POST")
    assert r.code == 405 and r.headers["content-type"].startswith("text/plain")


def test_health_ok_then_stale(db: Path) -> None:
    r = call(make_app(db, clock=lambda: NOW), "/healthz")
    assert r.code == 200 and r.json()["status"] == "ok"
    assert r.json()["last_sample_age"] == pytest.approx(2.0)
    r = call(make_app(db, clock=lambda: NOW + 13.1), "/healthz")  # 15.1 s > 3 x 5 s
    assert r.code == 503 and r.json()["status"] == "stale"
    # The fixture holds the lock, as a collector stopped with SIGSTOP or starved of CPU does.
    assert "holds the database but takes no samples" in r.json()["reason"]


def test_health_stale_with_no_collector_asks_whether_it_runs(tmp_path: Path) -> None:
    r = call(make_app(hour_db(tmp_path), clock=lambda: NOW + 13.1), "/healthz")
    assert r.code == 503 and r.json()["status"] == "stale"
    assert r.json()["reason"].endswith("old (interval 5 s); is cpuload-collector running?")


def test_health_and_page_without_a_file(tmp_path: Path) -> None:
    app = make_app(tmp_path / "missing.db", clock=lambda: NOW)
    r = call(app, "/healthz")
    assert r.code == 503 and r.json()["status"] == "no-data"
    page = call(app, "/")
    assert page.code == 200 and str(tmp_path / "missing.db") in page.text
    assert "Is cpuload-collector running?" in page.text and 'class="badge">no data<' in page.text
    assert call(app, "/charts/instant.svg").code == 200  # axes spanning the window
    assert call(app, "/api/samples").json()["samples"] == []
    assert not (tmp_path / "missing.db").exists()


def test_health_no_samples_yet(tmp_path: Path) -> None:
    r = call(make_app(make_db(tmp_path / "c.db", []), clock=lambda: NOW), "/healthz")
    assert r.code == 503 and r.json()["status"] == "no-data"


@pytest.mark.parametrize("kind", ["garbage", "newer"])
def test_an_unreadable_file_is_a_clear_error(tmp_path: Path, kind: str) -> None:
    db = tmp_path / "c.db"
    if kind == "garbage":
        db.write_bytes(b"not a database " * 300)
    else:
        make_db(db, [(NOW - 1, 5.0)])
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA user_version = 99")
    app = make_app(db, clock=lambda: NOW)
    health = call(app, "/healthz")
    assert health.code == 503 and health.json()["status"] == "error" and health.json()["reason"]
    page = call(app, "/")
    assert (
        page.code == 503 and 'class="badge">error<' in page.text and "Traceback" not in page.text
    )
    for url in ("/charts/instant.svg", "/api/samples", "/api/averages"):
        r = call(app, url)
        assert r.code == 503 and r.text.count("\n") == 1 and "Traceback" not in r.text


def test_a_window_is_read_once_until_a_sample_arrives_or_the_window_moves(db: Path) -> None:
    caches = Caches()
    clock = [NOW]
    app = make_app(db, clock=lambda: clock[0], caches=caches)
    first = call(app, "/charts/instant.svg").body
    clock[0] += 0.5  # still inside the same 5 s step
    assert call(app, "/charts/instant.svg").body == first and call(app, "/").code == 200
    assert caches.answers.hits == 1  # the same answer, not even a look at the window
    assert (caches.windows.hits, caches.windows.misses) == (1, 1)  # the page drew the same
    clock[0] += 5  # the collector has stopped, yet the empty tail grows
    assert call(app, "/charts/instant.svg").body != first and caches.windows.misses == 2
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO samples (ts, cpu) VALUES (?, ?)", (clock[0] - 1, 99.0))
    assert call(app, "/charts/instant.svg").body != first and caches.windows.misses == 3


def test_a_burst_of_requests_leaves_the_file_byte_identical(db: Path) -> None:
    before = digest(db)
    app = make_app(db, clock=lambda: NOW)
    for minutes in (1, 15, 60, 360, 1440):
        for url in (*routes.WINDOW, routes.HEALTH):
            assert call(app, f"{url}?minutes={minutes}").code == 200
    assert digest(db) == before
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_the_worked_example_in_the_http_api_doc(tmp_path: Path) -> None:
    """Window 12:00:40-12:03:40 at 5 s, the collector stopped from 12:01:10 to 12:02:40."""
    m = 1_800_000_000.0  # "12:00"
    rows = [(m + 5 * i, 20.0) for i in range(1, 13)] + [(m + 65, 30.0), (m + 70, 50.0)]
    rows += [(m + 160 + 5 * i, 10.0) for i in range(13)]
    db = make_db(tmp_path / "c.db", rows, [(m - 600, 5.0)])
    app = make_app(db, clock=lambda: m + 220)
    samples = call(app, "/api/samples?minutes=3").json()
    assert len(samples["samples"]) == 4 + 2 + 13
    assert samples["gaps"] == [[m + 70, m + 160]]
    averages = call(app, "/api/averages?minutes=3").json()["averages"]
    assert averages == [[m, 20.0, 12], [m + 60, 40.0, 2], [m + 120, 10.0, 5], [m + 180, 10.0, 8]]
    svg = call(app, "/charts/average.svg?minutes=3").text
    data = json.loads(
        re.findall(r"<metadata[^>]*>(.*?)</metadata>", svg)[0].replace("&quot;", '"')
    )
    middles = list(itertools.accumulate(data["steps"], initial=data["t0"]))[1:]
    assert middles == [m + 90, m + 150, m + 210]
    assert svg.count('class="lone"') == 3  # three lone points


def test_static_files_are_the_apps_own_and_refer_nowhere_else(db: Path) -> None:
    app = make_app(db, clock=lambda: NOW)
    js, css = call(app, "/static/viewer.js"), call(app, "/static/viewer.css")
    icon = call(app, "/static/favicon.svg")
    assert js.headers["content-type"].startswith("text/javascript")
    assert css.headers["content-type"].startswith("text/css")
    assert icon.headers["content-type"].startswith("image/svg+xml")
    for body in (js.text, css.text, icon.text):
        body = body.replace("http://www.w3.org/2000/svg", "")  # a namespace, never fetched
        assert not re.findall(r"https?:|//[\w.-]+\.\w|@import|url\(", body)


def test_a_hand_edited_text_cpu_is_not_a_sample(db: Path) -> None:
    """Text in cpu mid-window (only possible with the CHECKs off) is skipped by every route."""
    routes = ("/api/samples", "/api/averages", "/healthz")
    before = {url: call(make_app(db, clock=lambda: NOW), url).body for url in routes}
    bad = NOW - 600.5  # between two samples, neither the newest nor in the hole
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA ignore_check_constraints = 1")
        for k, cpu in enumerate(("x", b"x", 150.0)):  # also a blob and a number out of range
            conn.execute("INSERT INTO samples (ts, cpu) VALUES (?, ?)", (bad + k, cpu))
    conn.close()
    app = make_app(db, clock=lambda: NOW)
    for minutes in (15, 60, 1440):  # every sample; and per column (over 720 rows)
        for url in ("/", "/charts/instant.svg", "/charts/average.svg"):
            r = call(app, f"{url}?minutes={minutes}")
            assert r.code == 200 and "Traceback" not in r.text, (url, r.text[:300])
            assert r.text.count("<svg") == (3 if url == "/" else 1), url
    assert 'class="badge">running<' in call(app, "/").text
    for url in routes:  # the same answers as without the row: it neither appears nor counts
        r = call(app, url)
        assert r.code == 200 and r.body == before[url], url
    samples = call(app, "/api/samples").json()["samples"]
    assert all(isinstance(cpu, float) for _, cpu in samples) and bad not in dict(samples)
    assert all(0 <= cpu <= 100 for _, cpu in samples)


def test_a_directory_the_viewer_may_not_enter_is_an_error_not_a_500(db: Path) -> None:
    # Root enters every directory, so the app runs in a child that drops to nobody; pytest's
    # tmp_path lies under a directory private to root, as /var/lib/cpuload is to others.
    require_root()
    app = make_app(db, clock=lambda: NOW)  # built here: the child could not read /root's Python
    call(app, "/healthz")  # and every module a request needs is imported before the fork

    def answers() -> str:
        got = [call(app, url) for url in ("/healthz", "/", "/api/samples")]
        return json.dumps([(str(a.code), a.text) for a in got])

    report = json.loads(as_nobody(answers) or "[]")
    assert [status[:3] for status, _ in report] == ["503", "503", "503"], report
    health = json.loads(report[0][1])
    assert health["status"] == "error" and "be in group cpuload" in health["reason"]
    assert all("Traceback" not in body for _, body in report)


def test_every_data_route_takes_end_and_a_past_window_is_fixed(db: Path) -> None:
    app = make_app(db, clock=lambda: NOW)
    end = NOW - 1200
    for route in routes.WINDOW:
        r = call(app, f"{route}?minutes=10&end={end}")
        assert r.code == 200, route
    body = call(app, f"/api/samples?minutes=10&end={end}").json()
    assert (body["from"], body["to"]) == (end - 600, end)
    assert body["samples"][-1][0] <= end and body["samples"][0][0] > end - 600
    assert call(app, "/api/samples?minutes=10&end=1e9").code == 400
    later = call(app, f"/api/samples?minutes=10&end={NOW + 99:.0f}").json()
    assert later["to"] == NOW  # an end later than now means now


def test_a_past_page_never_refreshes_and_links_to_its_neighbours(db: Path) -> None:
    app = make_app(db, clock=lambda: NOW)
    past = call(app, f"/?minutes=60&end={NOW - 7200:.0f}").text
    assert 'data-live="0"' in past and "does not refresh" in past
    assert 'rel="prev"' in past and 'rel="next"' in past and ">now</a>" in past
    live = call(app, "/?minutes=60").text
    assert 'data-live="1"' in live and 'class="off">later' in live
    for minutes in ("15", "60", "360", "1440", "10080", "43200"):
        assert f'href="/?minutes={minutes}"' in live


def test_a_matching_etag_gets_304_and_a_new_sample_a_new_etag(db: Path) -> None:
    app = make_app(db, clock=lambda: NOW)
    for route in (*routes.WINDOW, "/?part=instant", "/?part=state"):
        first = call(app, route)
        tag = first.headers["etag"]
        again = call(app, route, headers={"If-None-Match": tag})
        assert again.code == 304 and again.body == b"", route
    tag = call(app, "/?part=state").headers["etag"]
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO samples (ts, cpu) VALUES (?, ?)", (NOW - 1, 50.0))
    assert call(app, "/?part=state", headers={"If-None-Match": tag}).code == 200


def test_text_answers_are_gzipped_for_a_client_that_accepts_it(db: Path) -> None:
    app = make_app(db, clock=lambda: NOW)
    for route in (*routes.WINDOW, routes.HEALTH, *routes.STATIC):
        plain = call(app, route)
        packed = call(app, route, headers={"Accept-Encoding": "gzip, deflate"})
        assert packed.headers.get("content-encoding") == "gzip", route
        assert gzip.decompress(packed.body) == plain.body, route
        assert "content-encoding" not in plain.headers
    for refusing in ("gzip;q=0", "gzip; Q=0.0", "br, gzip ; q = 0", "*;q=0"):
        refused = call(app, "/api/samples", headers={"Accept-Encoding": refusing})
        assert "content-encoding" not in refused.headers, refusing
        refused = call(app, "/", headers={"Accept-Encoding": refusing})
        assert "content-encoding" not in refused.headers, refusing
    for accepting in ("gzip;", "GZIP;q=0.5", "deflate, *", "gzip;level=1"):
        taken = call(app, "/api/samples", headers={"Accept-Encoding": accepting})
        assert taken.headers.get("content-encoding") == "gzip", accepting


def test_the_page_parts_are_the_pieces_of_the_page(db: Path) -> None:
    app = make_app(db, clock=lambda: NOW)
    whole = call(app, "/").text
    untagged = re.sub(r" data-etag='[^']*'", "", whole)
    for part in ("state", "gaps", "instant", "average", "modes", "means"):
        piece = call(app, f"/?part={part}")
        alone = re.sub(r" data-etag='[^']*'", "", piece.text).strip()
        assert piece.code == 200 and alone in untagged, part
        assert f"data-etag='{piece.headers['etag']}'" in whole, part
    assert call(app, "/?part=nope").code == 400
    assert call(app, "/?part=state&part=gaps").code == 400


def test_gaps_name_their_causes_and_match_the_samples_gaps(tmp_path: Path) -> None:
    boot = "11111111-2222-3333-4444-555555555555"
    rows = [(NOW - 1000 + 5 * i, 10.0) for i in range(1, 60)]  # run 1, until NOW - 705
    rows += [(NOW - 600 + 5 * i, 10.0) for i in range(1, 60)]  # run 2, from NOW - 595
    runs = [(NOW - 1001, 5.0, NOW - 700, boot), (NOW - 599, 5.0, None, boot)]
    db = make_db(tmp_path / "c.db", rows, runs)
    app = make_app(db, clock=lambda: NOW)
    gaps = call(app, "/api/gaps?minutes=20").json()
    samples = call(app, "/api/samples?minutes=20").json()
    assert [[g["start"], g["end"]] for g in gaps["gaps"]] == samples["gaps"]
    causes = [(g["cause"], g["seconds"]) for g in gaps["gaps"]]
    assert causes == [
        ("before-history", NOW - 995 - (NOW - 1200)),
        ("collector-stopped", 110.0),
        ("collector-not-running", 305.0),
    ]
    assert all(isinstance(g["detail"], str) for g in gaps["gaps"])
    page = call(app, "/?minutes=20").text
    assert "collector-stopped" in page and 'class="band cause-collector-stopped"' in page


def test_modes_and_the_csvs(tmp_path: Path) -> None:
    rows = [(NOW - 30, 12.5, 1000, 0, 200, 0, 50, 0, 10), (NOW - 25, 3.0), (NOW - 20, 7.25)]
    db = make_db(tmp_path / "c.db", rows, [(NOW - 100, 5.0)])
    app = make_app(db, clock=lambda: NOW)
    modes = call(app, "/api/modes?minutes=1").json()
    assert modes["modes"] == ["user", "nice", "system", "irq", "softirq", "steal", "iowait"]
    assert modes["samples"][0] == [NOW - 30, 12.5, 10.0, 0.0, 2.0, 0.0, 0.5, 0.0, 0.1]
    assert modes["samples"][1] == [NOW - 25, 3.0, *([None] * 7)]
    csv_text = call(app, "/api/samples.csv?minutes=1")
    assert csv_text.headers["content-type"].startswith("text/csv")
    lines = csv_text.text.splitlines()
    assert lines[0] == "ts,time_utc,cpu,user,nice,system,irq,softirq,steal,iowait"
    assert lines[1] == f"{NOW - 30},2027-01-15T07:59:47.250Z,12.5,10.0,0.0,2.0,0.0,0.5,0.0,0.1"
    assert lines[2].endswith(",3.0,,,,,,,") and len(lines) == 4
    averages = call(app, "/api/averages.csv?minutes=2").text.splitlines()
    assert averages[0] == "minute,time_utc,avg,count"
    mean = (12.5 + 3.0 + 7.25) / 3
    assert averages[1:] == [
        "1799999880,2027-01-15T07:58:00Z,,0",
        f"1799999940,2027-01-15T07:59:00Z,{mean!r},3",
        "1800000000,2027-01-15T08:00:00Z,,0",
    ]


def test_a_host_that_is_not_allowed_gets_400_and_loopback_names_pass(db: Path) -> None:
    app = make_app(db, clock=lambda: NOW, hosts=Hosts.default("127.0.0.1"))
    for host in ("127.0.0.1", "127.0.0.1:8080", "localhost", "LOCALHOST:80", "[::1]:8080"):
        assert call(app, "/api/samples", headers={"Host": host}).code == 200, host
    for host in ("evil.example", "evil.example:8080", "127.0.0.2", "localhost.evil.example"):
        r = call(app, "/healthz", headers={"Host": host})
        assert r.code == 400 and "allowed-hosts" in r.text and r.text.count("\n") == 1, host
    assert call(app, "/healthz", headers={"Host": None}).code == 200  # HTTP/1.0: no Host
    anyone = make_app(db, clock=lambda: NOW, hosts=Hosts(["*"]))
    assert call(anyone, "/healthz", headers={"Host": "evil.example"}).code == 200


def test_405_says_which_methods_are_allowed(db: Path) -> None:
    r = call(make_app(db, clock=lambda: NOW), "/api/samples", method="POST")
    assert r.code == 405 and r.headers["allow"] == "GET, HEAD"


def test_averages_of_a_long_window_cover_every_minute_a_day_at_a_time(tmp_path: Path) -> None:
    rows = [(NOW - 86_400 * 2 + 37 * i, float(i % 90)) for i in range(1, 4600)]
    db = make_db(tmp_path / "c.db", rows, [(NOW - 200_000, 5.0)])
    app = make_app(db, clock=lambda: NOW)
    body = call(app, "/api/averages?minutes=3000").json()
    minutes = [m for m, _, _ in body["averages"]]
    assert minutes == list(range(int((NOW - 180_000) // 60 * 60), int(NOW // 60 * 60) + 60, 60))
    by_hand: dict[int, list[float]] = {}
    for ts, cpu in rows:
        by_hand.setdefault(minute_of(ts), []).append(cpu)
    for m, avg, count in body["averages"]:
        found = by_hand.get(m, [])
        assert count == len(found) and (avg is None) == (not found)
        if found:
            assert avg == pytest.approx(sum(found) / len(found))
    csv_lines = call(app, "/api/averages.csv?minutes=3000").text.splitlines()
    assert len(csv_lines) == len(minutes) + 1
