"""The benchmark's flags and the sizes of a full and a quick run."""

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

SECTIONS = ("idle", "collector", "storage", "viewer", "load", "fleet")
YEAR_ROWS = 365 * 24 * 720  # a year at 5 s: 6,307,200
LATEST = Path(__file__).resolve().parent.parent / "docs" / "bench" / "latest.json"


@dataclass(frozen=True)
class Options:
    mode: str
    sections: tuple[str, ...]
    as_json: bool
    year_rows: int
    collector_interval: float
    collector_warmup: int
    collector_window: int
    collector_windows: int
    warm_reps: int
    cold_reps: int
    floor_reps: int
    load_seconds: float
    idle_seconds: float
    markdown: Path | None = None


FULL = Options("full", SECTIONS, False, YEAR_ROWS, 0.1, 20, 25, 12, 100, 40, 10, 10.0, 300.0)
QUICK = Options("quick", SECTIONS, False, YEAR_ROWS // 10, 0.1, 10, 20, 4, 25, 6, 3, 3.0, 30.0)


def parse(argv: Sequence[str] | None) -> Options:
    """Flags to Options; bad usage exits 2 with argparse's one-line reason."""
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure cpuload against floors taken in the same run; print a table.",
    )
    p.add_argument("--quick", action="store_true", help="a one-minute run on smaller inputs")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument(
        "--only", type=_sections, help=f"comma-separated subset of {','.join(SECTIONS)}"
    )
    p.add_argument("--year-rows", type=_positive, metavar="N", help="rows of the long history")
    p.add_argument("--samples", type=_positive, metavar="N", help="collector samples measured")
    p.add_argument("--reps", type=_positive, metavar="N", help="cold requests per figure")
    p.add_argument("--load-seconds", type=_positive, metavar="S", help="seconds per load run")
    p.add_argument(
        "--idle-seconds", type=_positive, metavar="S", help="seconds the idle stack is watched"
    )
    p.add_argument(
        "--markdown",
        nargs="?",
        const=LATEST,
        type=Path,
        metavar="JSON",
        help="measure nothing: rewrite the docs' generated tables from JSON (default"
        " docs/bench/latest.json) and the faults.json and others.json beside it",
    )
    args = p.parse_args(argv)
    opts = replace(QUICK if args.quick else FULL, as_json=args.json, markdown=args.markdown)
    return replace(_overrides(opts, args), mode=mode(argv))


def mode(argv: Sequence[str] | None) -> str:
    """'full', or the command that made a smaller run: such figures are never the targets'."""
    flags = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--json"]
    return f"not the quiet full run: python -m bench {' '.join(flags)}" if flags else "full"


def _overrides(opts: Options, args: argparse.Namespace) -> Options:
    """Smaller inputs for the test suite; the table says how big the run was."""
    if args.only:
        opts = replace(opts, sections=args.only)
    if args.year_rows:
        opts = replace(opts, year_rows=args.year_rows)
    if args.samples:
        windows = max(2, args.samples // opts.collector_window)
        window = max(1, args.samples // windows)
        opts = replace(
            opts, collector_windows=windows, collector_window=window, collector_warmup=3
        )
    if args.reps:
        opts = replace(opts, cold_reps=args.reps, warm_reps=4 * args.reps, floor_reps=args.reps)
    if args.load_seconds:
        opts = replace(opts, load_seconds=float(args.load_seconds))
    if args.idle_seconds:
        opts = replace(opts, idle_seconds=float(args.idle_seconds))
    return opts


def _sections(text: str) -> tuple[str, ...]:
    chosen = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose from {','.join(SECTIONS)}")
    return chosen


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("a whole number of at least 1")
    return int(text)
