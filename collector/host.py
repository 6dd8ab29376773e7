"""What a run records about its host: which boot it runs in, and when that boot began."""

from pathlib import Path

import psutil

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_id(path: Path = BOOT_ID) -> str | None:
    """The kernel's random id of this boot; a new one after every reboot. None off Linux."""
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def booted() -> float | None:
    """The host's boot time in epoch seconds (psutil reads btime from /proc/stat)."""
    try:
        return float(psutil.boot_time())
    except (OSError, RuntimeError):
        return None
