"""What the figures were measured on: CPU model, cores, load, software versions."""

import os
import platform
import sqlite3
from importlib.metadata import PackageNotFoundError, version


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ('unknown' where the kernel does not say)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe() -> dict[str, str | int | float]:
    """One dict for the first line of the table and the JSON."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 0,
        "usable_cores": len(os.sched_getaffinity(0)),
        "loadavg_1min": os.getloadavg()[0],
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "pygal": _version("pygal"),
        "waitress": _version("waitress"),
    }


def first_line(machine: dict[str, str | int | float]) -> str:
    return (
        f"machine: {machine['cpu']}, {machine['cores']} cores ({machine['usable_cores']} usable),"
        f" load average {machine['loadavg_1min']:.2f} at start;"
        f" Python {machine['python']}, SQLite {machine['sqlite']}, pygal {machine['pygal']}"
    )


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "absent"
