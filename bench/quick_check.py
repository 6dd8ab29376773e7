"""What the collector's check of the file at start costs on the long history: quick_check etc."""

import time
from pathlib import Path

from bench.history import History
from bench.stats import Row, error_row, summarise
from collector.filecheck import Refused, inspect

SECTION = "storage"
FIGURE = "file check at collector start (quick_check)"
REPS = 3


def measure(history: History, label: str, reps: int = REPS) -> Row:
    """collector.filecheck.inspect() on the history, `reps` times: header and size check, the
    schema version and PRAGMA quick_check, on a read-only connection, as at every start."""
    path: Path = history.path
    history.file_bytes()  # the WAL folded back: the file as a stopped collector leaves it
    times: list[float] = []
    try:
        for _ in range(reps):
            began = time.perf_counter()
            inspect(path)
            times.append(time.perf_counter() - began)
    except (Refused, OSError) as exc:
        return error_row(SECTION, FIGURE, "s", str(exc))
    size_mb = path.stat().st_size / 1e6
    note = (
        f"{history.rows:,} rows ({label}), {size_mb:.0f} MB file in the page cache (as just"
        " written); a cold cache adds the time to read the file once"
    )
    return Row(SECTION, f"{FIGURE}, {label}", "s", summarise(times), note=note)
