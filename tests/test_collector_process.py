"""The real collector as a child process: accuracy, stamps, signals, the lock, bad input."""

import fcntl
import grp
import hashlib
import itertools
import os
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest

from shared.lockfile import lock_path
from shared.timeutil import stamp
from tests.conftest import Child, require, require_root, require_tool, script, wait_for
from tests.test_store import newer

COLLECTOR = script("cpuload-collector")
STARTUP = re.compile(r"^cpuload-collector: writing (\S+) every (\S+) s \(pid (\d+)\)$", re.M)
Spawn = Callable[..., Child]


def start(spawn: Spawn, env: dict[str, str], *args: str) -> tuple[Child, re.Match[str]]:
    """Start a collector and wait for its startup line (failing with its output if it exits)."""
    child = spawn([*COLLECTOR, *args], env=env)

    def started() -> re.Match[str] | None:
        child.check_alive()
        return STARTUP.search(child.output())

    return child, wait_for(started, 15, "the collector's startup line")


def samples(db: Path) -> list[tuple[float, float]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT ts, cpu FROM samples ORDER BY ts").fetchall()
    conn.close()
    return rows


def proc_stat() -> tuple[int, int]:
    """Busy and total jiffies of all CPUs, read here, independently of the collector."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
    total = user + nice + system + idle + iowait + irq + softirq + steal  # guest is in user
    return total - idle - iowait, total


def pinned_busy_loop(spawn: Spawn) -> None:
    """A child that keeps one CPU (the first this process may use) busy until the test ends."""
    cpu = min(os.sched_getaffinity(0))
    burn = f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"
    spawn([sys.executable, "-c", burn], name="busy-loop")


def sleep_until(t: float) -> None:
    while (left := t - time.time()) > 0:
        time.sleep(min(left, 0.5))


@pytest.mark.slow
def test_samples_match_proc_stat_over_the_same_span_with_a_pinned_busy_loop(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    pinned_busy_loop(spawn)
    db = tmp_path / "c.db"
    start(spawn, base_env, "--db", str(db), "--interval", "0.5")
    wait_for(lambda: samples(db), 10, "a first sample")
    t_a = (int(time.time() * 2) + 2) / 2  # a stamp at least half a second ahead
    readings = {}
    for i in range(7):  # the test's own /proc/stat at each of the collector's stamps
        sleep_until(t_a + i / 2)
        readings[t_a + i / 2] = proc_stat()
    wait_for(lambda: samples(db)[-1][0] >= t_a + 3, 10, "the sample that ends the span")
    stored = {ts: cpu for ts, cpu in samples(db) if t_a < ts <= t_a + 3}
    # Over consecutive windows the small offsets between our reading and the collector's cancel;
    # a window the collector skipped after a stall (it logs it) is left out on both sides.
    assert len(stored) >= 4, stored
    mine = {ts: window(readings[ts - 0.5], readings[ts]) for ts in stored}
    measured, expected = sum(stored.values()) / len(stored), sum(mine.values()) / len(mine)
    assert abs(measured - expected) <= 2.0, (stored, mine)
    assert expected >= 100 / (os.cpu_count() or 1) / 1.1  # the busy loop alone fills one CPU


def window(before: tuple[int, int], after: tuple[int, int]) -> float:
    return 100 * (after[0] - before[0]) / (after[1] - before[1])


def test_stamps_fall_on_exact_multiples_and_sigint_stops_cleanly(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    db = tmp_path / "c.db"
    child, line = start(spawn, base_env, "--db", str(db), "--interval", "0.1")
    assert line.group(1) == str(db) and line.group(2) == "0.1" and int(line.group(3)) == child.pid
    wait_for(lambda: len(samples(db)) >= 10, 15, "ten samples")
    child.proc.send_signal(signal.SIGINT)
    assert child.proc.wait(5) == 0
    stamps = [ts for ts, _ in samples(db)]
    assert all(ts == stamp(round(ts * 10), Fraction(1, 10)) for ts in stamps)
    assert len(set(stamps)) == len(stamps)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        run = conn.execute("SELECT interval, pid, stopped FROM runs").fetchone()
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    assert run[:2] == (0.1, child.pid) and run[2] is not None
    assert mode == "delete"
    assert sorted(p.name for p in tmp_path.glob("c.db*")) == ["c.db", "c.db.lock"]


def test_sigterm_exits_0_within_a_second_even_at_an_hour_interval(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    child, _ = start(spawn, base_env, "--db", str(tmp_path / "c.db"), "--interval", "3600")
    began = time.monotonic()
    child.proc.send_signal(signal.SIGTERM)
    assert child.proc.wait(5) == 0
    assert time.monotonic() - began < 3  # the contract's second, with slack for this machine
    assert "Traceback" not in child.output()


def test_a_second_collector_is_refused_naming_the_first_and_a_killed_one_does_not_block(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    db = tmp_path / "c.db"
    first, _ = start(spawn, base_env, "--db", str(db), "--interval", "0.2")
    second = subprocess.run(
        [*COLLECTOR, "--db", str(db)], env=base_env, capture_output=True, text=True, timeout=20
    )
    assert second.returncode == 1
    assert second.stderr.count("\n") == 1
    assert f"pid {first.pid}" in second.stderr
    alias = tmp_path / "alias.db"  # the same file under another name meets the same lock
    alias.symlink_to(db)
    third_name = subprocess.run(
        [*COLLECTOR, "--db", str(alias)], env=base_env, capture_output=True, text=True, timeout=20
    )
    assert third_name.returncode == 1
    assert f"pid {first.pid}" in third_name.stderr
    wait_for(lambda: samples(db), 10, "a first sample")
    first.proc.kill()
    first.proc.wait(5)
    third, _ = start(spawn, base_env, "--db", str(db), "--interval", "0.2")
    count = len(samples(db))
    wait_for(lambda: len(samples(db)) > count + 2, 10, "samples from the restarted collector")
    assert third.stop() == 0


def test_a_lock_held_long_by_another_program_is_named_as_such_not_as_a_dead_collector(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    db = tmp_path / "c.db"
    first, _ = start(spawn, base_env, "--db", str(db), "--interval", "0.2")
    assert first.stop() == 0  # its pid stays in the lock file
    fd = os.open(lock_path(db), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # held, not released at once
        second = subprocess.run(
            [*COLLECTOR, "--db", str(db)], env=base_env, capture_output=True, text=True, timeout=20
        )
    finally:
        os.close(fd)
    assert second.returncode == 1 and second.stderr.count("\n") == 1
    assert f"another program holds the lock {lock_path(db)}" in second.stderr
    assert f"pid {first.pid}, has exited" in second.stderr


def test_a_test_of_the_lock_by_another_program_never_makes_a_starting_collector_fail(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    """A viewer tests the lock with a shared flock held for an instant; here it is held for
    0.4 s, and the collector, retrying for up to a second, starts all the same."""
    db = tmp_path / "c.db"
    fd = os.open(lock_path(db), os.O_RDWR | os.O_CREAT, 0o640)
    fcntl.flock(fd, fcntl.LOCK_SH)
    release = threading.Timer(0.4, os.close, (fd,))
    release.start()
    child, _ = start(spawn, base_env, "--db", str(db), "--interval", "0.2")
    release.join()
    wait_for(lambda: samples(db), 10, "a first sample")
    assert child.stop() == 0


@pytest.mark.parametrize(
    "flags",
    [
        ["--interval", "0"],
        ["--interval", "-1"],
        ["--interval", "nan"],
        ["--interval", "0.05"],
        ["--interval", "3601"],
        ["--retention-days", "-1"],
        ["--retention-days", "1.5"],
        ["--bogus"],
    ],
)
def test_bad_usage_exits_2(tmp_path: Path, base_env: dict[str, str], flags: list[str]) -> None:
    result = subprocess.run(
        [*COLLECTOR, "--db", str(tmp_path / "c.db"), *flags],
        env=base_env,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert (
        result.stderr.startswith("cpuload-collector: error: ") and result.stderr.count("\n") == 1
    )
    assert not (tmp_path / "c.db").exists()


def not_sqlite(path: Path) -> None:
    path.write_bytes(b"my notes, not a database\n" * 50)


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: p.mkdir(), "is a directory"),
        (not_sqlite, "not an SQLite database"),
        (newer, "upgrade cpuload"),
        (lambda p: None, "does not exist"),
    ],
    ids=["directory", "not-sqlite", "newer-schema", "missing-directory"],
)
def test_a_bad_db_exits_1_with_one_line_and_leaves_the_file_alone(
    tmp_path: Path, base_env: dict[str, str], make: Callable[[Path], None], says: str
) -> None:
    db = tmp_path / "x.db" if says != "does not exist" else tmp_path / "nowhere" / "x.db"
    make(db)
    before = hashlib.sha256(db.read_bytes()).hexdigest() if db.is_file() else None
    result = subprocess.run(
        [*COLLECTOR, "--db", str(db)], env=base_env, capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and says in result.stderr, result.stderr
    assert result.stderr.startswith("cpuload-collector: error: ")
    if before:
        assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_the_default_path_is_created_group_readable(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    env = {**base_env, "CPULOAD_INTERVAL": "0.2"}
    child, line = start(spawn, env)
    db = tmp_path / "xdg-state" / "cpuload" / "cpuload.db"
    assert line.group(1) == str(db) and line.group(2) == "0.2"
    assert stat.S_IMODE(db.parent.stat().st_mode) & 0o7027 == 0  # 0750 or tighter by umask
    assert stat.S_IMODE(db.stat().st_mode) & 0o7137 == 0  # 0640 or tighter
    assert child.stop() == 0


READ_AS_OTHER = (
    "import sqlite3, sys\n"
    "c = sqlite3.connect(f'file:{sys.argv[1]}?mode=ro', uri=True)\n"
    "print(c.execute('SELECT count(*) FROM samples').fetchone()[0])\n"
)


def test_a_reader_without_write_access_can_read_while_running_after_stop_and_after_kill(
    spawn: Spawn, base_env: dict[str, str]
) -> None:
    require_root()
    setpriv = require_tool("setpriv")
    python = "/usr/bin/python3"  # one that any user may run (a pyenv shim under /root is not)
    require(os.access(python, os.X_OK), f"needs {python} for the unprivileged reader")
    where = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's tmp_path is private to root
    try:
        os.chmod(where, 0o755)
        db = where / "c.db"

        def read() -> int:
            as_nobody = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
            out = subprocess.run(
                [*as_nobody, python, "-c", READ_AS_OTHER, str(db)],
                capture_output=True,
                text=True,
                timeout=20,
            )
            assert out.returncode == 0, out.stderr
            return int(out.stdout)

        child, _ = start(spawn, base_env, "--db", str(db), "--interval", "0.2")
        wait_for(lambda: samples(db), 10, "a first sample")
        for path in where.glob("c.db*"):  # the group a viewer would be in
            os.chown(path, 0, grp.getgrnam("nogroup").gr_gid)
        assert read() >= 1  # while running
        child.proc.kill()
        child.proc.wait(5)
        assert read() >= 1  # after SIGKILL: the -wal and -shm are still there
        child, _ = start(spawn, base_env, "--db", str(db), "--interval", "0.2")
        count = len(samples(db))
        wait_for(lambda: len(samples(db)) > count, 10, "a new sample")
        assert child.stop() == 0
        assert read() == len(samples(db))  # after a clean stop: no -wal/-shm at all
    finally:
        shutil.rmtree(where)


def consecutive(stamps: list[float], interval: float) -> bool:
    ks = [round(ts / interval) for ts in stamps]
    return ks == list(range(ks[0], ks[0] + len(ks)))


def pauses(db: Path) -> list[tuple[float, float, str]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT start, stop, kind FROM pauses ORDER BY start").fetchall()
    conn.close()
    return rows


def unexplained_breaks(
    stamps: list[float], interval: float, recorded: list[tuple[float, float, str]]
) -> list[tuple[float, float]]:
    """Missing ticks between two samples a < b that no recorded pause explains.

    A pause runs from the last reading before it (at or just after a) to the prime that ended
    it (before b), so it lies within (a, b).
    """
    breaks = [(a, b) for a, b in itertools.pairwise(stamps) if round((b - a) / interval) > 1]
    return [(a, b) for a, b in breaks if not any(a <= s and t <= b for s, t, _ in recorded)]


def test_a_locked_database_loses_no_sample_and_is_logged_once(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    db = tmp_path / "c.db"
    child, _ = start(spawn, base_env, "--db", str(db), "--interval", "0.2")
    wait_for(lambda: len(samples(db)) >= 2, 10, "two samples")
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # a person holding the write lock in the sqlite3 shell
    time.sleep(1.5)
    child.check_alive()
    other.execute("ROLLBACK")
    other.close()
    held = len(samples(db))
    wait_for(lambda: len(samples(db)) > held + 5, 10, "the waiting samples and new ones")
    assert child.stop() == 0
    stamps = [ts for ts, _ in samples(db)]
    out = child.log.read_text()
    # All of them, in order: every tick is there, except where the collector itself recorded
    # a pause (this machine may starve it for more than two intervals), none for the lock.
    assert unexplained_breaks(stamps, 0.2, pauses(db)) == [], out
    assert out.count("cannot write") == 1 and "database is locked" in out
    assert out.count("writing works again") == 1


def test_a_stopped_collector_leaves_a_gap_not_a_burst(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    db = tmp_path / "c.db"
    child, _ = start(spawn, base_env, "--db", str(db), "--interval", "0.2")
    wait_for(lambda: len(samples(db)) >= 2, 10, "two samples")
    child.proc.send_signal(signal.SIGSTOP)  # what a stall or a suspend looks like from inside
    time.sleep(1.5)
    child.proc.send_signal(signal.SIGCONT)
    count = len(samples(db))
    wait_for(lambda: len(samples(db)) > count + 3, 10, "samples after the stall")
    assert child.stop() == 0
    stamps = [ts for ts, _ in samples(db)]
    steps = [b - a for a, b in itertools.pairwise(stamps)]
    assert max(steps) > 1.2  # the stall is a gap ...
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        gaps = conn.execute('SELECT start, "end" FROM gaps').fetchall()
    conn.close()
    assert max(end - start for start, end in gaps) == max(steps)  # ... and the view says so
    assert "stall" in child.log.read_text()
    # ... and the collector recorded why: a stall (SIGSTOP is no suspend), inside that gap.
    gap = next((a, b) for a, b in itertools.pairwise(stamps) if b - a == max(steps))
    assert [k for s, t, k in pauses(db) if gap[0] <= s and t <= gap[1]] == ["stall"]
