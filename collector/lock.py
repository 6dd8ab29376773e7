"""One collector per database: an flock on `<db>.lock`, with the holder's pid inside."""

import fcntl
import os
import time
from pathlib import Path

from shared.lockfile import lock_path

PATIENCE, RETRY = 1.0, 0.02


class LockError(Exception):
    """Another collector holds the lock, or the lock file cannot be made."""


def acquire(db: Path) -> int:
    """Lock `<db>.lock` and return its descriptor, kept open (and locked) until exit.

    flock, not fcntl on the DB file (that fights SQLite's own locks); the kernel drops it when
    the holder dies, even by SIGKILL, so a stale lock never blocks. The file is never deleted:
    unlinking a lock file lets two processes lock two different files of the same name.
    """
    path = lock_path(db)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    except OSError as exc:
        raise LockError(
            f"cannot create the lock file {path}: {exc.strerror};"
            " make the directory writable for this user or give another --db"
        ) from None
    if not _lock(fd):
        holder = _read_pid(fd)
        os.close(fd)
        if holder.isdigit() and not _alive(int(holder)):
            raise LockError(
                f"another program holds the lock {path} (the collector that last wrote it,"
                f" pid {holder}, has exited); end that program or give this one another --db"
            )
        raise LockError(
            f"another cpuload-collector (pid {holder}) is already writing {db};"
            " stop it first or give this one another --db"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _lock(fd: int, patience: float = PATIENCE) -> bool:
    """Take the lock, trying for up to `patience` seconds: a viewer tests it with a shared
    lock held for an instant, and that must never make a starting collector fail."""
    deadline = time.monotonic() + patience
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
        time.sleep(RETRY)


def _alive(pid: int) -> bool:
    """Whether a process with this pid exists (one of another user's counts too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(fd: int) -> str:
    """The holder's pid; it writes it just after locking, so give it a moment, then say so."""
    for _ in range(50):
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return text
        time.sleep(0.01)
    return "unknown"
