"""Every gap cause made for real: the real collector stalled, stopped, killed, started as after
a reboot, rows put in by hand, no restart; the real viewer names each one in /api/gaps, in the
page's gap list and on the bands. (A suspend is made with a fake clock: tests/test_loop.py.)"""

import os
import signal
import sqlite3
import time
import uuid
from pathlib import Path

import pytest

from shared.lockfile import collector_holds
from tests.conftest import require_root, wait_for
from tests.test_collector_process import COLLECTOR, samples, start
from tests.test_runs import after_a_reboot, started
from tests.test_viewer_process import VIEWER, Spawn, get, get_json, start_viewer

INTERVAL = 0.2


def more_samples(db: Path, than: int) -> bool:
    return len(samples(db)) > than + 3


def run_then(spawn: Spawn, env: dict[str, str], db: Path, argv: list[str] | None = None) -> int:
    """Start a collector (argv, or the plain one) and wait until it wrote a few samples."""
    count = len(samples(db)) if db.exists() else 0
    if argv is None:
        child, _ = start(spawn, env, "--db", str(db), "--interval", str(INTERVAL))
    else:
        child = spawn(argv, env=env, name="rebooted")
        wait_for(lambda: started(child), 15, "the start after the 'reboot'")
    wait_for(lambda: more_samples(db, count), 15, "new samples")
    return child.pid


@pytest.mark.slow
def test_each_cause_made_for_real_is_named_by_the_viewer(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    """~20 s at 0.2 s: stall, stop, kill, reboot, hand rows, no restart, in that order."""
    require_root()  # the 'reboot' mounts another boot id in a private mount namespace
    db = tmp_path / "c.db"
    began = time.time()
    first, _ = start(spawn, base_env, "--db", str(db), "--interval", str(INTERVAL))
    wait_for(lambda: len(samples(db)) > 5, 15, "samples")
    os.kill(first.pid, signal.SIGSTOP)  # stalled: three intervals and more without a reading
    time.sleep(6 * INTERVAL)
    count = len(samples(db))
    os.kill(first.pid, signal.SIGCONT)
    wait_for(lambda: more_samples(db, count), 15, "samples after the stall")
    assert first.stop() == 0  # stopped cleanly
    time.sleep(3 * INTERVAL)
    second_pid = run_then(spawn, base_env, db)
    os.kill(second_pid, signal.SIGKILL)  # killed
    time.sleep(3 * INTERVAL)
    third_pid = run_then(spawn, base_env, db)
    os.kill(third_pid, signal.SIGTERM)
    wait_for(lambda: not lock_held(db), 10, "the clean stop")
    time.sleep(3 * INTERVAL)
    fake = tmp_path / "boot_id"
    fake.write_text(f"{uuid.uuid4()}\n")
    argv = after_a_reboot(fake, [*COLLECTOR, "--db", str(db), "--interval", str(INTERVAL)])
    fourth_pid = run_then(spawn, base_env, db, argv)  # as after a reboot: another boot id
    os.kill(fourth_pid, signal.SIGTERM)
    wait_for(lambda: not lock_held(db), 10, "the last clean stop")
    last = samples(db)[-1][0]
    with sqlite3.connect(db) as conn:  # two rows put in by hand, after the last run stopped
        conn.executemany(
            "INSERT INTO samples (ts, cpu) VALUES (?, ?)", [(last + 1, 50.0), (last + 1.2, 50.0)]
        )
    conn.close()
    time.sleep(max(0.0, last + 2 - time.time()))  # then nothing: no collector runs

    _, base = start_viewer(spawn, [*VIEWER, "--db", str(db), "--port", "0"], base_env)
    end = time.time()  # both answers below for the same window, which ends now
    minutes = int((end - began) // 60) + 2  # and starts before the first sample
    window = f"minutes={minutes}&end={end:.6f}"
    code, found = get_json(f"{base}api/gaps?{window}")
    assert code == 200, found
    causes = [g["cause"] for g in found["gaps"]]
    assert causes == [
        "before-history",
        "collector-stalled",
        "collector-stopped",
        "collector-killed",
        "host-restarted",
        "unknown",
        "collector-not-running",
    ], found["gaps"]
    restart = found["gaps"][4]
    assert "stopped cleanly" in restart["detail"], restart
    assert all(isinstance(g["detail"], str) for g in found["gaps"])
    code, samples_body = get_json(f"{base}api/samples?{window}")
    assert [[g["start"], g["end"]] for g in found["gaps"]] == samples_body["gaps"]
    code, page = get(f"{base}?{window}")
    text = page.decode()
    for cause in causes:
        assert f'class="band cause-{cause}"' in text, cause
        assert f'<td data-label="cause"><span class="swatch"></span>{cause}</td>' in text, cause


def lock_held(db: Path) -> bool:
    return collector_holds(db)
