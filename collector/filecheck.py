"""Refuse a damaged database before anything writes to it, and know damage met while writing."""

import contextlib
import os
import sqlite3
import urllib.parse
from pathlib import Path

from shared.damage import RESTORE, cut_short, damage, quick_check
from shared.schema import SchemaError, read_version


class Refused(Exception):
    """The file is not one the collector may write; the message says why and what to do."""


class Damaged(Exception):
    """Damage met while writing: the collector stops writing and exits 1, and its restart
    then refuses the file with the reason."""


def stop_on_damage(path: Path, exc: sqlite3.Error) -> None:
    """Raise Damaged if `exc` says the file is damaged; writing on could only make it worse."""
    if damage(exc):
        raise Damaged(f"{path} is damaged ({exc}); stopped writing; {RESTORE}") from None


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
        reason = cut_short(path)
        if reason is None:
            read_version(conn)
            reason = quick_check(conn, path)
    except SchemaError as exc:
        raise Refused(advice(path, str(exc))) from None
    except sqlite3.OperationalError:
        return  # locked or busy, not damaged: the read-write open deals with it
    except sqlite3.DatabaseError as exc:
        reason = f"{path} is damaged ({exc})"
    if reason is not None:
        raise Refused(f"{reason}; {RESTORE}")


def advice(path: Path, reason: str) -> str:
    """One piece of advice per case: a newer schema needs a newer cpuload, not another file."""
    if reason.endswith("upgrade cpuload"):
        return f"{path}: {reason}"
    return f"{path}: {reason}; give --db another file"


def _sidecars(path: Path) -> set[Path]:
    return {p for p in (Path(f"{path}-wal"), Path(f"{path}-shm")) if os.path.lexists(p)}
