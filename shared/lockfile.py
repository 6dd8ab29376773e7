"""The collector's lock file, `<db>.lock`: where it is, and whether a collector holds it now."""

import fcntl
import os
from pathlib import Path


def lock_path(db: Path) -> Path:
    """`<db>.lock` beside the database's real path, so a symlink alias meets the same lock."""
    real = Path(os.path.realpath(db))
    return real.with_name(real.name + ".lock")


def collector_holds(db: Path) -> bool:
    """True while a collector holds the database's lock; False when none does.

    A non-blocking shared lock, released at once: it needs only read access to the lock file,
    never creates it, and a starting collector retries its own lock for a second, so this test
    never makes it fail. No lock file (no collector ever ran here) or one this user may not open
    counts as no holder.
    """
    try:
        fd = os.open(lock_path(db), os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing drops a lock we took
    return False
