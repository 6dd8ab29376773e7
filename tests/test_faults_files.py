"""Fault 5: the database file is garbage, cut short, damaged or of a newer schema, under both
programs; and damage met while the collector writes."""

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.schema import SCHEMA_VERSION
from tests import routes
from tests.conftest import Child, wait_for
from tests.fault_figures import FaultFigures
from tests.test_collector_process import samples, start
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


# What each program says: the viewer reads until SQLite fails; the collector checks first.
CASES = {
    "garbage": (garbage, "not an SQLite database", "not an SQLite database"),
    "garbage-with-header": (garbage_with_a_header, "not an SQLite database", "not an SQLite"),
    "truncated": (truncated, "malformed", "cut short"),
    "newer-schema": (newer_schema, "upgrade cpuload", "upgrade cpuload"),
    "another-programs-db": (foreign, "another program", "another program"),
}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_file_is_refused_by_the_collector_and_reported_by_the_viewer_untouched(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str], case: str, faults: FaultFigures
) -> None:
    make, says, collector_says = CASES[case]
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
    assert_refused(result, collector_says)
    assert digest(db) == before, "the file was changed"
    assert not [p.name for p in tmp_path.glob("c.db-*")], "a journal or WAL was left beside it"
    viewer.check_alive()
    assert "Traceback" not in viewer.output()
    faults.record(case, result.stderr.strip().replace(str(db), "FILE"))


def assert_refused(result: subprocess.CompletedProcess[str], says: str) -> None:
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("cpuload-collector: error: ") and says in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    # One piece of advice, the one that fits: the first version said "upgrade cpuload; choose
    # another --db" for a newer schema.
    if says == "upgrade cpuload":
        assert "--db" not in result.stderr, result.stderr
    else:
        assert "upgrade" not in result.stderr, result.stderr


def run_collector(db: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [*COLLECTOR, "--db", str(db), "--interval", "0.1"]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)


def good(path: Path, rows: int = 20_000) -> Path:
    """A sound file whose samples ended an hour ago (a viewer calls it stale)."""
    now = time.time() - 3600
    return make_db(path, [(now - k, 7.0) for k in range(rows)], [(now - rows, 1)])


def page_size(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[16:18], "big")


def overwrite_page(path: Path, number: int, seed: int) -> None:
    """Random bytes over page `number` (1-based), as a bad sector or a stray write leaves it."""
    size = page_size(path)
    with path.open("r+b") as f:
        f.seek((number - 1) * size)
        f.write(random.Random(seed).randbytes(size))


def cut_where_the_last_page_is_free(path: Path) -> None:
    """Cut by 1,000 bytes where only free pages end the file: quick_check alone says ok."""
    good(path)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE filler (x)")
        conn.execute("INSERT INTO filler VALUES (zeroblob(20000))")
        conn.commit()
        conn.execute("DROP TABLE filler")
    conn.close()
    path.write_bytes(path.read_bytes()[:-1000])
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA quick_check").fetchall() == [("ok",)]
    conn.close()


def an_interior_page_overwritten(path: Path) -> None:
    good(path)
    pages = path.stat().st_size // page_size(path)
    overwrite_page(path, random.Random(3).randrange(2, pages), seed=4)


def the_last_page_overwritten(path: Path) -> None:
    good(path)
    overwrite_page(path, path.stat().st_size // page_size(path), seed=5)


DAMAGED = pytest.mark.parametrize(
    ("make", "says"),
    [
        (cut_where_the_last_page_is_free, "cut short"),
        (an_interior_page_overwritten, "is damaged"),
        (the_last_page_overwritten, "is damaged"),
    ],
    ids=["cut-by-1000-bytes", "interior-page", "last-page"],
)


@DAMAGED
def test_a_damaged_file_is_refused_at_start_byte_for_byte_untouched(
    tmp_path: Path,
    base_env: dict[str, str],
    make: Callable[[Path], None],
    says: str,
    faults: FaultFigures,
) -> None:
    # The first version wrote 38 samples in 4 s into each of these and logged nothing.
    db = tmp_path / "c.db"
    make(db)
    before = digest(db)
    result = run_collector(db, base_env)
    assert_refused(result, says)
    assert "restore it from a backup" in result.stderr
    assert digest(db) == before, "the file was changed"
    assert not [p.name for p in tmp_path.glob("c.db-*")], "a journal or WAL was left beside it"
    faults.record(make.__name__.replace("_", " "), one_line(result.stderr, db))


@DAMAGED
def test_healthz_names_the_damage_of_a_file_nothing_writes(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str], make: Callable[[Path], None], says: str
) -> None:
    """Samples stopped and no collector holds the file: /healthz says why (the collector
    refuses such a file), not just "stale"; the file is left as it was."""
    db = tmp_path / "c.db"
    make(db)
    before = digest(db)
    viewer, base = start_viewer(spawn, [*VIEWER, "--db", str(db), "--port", "0"], base_env)
    for _ in range(2):  # the second verdict is the one kept for this state of the file
        code, health = get_json(base + "healthz")
        assert code == 503 and health["status"] == "error", health
        assert says in health["reason"] and "restore it from a backup" in health["reason"]
        assert health["last_sample_age"] > 3000, health  # its newest row could still be read
    assert digest(db) == before, "the file was changed"
    viewer.check_alive()


def test_healthz_checks_a_stale_file_again_once_it_changed(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    db = tmp_path / "c.db"
    good(db)
    viewer, base = start_viewer(spawn, [*VIEWER, "--db", str(db), "--port", "0"], base_env)
    code, health = get_json(base + "healthz")
    assert code == 503 and health["status"] == "stale", health  # sound: only old
    pages = db.stat().st_size // page_size(db)
    overwrite_page(db, random.Random(3).randrange(2, pages), seed=4)
    code, health = get_json(base + "healthz")
    assert code == 503 and health["status"] == "error" and "is damaged" in health["reason"]
    viewer.check_alive()


def one_line(text: str, db: Path) -> str:
    """A line the collector printed, as the docs show it: FILE for the database's path."""
    return text.strip().replace(str(db), "FILE")


# A writer killed while its newest pages live only in the -wal: the file is then shorter
# than its page count says, and that is no damage.
KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from collector.store import Store
store = Store.open(Path(sys.argv[1]), 100)
store.conn.execute("PRAGMA wal_autocheckpoint = 0")
store.insert([(1_700_000_000 + k / 10, 5.0, *[None] * 7) for k in range(20_000)])
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_file_whose_newest_pages_are_in_its_wal_after_sigkill_is_not_refused(
    tmp_path: Path, spawn: Callable[..., Child], base_env: dict[str, str], faults: FaultFigures
) -> None:
    db = tmp_path / "c.db"
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(db)], timeout=60)
    assert killed.returncode == -signal.SIGKILL
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.close()
    short = pages * page_size(db) - db.stat().st_size
    assert short > 0  # the case this test is about
    child, _ = start(
        spawn, base_env, "--db", str(db), "--interval", "0.1", "--retention-days", "0"
    )
    wait_for(lambda: len(samples(db)) > 20_000, 15, "new samples after the killed ones")
    assert child.stop() == 0
    faults.record("after a SIGKILL: rows only in the -wal", 20_000)
    faults.record("after a SIGKILL: the file short of its pages by", short, "B")
    faults.record(
        "after a SIGKILL: samples the collector added, not refused", len(samples(db)) - 20_000
    )


def root_page(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        row = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'samples'").fetchone()
    conn.close()
    return int(row[0])


def checkpoint_between_ticks(child: Child, db: Path) -> None:
    """With the collector stopped between two transactions, fold its WAL into the file.

    TRUNCATE also makes the collector drop its page cache at its next transaction, so it reads
    the samples' pages from the file again. A stop that caught it inside a transaction makes
    the checkpoint busy: let it run on a moment and try again.
    """
    conn = sqlite3.connect(db, isolation_level=None, timeout=0)
    try:
        for _ in range(50):
            child.proc.send_signal(signal.SIGSTOP)
            if conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0:
                return
            child.proc.send_signal(signal.SIGCONT)
            time.sleep(0.05)
        pytest.fail("the collector was always inside a transaction")
    finally:
        conn.close()


def test_damage_met_while_writing_stops_the_collector_and_its_restart_refuses_the_file(
    tmp_path: Path, spawn: Callable[..., Child], base_env: dict[str, str], faults: FaultFigures
) -> None:
    db = tmp_path / "c.db"
    child, _ = start(spawn, base_env, "--db", str(db), "--interval", "0.1")
    wait_for(lambda: len(samples(db)) >= 5, 15, "five samples")
    checkpoint_between_ticks(child, db)
    overwrite_page(db, root_page(db), seed=9)  # the page every insert must read
    child.proc.send_signal(signal.SIGCONT)
    code = child.proc.wait(15)
    assert code == 1
    out = child.output()
    lines = [line for line in out.splitlines() if "error" in line.lower()]
    assert lines[-1].startswith("cpuload-collector: error: ") and "is damaged" in lines[-1], out
    assert "stopped writing" in lines[-1] and "Traceback" not in out, out
    again = run_collector(db, base_env)
    assert_refused(again, "is damaged")
    assert os.path.exists(db)
    faults.record("damage met while writing: exit status", code)
    faults.record("damage met while writing: the line", one_line(lines[-1], db))
    faults.record("the next start: exit status", again.returncode)
    faults.record("the next start: the line", one_line(again.stderr, db))
