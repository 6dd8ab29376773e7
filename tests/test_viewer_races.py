"""The real viewer while the file changes under it: collector starts and stops, broken pages."""

import fcntl
import http.client
import json
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.lockfile import lock_path
from tests.conftest import Child, require_root, wait_for
from tests.test_reader import make_db
from tests.test_viewer_process import (
    COLLECTOR,
    VIEWER,
    get,
    get_json,
    read_only_viewer,
    start_collector,
    start_viewer,
)
from viewer.rows import BATCH

Spawn = Callable[..., Child]
NOW = time.time()


def spoil_samples(db: Path, first: int, last: int) -> None:
    """Overwrite leaf pages of `samples` holding rows first..last (oldest first) with noise;
    page 1 and the runs table stay intact, so the file opens and passes the schema check."""
    conn = sqlite3.connect(db)
    (size,) = conn.execute("PRAGMA page_size").fetchone()
    pages = [p for (p,) in conn.execute(_LEAVES)]
    conn.close()
    # Rows are appended in stamp order, so leaf pages hold them in page order.
    per_page = (BATCH * 3) / len(pages)
    spoiled = pages[int(first / per_page) : int(last / per_page) + 1]
    with db.open("r+b") as f:
        for page in spoiled:
            f.seek((page - 1) * size)
            f.write(b"\xa5" * size)


_LEAVES = "SELECT pageno FROM dbstat WHERE name = 'samples' AND pagetype = 'leaf' ORDER BY pageno"


def three_batches(tmp_path: Path) -> Path:
    rows = [(NOW - 60_000 + 0.5 * i, 40.0) for i in range(BATCH * 3)]
    return make_db(tmp_path / "c.db", rows, [(NOW - 70_000, 0.5)])


def read_all(url: str) -> tuple[int, bytes, bool]:
    """Status, body, and whether the body arrived whole (not cut mid-stream)."""
    host, port = url.split("//")[1].split("/")[0].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=20)
    try:
        conn.request("GET", "/" + url.split("/", 3)[3])
        answer = conn.getresponse()
        try:
            return answer.status, answer.read(), True
        except http.client.IncompleteRead as exc:
            return answer.status, exc.partial, False
    finally:
        conn.close()


def test_a_file_that_fails_in_the_first_batch_is_a_503_line_not_a_cut_stream(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    db = three_batches(tmp_path)
    spoil_samples(db, BATCH // 2, BATCH // 2)
    viewer, base = start_viewer(spawn, [*VIEWER, "--db", str(db), "--port", "0"], base_env)
    code, body, whole = read_all(base + "api/samples?minutes=1440")
    assert (code, whole) == (503, True), body[:300]
    assert body.decode().count("\n") == 1 and "malformed" in body.decode()
    viewer.check_alive()
    assert "Traceback" not in viewer.output()


def test_a_failure_after_the_first_batch_cuts_the_stream_and_logs_one_line(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    db = three_batches(tmp_path)
    spoil_samples(db, 2 * BATCH + BATCH // 2, 2 * BATCH + BATCH // 2)
    viewer, base = start_viewer(spawn, [*VIEWER, "--db", str(db), "--port", "0"], base_env)
    code, body, whole = read_all(base + "api/samples?minutes=1440")
    # The status line went out with the first batch: the only honest signal left is the cut.
    assert code == 200 and not whole and body.startswith(b'{"from": ')
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    wait_for(lambda: "cut short" in viewer.output(), 5, "the one log line")
    viewer.check_alive()
    log = viewer.output()
    assert "Traceback" not in log and 'File "' not in log
    assert next(line for line in log.splitlines() if "cut short" in line).count("malformed") == 1
    code, health = get_json(base + "healthz")  # the viewer carries on
    # The newest sample is 8 h old and no collector holds the file: /healthz checks it and
    # names the damage (before, it said only "stale").
    assert code == 503 and health["status"] == "error", health
    assert "is damaged" in health["reason"] and health["last_sample_age"] > 3600, health


@pytest.mark.slow
def test_collector_starts_and_stops_never_make_a_read_only_viewer_fail(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    """~6 s: five collector runs at 0.1 s while two threads keep asking, viewer read-only."""
    require_root()
    state = tmp_path / "state"
    state.mkdir()
    db = state / "cpuload.db"
    viewer, base = start_viewer(spawn, read_only_viewer(state, db), base_env)
    collect = [*COLLECTOR, "--db", str(db), "--interval", "0.1"]
    start_collector(spawn, collect, base_env).stop(signal.SIGTERM)  # the file exists from here

    answers: list[tuple[str, int, bytes]] = []
    stop = threading.Event()

    def hammer(route: str) -> None:
        while not stop.is_set():
            code, body = get(base + route)
            answers.append((route, code, body))

    threads = [threading.Thread(target=hammer, args=(r,)) for r in ("api/samples?minutes=1",) * 2]
    threads.append(threading.Thread(target=hammer, args=("healthz",)))
    for t in threads:
        t.start()
    try:
        for _ in range(5):
            collector = start_collector(spawn, collect, base_env)
            time.sleep(0.6)
            assert collector.stop(signal.SIGTERM) == 0
            time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert len(answers) > 100
    failed = [(r, c, b[:200]) for r, c, b in answers if not _fine(r, c, b)]
    assert not failed, f"{len(failed)} of {len(answers)} answers failed: {failed[:5]}"
    viewer.check_alive()
    assert "Traceback" not in viewer.output()


def _fine(route: str, code: int, body: bytes) -> bool:
    """Valid JSON, and never the "error" state: healthz may say stale between runs."""
    try:
        answer = json.loads(body)
    except ValueError:
        return False
    if route == "healthz":
        return code == 200 or answer["status"] in ("stale", "no-data")
    return code == 200 and isinstance(answer["samples"], list)


def test_a_wal_file_at_rest_is_read_as_immutable_unless_a_collector_holds_the_lock(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    """SQLite's trap: a WAL file without -shm in a directory the viewer cannot write. With no
    -wal and no collector it cannot change, so the viewer reads it as immutable; while a
    collector holds the lock it might, and the viewer says so after its retries."""
    require_root()
    state = tmp_path / "state"
    state.mkdir()
    db = make_db(state / "cpuload.db", [(NOW - 1, 5.0)], [(NOW - 10, 1.0)])
    sqlite3.connect(db).execute("PRAGMA journal_mode = WAL").connection.close()
    assert sorted(p.name for p in state.iterdir()) == ["cpuload.db"]  # -wal and -shm gone
    viewer, base = start_viewer(spawn, read_only_viewer(state, db), base_env)
    assert get(base + "api/samples")[0] == 200
    assert get_json(base + "healthz")[1]["status"] in ("ok", "stale")  # NOW is import time
    fd = os.open(lock_path(db), os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a starting collector holds it
        code, health = get_json(base + "healthz")
        code_samples, body = get(base + "api/samples")
    finally:
        os.close(fd)
    assert code == 503 and health["status"] == "error", health
    assert "unable to open database file; retry; if it persists, check" in health["reason"]
    assert code_samples == 503 and body.decode().count("\n") == 1
    viewer.check_alive()
    assert "Traceback" not in viewer.output()
