"""Opens the database for writing: refusal checks first, then schema, WAL, inserts, pruning."""

import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from collector.filecheck import Refused, advice, inspect
from shared.schema import SchemaError, migrate

# Long enough at start and stop to outwait a viewer's short read; short while running, so a
# locked database delays a tick by a fraction of it rather than stalling the loop.
OPEN_BUSY_MS = 2000
CLOSE_BUSY_MS = 500
# At a clean stop the switch back to rollback mode is tried for up to a second.
REST_PATIENCE, REST_TRY_MS = 1.0, 50
# The WAL is folded back into the file after WAL_PAGES pages (SQLite's default, 1000, lets it
# reach 4 MB) and trimmed to WAL_LIMIT bytes after a reset, should a long reader have let it
# grow. With less than LOW_SPACE free on the file system it is folded back after every commit:
# otherwise the WAL takes the last free pages and a checkpoint, which must grow the file by a
# page now and then, can no longer run (measured on a 200 kB tmpfs: docs/NOTES-collector.md).
WAL_PAGES, TIGHT_PAGES = 100, 1
WAL_LIMIT = 512 * 1024
LOW_SPACE = 4 * 1024 * 1024
log = logging.getLogger("collector")


class StoreError(Exception):
    """The database cannot be used at all; the message says why and what to do."""


def busy_ms(interval: float) -> int:
    """The busy timeout while running: a quarter of the interval, 10 ms to 1 s."""
    return max(10, min(1000, int(interval * 250)))


class Store:
    """One read-write connection in autocommit mode; every write is one explicit transaction."""

    def __init__(self, conn: sqlite3.Connection, path: Path, low_space: int = LOW_SPACE) -> None:
        self.conn = conn
        self.path = path
        self.low_space = low_space
        self.wal_pages = WAL_PAGES

    @classmethod
    def open(cls, path: Path, busy_timeout_ms: int, low_space: int = LOW_SPACE) -> "Store":
        """Check the file (never writing to a refused one), migrate it, switch to WAL."""
        if path.is_dir():
            raise StoreError(f"{path} is a directory; give --db the path of a file")
        if not _create(path):
            try:
                inspect(path)
            except Refused as exc:
                raise StoreError(str(exc)) from None
        conn = sqlite3.connect(path, isolation_level=None, timeout=OPEN_BUSY_MS / 1000)
        try:
            migrate(conn)  # reads the version first and writes nothing to a refused file
            _pragma(conn, "journal_mode = WAL")
            _pragma(conn, "synchronous = NORMAL")
            _pragma(conn, f"busy_timeout = {busy_timeout_ms}")
            _pragma(conn, f"wal_autocheckpoint = {WAL_PAGES}")
            _pragma(conn, f"journal_size_limit = {WAL_LIMIT}")
        except SchemaError as exc:
            conn.close()
            raise StoreError(advice(path, str(exc))) from None
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(_open_failure(path, exc)) from None
        return cls(conn, path, low_space)

    def begin_run(self, started: float, interval: float, pid: int, version: str) -> int:
        """Record this run; the viewer and gap rules read the interval from here."""
        cur = self.conn.execute(
            "INSERT INTO runs (started, interval, pid, version) VALUES (?, ?, ?, ?)",
            (started, interval, pid, version),
        )
        return int(cur.lastrowid or 0)

    def end_run(self, run_id: int, stopped: float) -> None:
        self.conn.execute("UPDATE runs SET stopped = ? WHERE id = ?", (stopped, run_id))

    def insert(self, rows: Sequence[tuple[float, float]]) -> list[float]:
        """Write rows in one transaction, never replacing one; return the stamps that collided."""
        collided: list[float] = []
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for ts, cpu in rows:
                cur = self.conn.execute(
                    "INSERT OR IGNORE INTO samples (ts, cpu) VALUES (?, ?)", (ts, cpu)
                )
                if cur.rowcount == 0:
                    collided.append(ts)
            self.conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return collided

    def checkpoint(self) -> bool:
        """Fold the WAL back into the file and truncate it, to make room; True if it did.

        The WAL may be what filled the disk: this gives its pages back. It fails when the file
        must grow and no page is free, or waits up to the busy timeout for a reader.
        """
        try:
            busy = _pragma(self.conn, "wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            log.debug("checkpoint failed: %s", exc)
            return False
        return busy == 0

    def fit_wal(self) -> None:
        """Fold the WAL back after every commit while the file system is nearly full."""
        try:
            st = os.statvfs(self.path.parent)
        except OSError:
            return  # not knowing the free space is no reason to stop writing
        free = st.f_bavail * st.f_frsize
        want = self.wal_pages
        if free < self.low_space:
            want = TIGHT_PAGES
        elif free > 2 * self.low_space:  # apart, so a file system near the mark does not flap
            want = WAL_PAGES
        if want == self.wal_pages:
            return
        with contextlib.suppress(sqlite3.Error):  # a setting that touches no file
            _pragma(self.conn, f"wal_autocheckpoint = {want}")
        self.wal_pages = want
        if want == TIGHT_PAGES:
            log.info(
                "%d kB free beside %s: folding the WAL back after every write",
                free // 1024,
                self.path,
            )

    def prune(self, before: float, limit: int) -> int:
        """Delete up to `limit` of the oldest samples stamped before `before`; return how many."""
        cur = self.conn.execute(
            "DELETE FROM samples WHERE ts IN"
            " (SELECT ts FROM samples WHERE ts < ? ORDER BY ts LIMIT ?)",
            (before, limit),
        )
        return cur.rowcount

    def vacuum(self) -> None:
        """Give free pages back to the file system.

        executescript() steps the pragma to its end; execute() stops after one step, which
        frees one page (measured with Python 3.11 and SQLite 3.40).
        """
        self.conn.executescript("PRAGMA incremental_vacuum")

    def close(self) -> None:
        """Fold the WAL into the file and rest in rollback mode, so no -wal/-shm is left.

        A read-only viewer in a directory it cannot write can open a rollback-mode file, but
        not a WAL file whose -shm is gone. The switch needs every other connection closed: a
        reader that holds the file open (a sqlite3 shell, a backup) blocks it, so it is tried
        for up to REST_PATIENCE s and a warning says when it could not be done.
        """
        try:
            _pragma(self.conn, f"busy_timeout = {CLOSE_BUSY_MS}")
            self.checkpoint()
            if not self._rest():
                log.warning(
                    "another program (a sqlite3 shell, a backup?) holds %s open, so it stays in"
                    " WAL mode with its -wal and -shm files; nothing is lost",
                    self.path,
                )
        finally:
            self.conn.close()

    def _rest(self) -> bool:
        """Switch to rollback mode, trying again while another connection is open."""
        _pragma(self.conn, f"busy_timeout = {REST_TRY_MS}")
        deadline = time.monotonic() + REST_PATIENCE
        while True:
            try:
                if _pragma(self.conn, "journal_mode = DELETE") == "delete":
                    return True
            except sqlite3.OperationalError as exc:  # busy or locked: someone has it open
                log.debug("the switch to rollback mode waits: %s", exc)
            if time.monotonic() >= deadline:
                return False
            time.sleep(REST_TRY_MS / 1000)

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")


def _open_failure(path: Path, exc: sqlite3.Error) -> str:
    """Say what to do about a file that exists but cannot be opened for writing."""
    text = str(exc)
    if "locked" in text:
        return (
            f"{path} is locked by another program ({text}); end its transaction (an open"
            " sqlite3 shell?) and start again"
        )
    if "readonly" in text or "read-only" in text:
        return f"cannot write {path} ({text}); give the collector's user write access to it"
    return f"cannot open {path} ({text}); check the file, its directory and the disk"


def _create(path: Path) -> bool:
    """Create a missing file 0640 whatever the umask, so the viewer's group can read it; True
    when the file is new or empty (nothing to check).

    SQLite gives -wal and -shm the database file's mode, so they follow.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    except FileExistsError:
        return path.stat().st_size == 0
    except OSError as exc:
        raise StoreError(f"cannot create {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o640)
    finally:
        os.close(fd)
    return True


def _pragma(conn: sqlite3.Connection, text: str) -> object:
    row = conn.execute(f"PRAGMA {text}").fetchone()
    return row[0] if row else None
