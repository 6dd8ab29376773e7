"""cpuload-export: a window of the database on stdout as CSV, JSON or OpenMetrics, read-only.

CSV and JSON are the bodies of /api/samples.csv and /api/samples for the same window, made
by the same functions (viewer/api.py); OpenMetrics is viewer/openmetrics.py's. Samples are
read in batches, each on a short read-only connection, and written as they come, so a year
never sits in memory and a slow reader of the output never holds the database.
"""

import functools
import os
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO, NamedTuple, TextIO, TypeVar

from shared.settings import ExportSettings, export_settings
from viewer import api, facts, openmetrics, reader, rows, span
from viewer.facts import SAMPLE, Facts
from viewer.rows import Pair, Row

PROG = "cpuload-export"
B = TypeVar("B")


class Start(NamedTuple):
    """What one snapshot of the file says before anything is written."""

    facts: Facts
    first: list[Row]  # the window's first batch, for CSV
    pairs: list[Pair]  # the same as (ts, cpu), for JSON
    last: float | None  # the newest sample in the window: every later pass stops there
    samples: int | None  # how many in the window, counted only for the progress line


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] = os.environ,
    stdout: BinaryIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """cpuload-export [--format csv|json|openmetrics] [--minutes N] [--end T] [--db PATH]
    [--label NAME=VALUE]... [--log-level L]

    Environment: CPULOAD_DB, STATE_DIRECTORY, XDG_STATE_HOME, CPULOAD_LOG_LEVEL. Exit 0 when
    the window was written (or the reader closed the pipe: it stops quietly); 2 on bad usage
    (a flag, a window or a label that is not valid); 1 when the database cannot be read (no
    file, not a cpuload database, a read failed part way: the output is then cut short).
    """
    out = stdout if stdout is not None else sys.stdout.buffer
    err = stderr if stderr is not None else sys.stderr
    settings = export_settings(argv, environ)
    try:
        sp = span.parse(settings.minutes, settings.end, time.time())
    except span.BadParameter as exc:
        print(f"{PROG}: error: {exc}", file=err)
        return 2
    progress = Progress(err) if err.isatty() else None
    try:
        for chunk in body(settings, sp, progress):
            out.write(chunk)
        out.flush()
    except BrokenPipeError:
        _silence(out)  # `| head` took what it wanted: no message, no traceback at exit
    except (reader.Unavailable, api.Truncated) as exc:
        return _failed(err, progress, str(exc))
    except KeyboardInterrupt:
        return _failed(err, progress, "interrupted; the output is cut short")
    except Exception as exc:  # the last line of defence: one line, never a traceback
        code = _failed(err, progress, f"{type(exc).__name__}: {exc}")
        if settings.log_level == "debug":
            raise
        return code
    return 0


def _failed(err: TextIO, progress: "Progress | None", reason: str) -> int:
    if progress:
        progress.done()
    print(f"{PROG}: error: {reason}", file=err)
    return 1


def body(settings: ExportSettings, sp: span.Span, progress: "Progress | None") -> Iterator[bytes]:
    """The chunks of the answer; Unavailable before the first one when the file cannot be
    read, Truncated (or Unavailable) later if a batch after the first fails."""
    read = functools.partial(
        _start, db=settings.db, sp=sp, fmt=settings.format, counting=progress is not None
    )
    start = reader.read(settings.db, read, snapshot=True)
    f, moded = start.facts, start.facts.version >= 3
    if settings.format == "openmetrics":
        if progress:
            progress.plan(start.samples, openmetrics.series_count(moded))
        again = functools.partial(_pass, settings.db, sp.t0, start.last, progress)
        yield from openmetrics.render(again, f.runs, settings.labels, moded)
    else:
        if progress:
            progress.plan(start.samples, 1)
        if settings.format == "json":
            pairs = _counted(api.pair_stream(settings.db, sp.t1, start.pairs), progress)
            interval = facts.interval_at(f.runs, sp.t1)
            yield from api.samples_json(pairs, f.runs, sp.t0, sp.t1, interval)
        else:
            batches = api.row_stream(settings.db, moded, sp.t1, start.first)
            yield from api.samples_csv(_counted(batches, progress))
    if progress:
        progress.done()


def _start(conn: sqlite3.Connection, db: Path, sp: span.Span, fmt: str, counting: bool) -> Start:
    f = facts.read(conn, db, time.time())
    first = rows.batch(conn, f.version >= 3, sp.t0, sp.t1) if fmt == "csv" else []
    pairs = rows.stamped(conn, None, sp.t0, sp.t1) if fmt == "json" else []
    last = conn.execute(
        f"SELECT max(ts) FROM samples WHERE ts > ? AND ts <= ? AND {SAMPLE}", (sp.t0, sp.t1)
    ).fetchone()[0]
    count = None
    if counting:
        sql = f"SELECT count(*) FROM samples WHERE ts > ? AND ts <= ? AND {SAMPLE}"
        count = int(conn.execute(sql, (sp.t0, sp.t1)).fetchone()[0])
    return Start(f, first, pairs, None if last is None else float(last), count)


def _pass(
    db: Path, t0: float, last: float | None, progress: "Progress | None", mode: int | None
) -> Iterable[list[tuple[float, float]]]:
    """One read of the window, up to the newest sample the first snapshot saw, so that every
    series holds the same samples while the collector goes on writing."""
    if last is None:
        return iter(())
    return _counted(rows.stamped_batches(db, mode, t0, last), progress)


def _counted(batches: Iterable[list[B]], progress: "Progress | None") -> Iterator[list[B]]:
    for batch in batches:
        if progress:
            progress.advance(len(batch))
        yield batch


class Progress:
    """A line on stderr, rewritten at most a few times a second, only on a terminal."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self.total = 0
        self.done_rows = 0
        self.shown = 0.0

    def plan(self, count: int | None, passes: int) -> None:
        self.total = (count or 0) * passes

    def advance(self, n: int) -> None:
        self.done_rows += n
        now = time.monotonic()
        if now - self.shown >= 0.25 and self.total:
            self.shown = now
            share = min(self.done_rows / self.total, 1.0)
            self.err.write(f"\r{PROG}: {100 * share:3.0f} % of {self.total:,} points")
            self.err.flush()

    def done(self) -> None:
        if self.shown:
            self.err.write("\n")
            self.err.flush()


def _silence(out: BinaryIO) -> None:
    """Point stdout at /dev/null, so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # not a real file (a test's buffer): nothing will flush it at exit


if __name__ == "__main__":
    sys.exit(main())
