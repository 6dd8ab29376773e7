"""The WAL: how often it is folded back, making room with it on a full disk, and resting
without it (rollback mode) after a clean stop."""

import contextlib
import logging
import math
import os
import sqlite3
import time
from pathlib import Path

# The WAL is folded back into the file after WAL_PAGES pages (SQLite's default, 1000, lets it
# reach 4 MB) and trimmed to WAL_LIMIT bytes after a reset, should a long reader have let it
# grow. With less than LOW_SPACE free on the file system it is folded back after every commit:
# otherwise the WAL takes the last free pages and a checkpoint, which must grow the file by a
# page now and then, can no longer run (found on a 200 kB tmpfs: docs/collector.md).
WAL_PAGES, TIGHT_PAGES = 100, 1
WAL_LIMIT = 512 * 1024
LOW_SPACE = 4 * 1024 * 1024
# The free space is looked at the first write and then no more often than this: a look is a
# statvfs and its Python, a tenth of an idle tick's cost at 5 s. The first look finds a small
# disk at once; a disk that others fill later is met by the checkpoint a failed write makes,
# and meanwhile the WAL never grows past wal_autocheckpoint (100 pages) anyway.
SPACE_EVERY = 30.0
# At a clean stop the switch back to rollback mode is tried for up to a second.
REST_PATIENCE, REST_TRY_MS = 1.0, 50
log = logging.getLogger("collector")


def wal_settings(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_PAGES}").fetchone()
    conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT}").fetchone()


class Wal:
    """The WAL of one read-write connection."""

    def __init__(self, conn: sqlite3.Connection, path: Path, low_space: int = LOW_SPACE) -> None:
        self.conn, self.path, self.low_space = conn, path, low_space
        self.pages = WAL_PAGES
        self.next_look = -math.inf  # monotonic time of the next look at the free space

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

    def fit(self) -> None:
        """Fold the WAL back after every commit while the file system is nearly full."""
        now = time.monotonic()
        if now < self.next_look:
            return
        self.next_look = now + SPACE_EVERY
        try:
            st = os.statvfs(self.path.parent)
        except OSError:
            return  # not knowing the free space is no reason to stop writing
        free = st.f_bavail * st.f_frsize
        want = self.pages
        if free < self.low_space:
            want = TIGHT_PAGES
        elif free > 2 * self.low_space:  # apart, so a file system near the mark does not flap
            want = WAL_PAGES
        if want == self.pages:
            return
        with contextlib.suppress(sqlite3.Error):  # a setting that touches no file
            _pragma(self.conn, f"wal_autocheckpoint = {want}")
        self.pages = want
        if want == TIGHT_PAGES:
            log.info(
                "%d kB free beside %s: folding the WAL back after every write",
                free // 1024,
                self.path,
            )

    def close(self) -> None:
        """Fold the WAL into the file and rest in rollback mode, so no -wal/-shm is left.

        A read-only viewer in a directory it cannot write can open a rollback-mode file, but
        not a WAL file whose -shm is gone. The switch needs every other connection closed: a
        reader that holds the file open (a sqlite3 shell, a backup) blocks it, so it is tried
        for up to REST_PATIENCE s and a warning says when it could not be done.
        """
        self.checkpoint()
        if not self._rest():
            log.warning(
                "another program (a sqlite3 shell, a backup?) holds %s open, so it stays in"
                " WAL mode with its -wal and -shm files; nothing is lost",
                self.path,
            )

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


def _pragma(conn: sqlite3.Connection, text: str) -> object:
    row = conn.execute(f"PRAGMA {text}").fetchone()
    return row[0] if row else None
