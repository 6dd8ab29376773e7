"""Refuse a damaged database before anything writes to it, and know damage met while writing."""

import contextlib
import os
import sqlite3
import urllib.parse
from pathlib import Path

from shared.schema import SchemaError, read_version

RESTORE = "restore it from a backup, or move it away to start a new history"


class Refused(Exception):
    """The file is not one the collector may write; the message says why and what to do."""


class Damaged(Exception):
    """Damage met while writing: the collector stops writing and exits 1, and its restart
    then refuses the file with the reason."""


def stop_on_damage(path: Path, exc: sqlite3.Error) -> None:
    """Raise Damaged if `exc` says the file is damaged; writing on could only make it worse."""
    if damage(exc):
        raise Damaged(f"{path} is damaged ({exc}); stopped writing; {RESTORE}") from None


def damage(exc: sqlite3.Error) -> bool:
    """True for SQLite's words for a damaged file (as opposed to a full disk or a lock)."""
    name = getattr(exc, "sqlite_errorname", "")
    return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in str(exc)


def inspect(path: Path) -> None:
    """Raise Refused for a file that is not a usable cpuload database; write nothing to it.

    On a read-only connection, so nothing (not even a close's checkpoint) changes the file;
    -wal and -shm files that this look creates beside a refused file are taken away again.
    """
    before = _sidecars(path)
    try:
        conn = sqlite3.connect(f"file:{urllib.parse.quote(str(path))}?mode=ro", uri=True)
    except sqlite3.Error:
        return  # cannot even open it read-only: the read-write open says why
    try:
        _check(conn, path)
    except Refused:
        conn.close()
        for extra in _sidecars(path) - before:
            with contextlib.suppress(OSError):
                extra.unlink()
        raise
    finally:
        conn.close()


def _check(conn: sqlite3.Connection, path: Path) -> None:
    try:
        geometry = _geometry(path)
        if geometry is not None:  # else not SQLite, or too old to say: read_version tells
            _whole(path, *geometry)
        read_version(conn)
        verdict = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    except SchemaError as exc:
        raise Refused(advice(path, str(exc))) from None
    except sqlite3.OperationalError:
        return  # locked or busy, not damaged: the read-write open deals with it
    except sqlite3.DatabaseError as exc:
        raise Refused(f"{path} is damaged ({exc}); {RESTORE}") from None
    if verdict != "ok":
        said = " ".join(str(verdict).split())  # SQLite's verdict may span lines
        raise Refused(f"{path} is damaged (quick_check: {said}); {RESTORE}")


def _geometry(path: Path) -> tuple[int, int] | None:
    """Page count and page size as the file's header states them, or None if it does not.

    Read from the bytes: SQLite's own PRAGMA page_count needs the schema, and a file cut
    short often has lost that, which would hide the plainer reason.
    """
    with path.open("rb") as f:
        head = f.read(100)
    if len(head) < 100 or not head.startswith(b"SQLite format 3\0"):
        return None
    size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if size == 1 else size
    # The stated page count is valid only while "version-valid-for" matches the change
    # counter (files written by SQLite 3.7.0 and later).
    if head[92:96] != head[24:28]:
        return None
    return int.from_bytes(head[28:32], "big"), page_size


def _whole(path: Path, pages: int, page_size: int) -> None:
    """The file holds exactly its pages, unless a WAL holds some of them.

    quick_check says ok for a file cut where its last pages were free, so the size is
    compared too. After a SIGKILL the newest pages may live only in the -wal: then the file
    may be shorter (or longer) than the database, legitimately.
    """
    wal = Path(f"{path}-wal")
    with contextlib.suppress(OSError):
        if wal.stat().st_size > 0:
            return
    size = path.stat().st_size
    if size != pages * page_size:
        raise Refused(
            f"{path} is damaged: {size} bytes where its {pages} pages of {page_size} bytes"
            f" make {pages * page_size} (cut short?); {RESTORE}"
        )


def advice(path: Path, reason: str) -> str:
    """One piece of advice per case: a newer schema needs a newer cpuload, not another file."""
    if reason.endswith("upgrade cpuload"):
        return f"{path}: {reason}"
    return f"{path}: {reason}; give --db another file"


def _sidecars(path: Path) -> set[Path]:
    return {p for p in (Path(f"{path}-wal"), Path(f"{path}-shm")) if os.path.lexists(p)}
