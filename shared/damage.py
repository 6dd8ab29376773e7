"""Whether a database file is damaged: the one check both programs make, never writing.

The collector makes it before it writes a file (collector/filecheck.py); the viewer makes it
for /healthz when samples stopped coming and no collector holds the file (viewer/app.py).
"""

import contextlib
import sqlite3
from pathlib import Path

RESTORE = "restore it from a backup, or move it away to start a new history"


def damage(exc: sqlite3.Error) -> bool:
    """True for SQLite's words for a damaged file (as opposed to a full disk or a lock)."""
    name = getattr(exc, "sqlite_errorname", "")
    return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in str(exc)


def cut_short(path: Path) -> str | None:
    """Why the file does not hold exactly the pages its header states, or None if it does.

    quick_check says ok for a file cut where its last pages were free, so the size is
    compared too. After a SIGKILL the newest pages may live only in the -wal: then the file
    may be shorter (or longer) than the database, legitimately.
    """
    geometry = _geometry(path)
    if geometry is None:  # not SQLite, or too old to say: the schema check tells
        return None
    pages, page_size = geometry
    wal = Path(f"{path}-wal")
    with contextlib.suppress(OSError):
        if wal.stat().st_size > 0:
            return None
    size = path.stat().st_size
    if size == pages * page_size:
        return None
    return (
        f"{path} is damaged: {size} bytes where its {pages} pages of {page_size} bytes"
        f" make {pages * page_size} (cut short?)"
    )


def quick_check(conn: sqlite3.Connection, path: Path) -> str | None:
    """SQLite's `PRAGMA quick_check(1)` verdict on the file if it is not ok, else None.

    sqlite3.OperationalError (locked, busy) is passed on: that is no verdict.
    """
    try:
        verdict = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    except sqlite3.OperationalError:
        raise
    except sqlite3.DatabaseError as exc:
        return f"{path} is damaged ({exc})"
    if verdict == "ok":
        return None
    said = " ".join(str(verdict).split())  # SQLite's verdict may span lines
    return f"{path} is damaged (quick_check: {said})"


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
