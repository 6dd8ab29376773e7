"""Fault 5: the database file is garbage, cut in half or of a newer schema, under both programs."""

import hashlib
import random
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.schema import SCHEMA_VERSION
from tests import routes
from tests.conftest import Child
from tests.fault_figures import FaultFigures
from tests.test_reader import make_db
from tests.test_viewer_process import COLLECTOR, VIEWER, get, get_json, start_viewer

Spawn = Callable[..., Child]
ROUTES = (*(r.removeprefix("/") for r in routes.WINDOW), "?minutes=1440")


def garbage(path: Path) -> None:
    path.write_bytes(random.Random(6).randbytes(65536))


def garbage_with_a_header(path: Path) -> None:
    """SQLite's magic string, then noise: passes a first glance at the header."""
    path.write_bytes(b"SQLite format 3\0" + random.Random(7).randbytes(65536 - 16))


def truncated(path: Path) -> None:
    """A real database with 50,000 samples, cut in half (a copy that stopped midway)."""
    now = time.time()
    real = make_db(path.with_suffix(".full"), [(now - k, 7.0) for k in range(50_000)], [(now, 1)])
    data = real.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def newer_schema(path: Path) -> None:
    make_db(path, [(time.time() - 1, 5.0)], [(time.time() - 10, 1.0)])
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()


def foreign(path: Path) -> None:
    """Some other program's SQLite file that happens to have a table called samples."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE samples (ts, cpu, note)")
        conn.execute("INSERT INTO samples VALUES (1, 2, '<b>not ours</b>')")
    conn.close()


CASES = {
    "garbage": (garbage, "not an SQLite database"),
    "garbage-with-header": (garbage_with_a_header, "not an SQLite database"),
    "truncated": (truncated, "malformed"),
    "newer-schema": (newer_schema, "upgrade cpuload"),
    "another-programs-db": (foreign, "another program"),
}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_file_is_refused_by_the_collector_and_reported_by_the_viewer_untouched(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str], case: str, faults: FaultFigures
) -> None:
    make, says = CASES[case]
    db = tmp_path / "c.db"
    make(db)
    before = digest(db)
    viewer, base = start_viewer(spawn, [*VIEWER, "--db", str(db), "--port", "0"], base_env)

    code, health = get_json(base + "healthz")
    assert code == 503 and health["status"] == "error" and says in health["reason"], health
    for route in ROUTES:
        code, body = get(base + route)
        text = body.decode()
        assert code == 503, (route, code, text[:300])
        assert "Traceback" not in text and 'File "' not in text, route
        assert "<b>not ours</b>" not in text, route
    page = get(base)[1].decode()
    assert "cannot read" in page and says in page and page.startswith("<!doctype html>")
    assert get(base + "charts/instant.svg")[1].decode().count("\n") == 1  # one plain line

    result = subprocess.run(
        [*COLLECTOR, "--db", str(db), "--interval", "0.1"],
        env=base_env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("cpuload-collector: error: ") and says in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert digest(db) == before, "the file was changed"
    assert not [p.name for p in tmp_path.glob("c.db-*")], "a journal or WAL was left beside it"
    viewer.check_alive()
    assert "Traceback" not in viewer.output()
    faults.record(case, result.stderr.strip().replace(str(db), "FILE"))
