"""Fault 4: the wall clock steps back and forward under both real processes (libfaketime)."""

import re
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Child, require, wait_for
from tests.fault_figures import FaultFigures
from tests.test_collector_process import samples, start
from tests.test_viewer_process import VIEWER, get, get_json, start_viewer

Spawn = Callable[..., Child]
AGE = re.compile(r'<span id="age"[^>]*>([^<]*)</span>')


class FakeClock:
    """One wall-clock offset for both programs, changed by rewriting a file libfaketime reads.

    Monotonic clocks (and CLOCK_BOOTTIME) stay real, as they do when NTP or a person steps
    the clock; the file is re-read at every call (FAKETIME_NO_CACHE).
    """

    def __init__(self, directory: Path) -> None:
        libs = sorted(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1"))
        require(bool(libs), "needs libfaketime (apt-get install faketime)")
        self.file = directory / "faketime"
        self.offset = 0
        self.set(0)
        self.env = {
            "LD_PRELOAD": str(libs[0]),
            "FAKETIME_TIMESTAMP_FILE": str(self.file),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
        }

    def set(self, offset: int) -> None:
        tmp = self.file.with_suffix(".new")
        tmp.write_text(f"{offset:+d}s\n")
        tmp.replace(self.file)  # atomic: a reader never sees a half-written spec
        self.offset = offset

    def now(self) -> float:
        return time.time() + self.offset


def rows(db: Path) -> dict[float, float]:
    return dict(samples(db))


def viewer_state(base: str) -> tuple[int, dict[str, Any], str]:
    code, health = get_json(base + "healthz")
    page_code, page = get(base)
    assert page_code == 200 and b"Traceback" not in page
    found = AGE.search(page.decode())
    return code, health, found[1] if found else ""


def assert_sensible(base: str, clock: FakeClock) -> dict[str, Any]:
    """/healthz is ok with an age from 0 to a few intervals; the page shows no negative age."""
    code, health, age = viewer_state(base)
    assert code == 200 and health["status"] == "ok", health
    assert 0 <= health["last_sample_age"] < 5, health
    assert health["last_sample"] <= clock.now() + 1, "the newest sample shown is in the future"
    assert age and not age.startswith("-"), f"the page shows the age {age!r}"
    return health


@pytest.mark.slow
def test_clock_steps_back_and_forward_under_both_programs(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str], faults: FaultFigures
) -> None:
    """~15 s at --interval 0.1: back 3 s (stamps collide), back an hour, forward a day."""
    clock = FakeClock(tmp_path)
    env = {**base_env, **clock.env}
    db = tmp_path / "c.db"
    collector, _ = start(spawn, env, "--db", str(db), "--interval", "0.1")
    _, base = start_viewer(spawn, [*VIEWER, "--db", str(db), "--port", "0"], env)
    wait_for(lambda: len(samples(db)) >= 10, 15, "ten samples")
    assert_sensible(base, clock)

    # Back 3 s: the next 3 s of stamps are stored already; they are dropped, never overwritten.
    before = rows(db)
    clock.set(-3)
    wait_for(lambda: "already stored" in collector.output(), 10, "a collision logged")
    newest = max(before)
    wait_for(lambda: max(rows(db)) > newest + 1, 15, "samples past the old newest")
    after = rows(db)
    assert {ts: after.get(ts) for ts in before} == before, "a stored sample was overwritten"
    assert re.search(r"dropped \d+ samples whose stamps were already stored", collector.output())

    # Back an hour: sampling carries on an hour earlier; the viewer shows the current time.
    before = rows(db)
    clock.set(-3603)
    wait_for(lambda: "stepped back by 3600" in collector.output(), 10, "the step back logged")
    wait_for(lambda: sum(ts < min(before) for ts in rows(db)) >= 10, 10, "samples an hour back")
    collector.check_alive()
    back = assert_sensible(base, clock)

    # Forward a day: sampling carries on a day later.
    clock.set(-3603 + 86400)
    wait_for(lambda: "stepped forward by 86400" in collector.output(), 10, "the step logged")
    wait_for(lambda: max(rows(db)) > clock.now() - 5, 10, "samples a day ahead")
    ahead = assert_sensible(base, clock)
    after = rows(db)
    assert {ts: after.get(ts) for ts in before} == before, "a stored sample was overwritten"

    assert collector.stop(signal.SIGTERM) == 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    assert "Traceback" not in collector.log.read_text()
    dropped = re.search(r"dropped (\d+) samples", collector.output())
    faults.record("samples stored across the three steps", len(after))
    faults.record("samples dropped after the 3 s step back", int(dropped[1]) if dropped else 0)
    changed = sum(after.get(ts) != cpu for ts, cpu in before.items())
    faults.record("stored samples changed by a later step", changed)
    faults.record("/healthz last_sample_age after an hour back", back["last_sample_age"], "s")
    faults.record("/healthz last_sample_age after a day ahead", ahead["last_sample_age"], "s")
    print(
        f"\nclock steps: {len(after)} samples, healthz ages {back['last_sample_age']:.2f} s"
        f" (an hour back) and {ahead['last_sample_age']:.2f} s (a day ahead)"
    )
