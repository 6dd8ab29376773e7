"""`python -m bench`: measure cpuload beside floors taken in the same run; print the table."""

import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import (
    collector_bench,
    fleet_bench,
    idle_bench,
    load,
    markdown,
    quick_check,
    viewer_bench,
)
from bench.history import History
from bench.machine import describe
from bench.options import YEAR_ROWS, Options, parse
from bench.report import as_json, table
from bench.stats import Row, Target, single

MONTH_ROWS = 30 * 24 * 720


def history_label(rows: int) -> str:
    """'year' for a full year at 5 s, else how long the smaller history is (and that it is)."""
    if rows == YEAR_ROWS:
        return "year"
    return f"{rows * 5 / 86400:.1f}-day"


def storage_row(year: History) -> Row:
    per_sample = year.file_bytes() / year.rows
    note = (
        f"{year.rows:,} rows at 5 s, random cpu values (8-byte doubles), whole-second stamps,"
        " modes in hundredths split plausibly (bench/history.py: user, system, softirq, irq,"
        " iowait; nice now and then; steal 0)"
    )
    if year.rows != YEAR_ROWS:
        note += f"; NOT a year ({YEAR_ROWS:,} rows): a smaller run"
    label = "two 8-byte doubles per sample, nothing else"
    figure = f"bytes per sample with modes, {history_label(year.rows)} at 5 s"
    return Row("storage", figure, "B", single(per_sample), 16.0, label, Target(40.0), note)


def collector_rows(opts: Options, work: Path) -> list[Row]:
    plan = collector_bench.Plan(
        opts.collector_interval,
        opts.collector_warmup,
        opts.collector_window,
        opts.collector_windows,
    )
    return collector_bench.measure(work, plan)


def viewer_rows(opts: Options, work: Path, year: History) -> list[Row]:
    month = History(work / "month.db", min(MONTH_ROWS, year.rows))
    histories = {"month": month, "year": year}
    plan = viewer_bench.Plan(opts.warm_reps, opts.cold_reps, opts.floor_reps)
    rows: list[Row] = []
    if "viewer" in opts.sections:
        progress("viewers on 30 days and on the long history: every window, warm and cold")
        rows += viewer_bench.measure(histories, work, plan, history_label(year.rows))
    if "load" in opts.sections:
        progress(f"load: 4 and 32 clients, {opts.load_seconds:g} s each, page and 404")
        rows += load.measure(month, work, opts.load_seconds)
    month.close()
    return rows


def progress(message: str) -> None:
    """A line on stderr, so a run of minutes shows where it is; stdout holds only the result."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def run(opts: Options, work: Path) -> list[Row]:
    """The sections in an order that keeps each one's noise away from the next."""
    rows: list[Row] = []
    if "idle" in opts.sections:
        progress(f"the idle stack at 5 s beside sadc for {opts.idle_seconds:g} s")
        rows += idle_bench.measure(work, opts.idle_seconds)
        rows.append(idle_bench.page_bytes_row())
    if "collector" in opts.sections:
        samples = opts.collector_warmup + opts.collector_window * opts.collector_windows
        progress(f"collector and bare loop side by side, {samples} samples each")
        rows += collector_rows(opts, work)
    if not {"storage", "viewer", "load", "fleet"} & set(opts.sections):
        return rows
    progress(f"building a history of {opts.year_rows:,} samples")
    year = History(work / "year.db", opts.year_rows)
    if "storage" in opts.sections:
        rows.append(storage_row(year))
        progress("the collector's file check at start on that history")
        rows.append(quick_check.measure(year, f"{history_label(year.rows)} at 5 s"))
    if {"viewer", "load"} & set(opts.sections):
        rows += viewer_rows(opts, work, year)
    if "fleet" in opts.sections:
        label = history_label(year.rows)
        progress(f"fleet: /metrics and cpuload-export on the {label} history")
        rows += fleet_bench.measure(year, work, opts.warm_reps, label)
    year.close()
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Flags: --quick, --json, --only, --markdown, and smaller inputs for tests (see --help).

    Exit status: 0 when every target is met, 1 when one is missed or could not be measured,
    2 on bad usage.
    """
    opts = parse(argv)
    if opts.markdown is not None:
        return markdown.main(opts.markdown)
    started = time.time()
    meta: dict[str, Any] = {
        "machine": describe(),
        "mode": opts.mode,
        "started_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        "history": f"{opts.year_rows:,} rows ({history_label(opts.year_rows)})",
        "command": " ".join(["python -m bench", *(sys.argv[1:] if argv is None else argv)]),
    }
    with tempfile.TemporaryDirectory(prefix="cpuload-bench-") as tmp:
        rows = run(opts, Path(tmp))
    meta["seconds"] = time.time() - started
    print(as_json(rows, meta) if opts.as_json else table(rows, meta))
    return 0 if all(r.status in ("PASS", "info") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
