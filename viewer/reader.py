"""Opening the collector's file read-only: one short-lived `mode=ro` connection per use."""

import os
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from shared.damage import RESTORE, cut_short, quick_check
from shared.lockfile import collector_holds
from shared.schema import SchemaError, read_version

T = TypeVar("T")
# A reader that opens while a collector starts or stops (the file switches between rollback
# and WAL mode, -wal/-shm come or go) cannot open it for a moment, above all with no write
# access: such a read is tried again, up to ATTEMPTS times within PATIENCE seconds.
ATTEMPTS, PATIENCE, PAUSE = 10, 0.5, 0.05


class Unavailable(Exception):
    """The file cannot be shown: `state` is "no-data" or "error"; the message says why.

    `transient`: the open or a read failed in a way that may pass (locked, cannot open now).
    """

    def __init__(self, state: str, reason: str, transient: bool = False) -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason
        self.transient = transient


def read(path: Path, use: Callable[[sqlite3.Connection], T], snapshot: bool = False) -> T:
    """`use(conn)` on a fresh read-only connection; tried again while it fails transiently."""
    deadline = time.monotonic() + PATIENCE
    attempt = 1
    while True:
        try:
            with open_ro(path, snapshot) as conn:
                return use(conn)
        except Unavailable as exc:
            if not exc.transient or attempt >= ATTEMPTS or time.monotonic() >= deadline:
                raise
        attempt += 1
        time.sleep(PAUSE)


@contextmanager
def open_ro(path: Path, snapshot: bool = False) -> Iterator[sqlite3.Connection]:
    """A read-only connection that never creates, migrates or writes the file.

    With `snapshot`, every query sees the same state of the file (one read transaction): a
    count and the rows it counts then agree while the collector writes, where otherwise the
    cell cache saw a mismatch and read the whole window again.
    """
    if not _exists(path):
        raise Unavailable("no-data", f"{path} does not exist yet; is cpuload-collector running?")
    conn, immutable = _connect(path)
    try:
        if snapshot:
            conn.execute("BEGIN")
        yield conn
        if immutable and collector_holds(path):
            # A collector started during the read and may have changed the file under it.
            raise Unavailable("error", f"cannot read {path}: a collector just started", True)
    except sqlite3.Error as exc:
        raise _failed(path, exc) from None
    except (ValueError, TypeError, OverflowError):
        # Only a hand-made row could do this, and every sample query skips such rows: an
        # unreadable file, not a 500; the value itself is not echoed (it may be markup).
        raise Unavailable(
            "error", f"{path} holds a value that is not a number; was it edited by hand?"
        ) from None
    finally:
        conn.close()


def _connect(path: Path) -> tuple[sqlite3.Connection, bool]:
    """A checked `mode=ro` connection, or an `immutable=1` one for a WAL file at rest.

    A WAL file whose -wal and -shm are gone (the last connection, say a sqlite3 shell, closed
    cleanly) cannot be opened `mode=ro` without write access to its directory: SQLite must
    create the -shm. With no -wal there is nothing newer than the file itself, and with no
    collector holding the lock nothing writes it, so reading it as immutable is exact; open_ro
    checks the lock again after the read. True in the pair means immutable.
    """
    try:
        return _open(path, "mode=ro"), False
    except sqlite3.Error as exc:
        if not _at_rest(path, exc):
            raise _failed(path, exc) from None
    try:
        return _open(path, "mode=ro&immutable=1"), True
    except sqlite3.Error as exc:
        raise _failed(path, exc) from None


def _open(path: Path, params: str) -> sqlite3.Connection:
    uri = f"file:{urllib.parse.quote(str(path.absolute()))}?{params}"
    # A short busy timeout: read() does the waiting, within PATIENCE, not SQLite.
    conn = sqlite3.connect(uri, uri=True, timeout=PAUSE, check_same_thread=False)
    try:
        _check(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _at_rest(path: Path, exc: sqlite3.Error) -> bool:
    """The file cannot be opened for want of its -shm (SQLite says CANTOPEN on a read-only
    mount, READONLY_DIRECTORY where only permissions forbid writing the directory), has no
    -wal and no hot -journal beside it, and no collector runs."""
    name = getattr(exc, "sqlite_errorname", "")
    if not name.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY_DIRECTORY")):
        return False
    beside = (f"{path}-wal", f"{path}-journal")
    return not any(os.path.lexists(p) for p in beside) and not collector_holds(path)


def state_of(path: Path) -> tuple[object, ...] | None:
    """The file's and its -wal's inode, size and mtime: any write changes it. None if the
    file is gone, or a -journal says a writer is in the middle of a change (no state to
    judge)."""
    if os.path.lexists(f"{path}-journal"):
        return None
    parts: list[object] = []
    for name in (str(path), f"{path}-wal"):
        try:
            st = os.stat(name)
        except FileNotFoundError:
            parts.append(None)
            continue
        except OSError:
            return None
        parts.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return None if parts[0] is None else tuple(parts)


def damage(conn: sqlite3.Connection, path: Path) -> str | None:
    """Why the file is damaged, with what to do, or None; the same check the collector makes
    before it writes (shared/damage.py). sqlite3.OperationalError (a lock) is passed on."""
    reason = cut_short(path) or quick_check(conn, path)
    return None if reason is None else f"{reason}; {RESTORE}"


def missing(path: Path) -> bool:
    """True only when the file surely is not there (not when its directory is closed to us)."""
    try:
        return not path.exists()
    except OSError:
        return False


def _exists(path: Path) -> bool:
    """Whether the file is there; a directory the viewer may not enter is an error, not a 500,
    and so is a directory given as the file."""
    try:
        there, directory = path.exists(), path.is_dir()
    except OSError as exc:
        raise Unavailable(
            "error",
            f"cannot look for {path}: {exc.strerror}; the viewer's user must be able to enter"
            " its directory (with the systemd units: be in group cpuload)",
        ) from None
    if directory:
        raise Unavailable(
            "error", f"{path} is a directory; give --db the path of the database file"
        )
    return there


def _check(conn: sqlite3.Connection, path: Path) -> None:
    # The first read is where a reader racing a journal-mode switch fails: an OperationalError
    # there is passed on as such (and tried again), whatever read_version would make of it.
    try:
        conn.execute("PRAGMA schema_version").fetchone()
    except sqlite3.OperationalError:
        raise
    except sqlite3.DatabaseError:
        pass  # not SQLite at all: read_version says so in its words
    try:
        version = read_version(conn)
    except SchemaError as exc:
        raise Unavailable("error", f"{path}: {exc}") from None
    if version == 0:
        raise Unavailable("no-data", f"{path} has no tables yet; is cpuload-collector running?")


def _failed(path: Path, exc: sqlite3.Error) -> Unavailable:
    if not isinstance(exc, sqlite3.OperationalError):
        return Unavailable("error", f"cannot read {path}: {exc}")
    return Unavailable("error", f"cannot read {path}: {exc}; {_hint(exc)}", transient=True)


def _hint(exc: sqlite3.OperationalError) -> str:
    name = getattr(exc, "sqlite_errorname", "")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return "retry, or is another program holding a write lock?"
    if name.startswith("SQLITE_CANTOPEN"):
        return "retry; if it persists, check that the viewer may read the file and its directory"
    return "retry; a collector starting or stopping changes the file for a moment"
