"""What cpuload costs a host with nobody looking: the collector at 5 s and an idle viewer,
measured directly over minutes, beside sysstat's C collector sadc at the same interval.

Also the bytes an open live page transfers in an hour: that figure comes from the browser
test (tests/test_browser.py measures a real Chromium on the real viewer for a minute and
writes tests/artifacts/live-page-bytes.json); this section copies it, saying so.
"""

import json
import shutil
import time
from pathlib import Path

from bench.children import Child, ChildError, clean_env, program
from bench.procstat import run_cpu_seconds
from bench.stats import Row, Target, error_row, single

SECTION = "idle"
INTERVAL = 5
SADC = ("/usr/lib/sysstat/sadc", "/usr/lib64/sa/sadc", "/usr/libexec/sysstat/sadc")
STACK_TARGET = 0.5  # CPU-seconds an hour, both programs together
BYTES_TARGET = 10_000_000
ARTIFACT = Path(__file__).resolve().parent.parent / "tests" / "artifacts" / "live-page-bytes.json"


def sadc_path() -> str | None:
    return next((p for p in SADC if Path(p).exists()), shutil.which("sadc"))


def measure(work: Path, seconds: float) -> list[Row]:
    """Start all three, let them settle, then read their CPU time over `seconds`."""
    sadc = sadc_path()
    if sadc is None:
        return [error_row(SECTION, "stack at 5 s", "CPU-s/h", "no sadc (apt-get install sysstat)")]
    db = work / "idle.db"
    env = clean_env(work / "state-idle")
    children = {
        "collector": Child(
            [*program("cpuload-collector"), "--db", str(db), "--interval", str(INTERVAL)],
            work / "idle-collector.log",
            env,
        ),
        "viewer": Child(
            [*program("cpuload-viewer"), "--db", str(db), "--port", "0"],
            work / "idle-viewer.log",
            env,
        ),
        "sadc": Child([sadc, str(INTERVAL), str(work / "sa.bin")], work / "sadc.log", env),
    }
    try:
        children["collector"].wait_line(r"cpuload-collector: writing ")
        children["viewer"].wait_line(r"cpuload-viewer: serving ")
        time.sleep(min(2 * INTERVAL, seconds))  # past the first samples and start-up work
        before = {name: run_cpu_seconds(c.pid) for name, c in children.items()}
        time.sleep(seconds)
        for c in children.values():
            c.check_alive()
        used = {name: run_cpu_seconds(c.pid) - before[name] for name, c in children.items()}
    except (ChildError, OSError) as exc:
        return [error_row(SECTION, "stack at 5 s", "CPU-s/h", f"{type(exc).__name__}: {exc}")]
    finally:
        for c in children.values():
            c.stop()
    return rows(used, seconds)


def rows(used: dict[str, float], seconds: float) -> list[Row]:
    per_hour = {name: cpu * 3600 / seconds for name, cpu in used.items()}
    stack = per_hour["collector"] + per_hour["viewer"]
    note = f"CPU time from /proc/PID/task/*/schedstat over {seconds:g} s, all three side by side"
    sadc_label = "sysstat's sadc (C) sampling every 5 s beside it, in the same minutes"
    return [
        Row(SECTION, "collector at 5 s", "CPU-s/h", single(per_hour["collector"]), note=note),
        Row(SECTION, "viewer, idle", "CPU-s/h", single(per_hour["viewer"])),
        Row(SECTION, "sadc at 5 s", "CPU-s/h", single(per_hour["sadc"])),
        Row(
            SECTION,
            "collector + viewer at 5 s, against sadc",
            "CPU-s/h",
            single(stack),
            per_hour["sadc"],
            sadc_label,
            Target(1.0, "ratio"),
        ),
        Row(SECTION, "collector + viewer at 5 s", "CPU-s/h", single(stack), target=Target(0.5)),
    ]


def page_bytes_row() -> Row:
    """The browser test's figure, copied: an open live 1 h page at 5 s, bytes in an hour."""
    figure = "live 1 h page at 5 s, bytes an hour"
    try:
        found = json.loads(ARTIFACT.read_text())
    except (OSError, ValueError):
        why = "run tests/test_browser.py first: it measures this and writes " + str(ARTIFACT)
        return error_row(SECTION, figure, "MB", why)
    note = (
        f"copied from tests/test_browser.py: {found['requests']} requests in"
        f" {found['seconds']:.0f} s of a real Chromium on the real viewer, x 3600 / seconds;"
        " headers included, 304s included"
    )
    value = single(found["bytes_per_hour"] / 1e6)
    return Row(SECTION, figure, "MB", value, target=Target(BYTES_TARGET / 1e6), note=note)
