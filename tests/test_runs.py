"""What each run records about its host: the boot id and boot time, and its clean stop.

A reboot is made for real enough: the second run starts in a private mount namespace where
another boot id is bind-mounted over /proc/sys/kernel/random/boot_id (root only).
"""

import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path

import psutil

from tests.conftest import Child, require_root, require_tool, wait_for
from tests.test_collector_process import COLLECTOR, STARTUP, samples, start

Spawn = Callable[..., Child]
BOOT_ID = "/proc/sys/kernel/random/boot_id"
# Runs "$@" with the file $1 mounted over the kernel's boot id, in this namespace only.
AS_IF_REBOOTED = 'f=$1; shift; mount --bind "$f" ' + BOOT_ID + ' && exec "$@"'


def after_a_reboot(fake_id_file: Path, argv: list[str]) -> list[str]:
    """`argv` as if the host had rebooted: another boot id, seen by that process alone."""
    unshare = require_tool("unshare")
    return [unshare, "--mount", "--", "sh", "-c", AS_IF_REBOOTED, "sh", str(fake_id_file), *argv]


def started(child: Child) -> bool:
    child.check_alive()
    return bool(STARTUP.search(child.output()))


def runs(db: Path) -> list[tuple[str | None, float | None, float | None]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT boot_id, booted, stopped FROM runs ORDER BY id").fetchall()
    conn.close()
    return rows


def test_each_run_records_its_boot_and_a_reboot_changes_the_boot_id(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    require_root()
    db = tmp_path / "c.db"
    first, _ = start(spawn, base_env, "--db", str(db), "--interval", "0.2")
    wait_for(lambda: samples(db), 10, "a sample")
    assert first.stop() == 0
    fake = tmp_path / "boot_id"
    other = str(uuid.uuid4())
    fake.write_text(other + "\n")
    argv = after_a_reboot(fake, [*COLLECTOR, "--db", str(db), "--interval", "0.2"])
    second = spawn(argv, env=base_env, name="rebooted")
    wait_for(lambda: started(second), 15, "the start after the 'reboot'")
    count = len(samples(db))
    wait_for(lambda: len(samples(db)) > count, 10, "a sample after the 'reboot'")
    second.stop(timeout=10)
    (real_id, booted, stopped), (fake_id, booted_again, stopped_again) = runs(db)
    assert real_id == Path(BOOT_ID).read_text().strip() and fake_id == other
    assert booted == booted_again and abs(booted - psutil.boot_time()) < 1  # type: ignore[operator]
    assert stopped is not None and stopped_again is not None  # both stopped cleanly
