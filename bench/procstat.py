"""A child's CPU time and resident memory, read from /proc."""

import os
from pathlib import Path

TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def stat_cpu_seconds(pid: int) -> float:
    """utime + stime from /proc/PID/stat, in seconds (clock-tick resolution, 10 ms here)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name may hold spaces or ')': split after its last ')'.
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) * TICK_S


def run_cpu_seconds(pid: int) -> float:
    """CPU time of all the process's threads from schedstat, in seconds at ns resolution.

    The kernel derives utime + stime from this same runtime, then rounds to clock ticks;
    per-window figures of a fraction of a millisecond need the unrounded value.
    """
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            continue  # a thread that ended between listing and reading
    return total / 1e9 if total else stat_cpu_seconds(pid)


def rss_mb(pid: int) -> float:
    """VmRSS from /proc/PID/status, in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no VmRSS for pid {pid}")
