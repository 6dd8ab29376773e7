"""Opens the database for writing: refusal checks first, then schema, WAL, inserts, pruning."""

import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from collector.backlog import Row
from collector.filecheck import Refused, advice, inspect
from collector.pause import Pause
from collector.wal import LOW_SPACE, Wal, wal_settings
from shared.schema import MODE_COLUMNS, SchemaError, migrate

# Long enough at start and stop to outwait a viewer's short read; short while running, so a
# locked database delays a tick by a fraction of it rather than stalling the loop.
OPEN_BUSY_MS = 2000
CLOSE_BUSY_MS = 500
# The edit log is folded into one row covering all it held past this many rows (the viewer
# then reads again everything it had aggregated, once).
EDITS_KEPT = 1000
INSERT_SAMPLE = (
    f"INSERT OR IGNORE INTO samples (ts, cpu, {', '.join(MODE_COLUMNS)})"
    f" VALUES ({', '.join('?' * (2 + len(MODE_COLUMNS)))})"
)
log = logging.getLogger("collector")
INSERT_PAUSE = "INSERT INTO pauses (run, start, stop, kind, slept) VALUES (?, ?, ?, ?, ?)"


class RunInfo(NamedTuple):
    """A run's row in `runs`, in column order."""

    started: float
    interval: float
    pid: int
    version: str
    boot_id: str | None  # /proc/sys/kernel/random/boot_id; None where there is none
    booted: float | None  # the host's boot time, epoch seconds


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
        self.wal = Wal(conn, path, low_space)
        self.run_id = 0

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
            wal_settings(conn)
        except SchemaError as exc:
            conn.close()
            raise StoreError(advice(path, str(exc))) from None
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(_open_failure(path, exc)) from None
        return cls(conn, path, low_space)

    def begin_run(self, run: RunInfo) -> int:
        """Record this run; the viewer reads the interval, and a gap's cause, from here."""
        cur = self.conn.execute(
            "INSERT INTO runs (started, interval, pid, version, boot_id, booted)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            run,
        )
        self.run_id = int(cur.lastrowid or 0)
        return self.run_id

    def end_run(self, run_id: int, stopped: float) -> None:
        self.conn.execute("UPDATE runs SET stopped = ? WHERE id = ?", (stopped, run_id))

    def insert(self, rows: Sequence[Row], pauses: Sequence[Pause] = ()) -> list[float]:
        """Write pauses and rows (ts, cpu, modes...) in one transaction, never replacing a
        sample; return the stamps that collided."""
        collided: list[float] = []
        # One statement (every tick's case) commits on its own, without BEGIN and COMMIT.
        several = len(rows) + len(pauses) > 1
        with self._transaction() if several else contextlib.nullcontext():
            for p in pauses:
                self.conn.execute(INSERT_PAUSE, (self.run_id, *p))
            for row in rows:
                if self.conn.execute(INSERT_SAMPLE, row).rowcount == 0:
                    collided.append(float(row[0] or 0))
        return collided

    def compact_edits(self) -> int:
        """Fold the edit log into one row (all it covered, the highest seq) once it holds more
        than EDITS_KEPT rows; return how many rows it held then, else 0. The count is read
        first without the write lock: it is small almost always, and a lock costs a commit."""
        if self.conn.execute("SELECT count(*) FROM edits").fetchone()[0] <= EDITS_KEPT:
            return 0
        with self._transaction():
            count, low, high, seq = self.conn.execute(
                "SELECT count(*), min(low), max(high), max(seq) FROM edits"
            ).fetchone()
            if count > EDITS_KEPT:
                self.conn.execute("DELETE FROM edits")
                self.conn.execute(
                    "INSERT INTO edits (seq, low, high) VALUES (?, ?, ?)", (seq, low, high)
                )
        return int(count) if count > EDITS_KEPT else 0

    def checkpoint(self) -> bool:
        """Fold the WAL back into the file to make room (see collector.wal)."""
        return self.wal.checkpoint()

    def fit_wal(self) -> None:
        self.wal.fit()

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
        """Fold the WAL in and rest in rollback mode (see collector.wal.Wal.close)."""
        try:
            _pragma(self.conn, f"busy_timeout = {CLOSE_BUSY_MS}")
            self.wal.close()
        except sqlite3.Error as exc:  # the samples are written; only the file's rest failed
            log.warning("could not fold the WAL into %s at the stop: %s", self.path, exc)
        finally:
            self.conn.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE, then COMMIT, or a rollback on any error."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

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
