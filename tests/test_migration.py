"""Files written by versions 1 and 2 (tests/fixtures, made by that old code) migrate to the
current schema keeping every sample and run; the views work on them."""

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from collector.store import Store
from shared.schema import MODES, SCHEMA_VERSION
from tests.conftest import ROOT, Child, wait_for
from tests.test_collector_process import start

FIXTURES = ROOT / "tests" / "fixtures"
VERSIONS = {1: FIXTURES / "v1.sqlite", 2: FIXTURES / "v2.sqlite"}
Spawn = Callable[..., Child]


def copy(version: int, tmp_path: Path) -> Path:
    db = tmp_path / f"v{version}.db"
    shutil.copyfile(VERSIONS[version], db)
    return db


def contents(db: Path) -> tuple[int, list[tuple[float, float]], list[tuple[float, float]]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        samples = conn.execute("SELECT ts, cpu FROM samples ORDER BY ts").fetchall()
        runs = conn.execute("SELECT started, interval FROM runs ORDER BY id").fetchall()
    conn.close()
    return version, samples, runs


@pytest.mark.parametrize("version", [1, 2])
def test_an_old_file_is_migrated_keeping_every_sample_and_run(
    tmp_path: Path, version: int
) -> None:
    db = copy(version, tmp_path)
    found, samples, runs = contents(db)
    assert found == version and len(samples) >= 20 and len(runs) >= 2
    Store.open(db, 100).close()
    now, kept, kept_runs = contents(db)
    assert now == SCHEMA_VERSION
    assert kept == samples and kept_runs == runs
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        modes = conn.execute("SELECT * FROM sample_modes ORDER BY ts").fetchall()
        assert [m[:2] for m in modes] == samples  # the view holds every sample ...
        assert {m[2:] for m in modes} == {(None,) * len(MODES)}  # ... with no modes known
        counted = conn.execute("SELECT sum(count) FROM minute_means").fetchone()[0]
        assert counted == len(samples)
        assert conn.execute("SELECT count(*) FROM sample_intervals").fetchone()[0] == len(samples)
        conn.execute("SELECT * FROM gaps").fetchall()
        new_cols = conn.execute("SELECT boot_id, booted FROM runs").fetchall()
        assert set(new_cols) == {(None, None)}  # runs of old versions: unknown, not invented
        assert conn.execute("SELECT count(*) FROM pauses").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM edits").fetchone() == (0,)
    conn.close()


def test_the_v1_fixtures_gap_is_in_the_gaps_view_after_migration(tmp_path: Path) -> None:
    db = copy(1, tmp_path)
    Store.open(db, 100).close()
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        gaps = conn.execute('SELECT start, "end" FROM gaps').fetchall()
    conn.close()
    # Ten missing 5 s ticks, and the step from the 5 s run to the 0.5 s one.
    assert (1_764_000_245.0, 1_764_000_300.0) in gaps


@pytest.mark.parametrize("version", [1, 2])
def test_the_real_collector_writes_on_after_the_migration(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str], version: int
) -> None:
    db = copy(version, tmp_path)
    _, samples, runs = contents(db)
    child, _ = start(
        spawn, base_env, "--db", str(db), "--interval", "0.1", "--retention-days", "0"
    )
    wait_for(lambda: len(contents(db)[1]) >= len(samples) + 5, 15, "new samples")
    assert child.stop() == 0
    _, after, after_runs = contents(db)
    assert after[: len(samples)] == samples and after_runs[: len(runs)] == runs
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        new = conn.execute(
            "SELECT user, system, iowait FROM sample_modes WHERE ts > ? ORDER BY ts",
            (samples[-1][0],),
        ).fetchall()
        run = conn.execute("SELECT boot_id, booted, stopped FROM runs ORDER BY id DESC").fetchone()
    conn.close()
    assert new and all(None not in modes for modes in new)  # new samples carry their modes
    assert run[0] and run[1] and run[2]  # the new run knows its boot and its clean stop
