"""The docs' figures, generated from committed JSON: `python -m bench --markdown [JSON]`.

A doc holds each generated table between two markers; the text between them is rewritten:

    <!-- bench:collector -->
    (generated)
    <!-- /bench:collector -->

Three sources, all in docs/bench/:
- `bench:NAME` from latest.json, the output of `python -m bench --json`. NAME is a section of
  the bench (collector, storage, viewer, scale, load, ...: its rows as a table, so a new row
  shows up in its section's table by itself) or a name in BENCH_BLOCKS (`run`: what the
  figures were measured on; `compare`: cpuload beside the other stack).
- `faults:NAME` from faults.json, the figures the fault suite recorded (tests/fault_figures.py):
  NAME is a group (a fault test file's name without `test_faults_`) or `run`.
- `others:NAME` from others.json: figures about other software, each stack with where and
  how it was measured.

To add a block, put the two markers in any doc under docs/ or in README.md and run
`python -m bench --markdown`; a table that is not a section's needs a function in
BENCH_BLOCKS. tests/test_docs.py fails while any block differs from what its JSON renders.
"""

import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.machine import first_line
from bench.report import cells, number, run_line

ROOT = Path(__file__).resolve().parent.parent
# A marker starts its line, so an indented example of one (as in docs/development.md) stays.
BLOCK = re.compile(
    r"^<!-- (bench|faults|others):([\w-]+) -->\n.*?^<!-- /\1:\2 -->$", re.DOTALL | re.MULTILINE
)
Json = dict[str, Any]


@dataclass(frozen=True)
class Sources:
    """The three committed files a doc's figures come from."""

    bench: Json
    faults: Json
    others: Json

    @classmethod
    def load(cls, bench_json: Path) -> "Sources":
        """`bench_json` and, beside it, faults.json and others.json."""
        folder = bench_json.parent
        files = (bench_json, folder / "faults.json", folder / "others.json")
        return cls(*(json.loads(f.read_text(encoding="utf-8")) for f in files))


def docs(root: Path = ROOT) -> list[Path]:
    """Every file that may hold a block: README.md and the Markdown under docs/."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def rewrite(text: str, sources: Sources) -> str:
    """`text` with every block regenerated; KeyError names a block nothing can render."""

    def block(found: re.Match[str]) -> str:
        kind, name = found[1], found[2]
        return f"<!-- {kind}:{name} -->\n{render(kind, name, sources)}\n<!-- /{kind}:{name} -->"

    return BLOCK.sub(block, text)


def blocks(text: str) -> list[tuple[str, str]]:
    """The (kind, name) of every block in `text`, in order."""
    return [(m[1], m[2]) for m in BLOCK.finditer(text)]


def render(kind: str, name: str, sources: Sources) -> str:
    if kind == "bench":
        if name in BENCH_BLOCKS:
            return BENCH_BLOCKS[name](sources)
        return section_table(sources.bench, name)
    if kind == "faults":
        return faults_run(sources.faults) if name == "run" else faults_table(sources.faults, name)
    return others_table(sources.others, name)


def table(header: tuple[str, ...], rows: Sequence[Sequence[str]], right: int = 1) -> str:
    """A Markdown table; columns from `right` on are numbers, aligned right."""
    align = tuple("---" if i < right else "---:" for i in range(len(header)))
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(c.replace("|", "\\|") for c in ln) + " |" for ln in lines)


def section_table(bench: Json, section: str) -> str:
    """The rows of one bench section, as `python -m bench` prints them, and their notes."""
    rows = [r for r in bench["rows"] if r["section"] == section]
    if not rows:
        raise KeyError(f"no bench section or block named {section!r}")
    header = ("figure", "unit", "p50", "p95", "n", "floor", "ratio", "target", "result")
    body = [(r["figure"], *cells(r)[1:]) for r in rows]
    notes = [f"- {r['figure']}: {r['note']}" for r in rows if r["note"]]
    return table(header, body, right=2) + ("\n\n" + "\n".join(notes) if notes else "")


def bench_run(sources: Sources) -> str:
    """What machine and which run the bench's figures come from; a warning unless full."""
    bench = sources.bench
    lines = [
        f"Figures from `docs/bench/latest.json`. {upper(first_line(bench['machine']))}.",
        f"{upper(run_line(bench, [r['status'] for r in bench['rows']]))}.",
    ]
    if bench["mode"] != "full":
        lines += [
            "",
            "**These figures come from a small run on a busy machine, not from the quiet full"
            " run that the targets are judged by**; they show what is measured, not what"
            " cpuload costs.",
        ]
    return "\n".join(lines)


def upper(line: str) -> str:
    return line[:1].upper() + line[1:]


def find(bench: Json, section: str, figure: str) -> Json | None:
    return next(
        (r for r in bench["rows"] if (r["section"], r["figure"]) == (section, figure)), None
    )


def value(bench: Json, section: str, figure: str) -> str:
    """A bench row's median as text, or what stopped it from being measured."""
    row = find(bench, section, figure)
    if row is None or row["p50"] is None:
        return "(not measured in this run)"
    return number(row["p50"])


def compare(sources: Sources) -> str:
    """cpuload beside the other stack: its costs from the bench, its behaviour as others.json
    words it; the other stack's figures with where they were measured."""
    b, django = sources.bench, sources.others["django"]
    rss = sorted(
        r["p50"]
        for r in b["rows"]
        if r["section"] == "viewer"
        and r["p50"] is not None
        and r["figure"].startswith("resident memory after the run")
    )
    viewer = f"{number(rss[0])} to {number(rss[-1])}" if rss else "(not measured in this run)"
    measured = {
        "processes": "2 services, 2 processes (the collector, the viewer)",
        "cpu_idle": f"collector {value(b, 'idle', 'collector at 5 s')} and viewer"
        f" {value(b, 'idle', 'viewer, idle')} CPU-seconds an hour, measured at 5 s side by side",
        "memory": f"collector {value(b, 'collector', 'resident memory (VmRSS)')} MB; viewer"
        f" {viewer} MB after the benchmark's requests",
        "page_time": f"p50 {value(b, 'viewer', 'warm GET /, 1 h')} ms from the viewer's cache,"
        f" {value(b, 'viewer', 'cold GET /, 1 h')} ms right after a new sample",
        "throughput": f"{value(b, 'load', 'GET / throughput, 4 clients')} requests/s"
        " (a new sample every 5 s)",
    }
    rows = [
        (f["what"], f["measured"], measured.get(key) or f["cpuload"])
        for key, f in django["figures"].items()
    ]
    header = ("", django["short"], "cpuload")
    return table(header, rows, right=3) + f"\n\n{django['source']}"


BENCH_BLOCKS: dict[str, Callable[[Sources], str]] = {"run": bench_run, "compare": compare}


def faults_table(faults: Json, group: str) -> str:
    """What one fault test measured, in the order it recorded it."""
    if group not in faults["groups"]:
        raise KeyError(f"no fault figures for {group!r}; tests/fault_figures.py records them")
    rows = [(f["name"], shown(f["value"], f["unit"])) for f in faults["groups"][group]["figures"]]
    return table(("figure", "value"), rows, right=2)


def shown(figure: float | int | str, unit: str) -> str:
    if isinstance(figure, str):
        return figure
    text = f"{figure:,}" if isinstance(figure, int) else number(figure)
    return f"{text} {unit}".strip()


def faults_run(faults: Json) -> str:
    machine = faults["machine"]
    return (
        f"Figures from `docs/bench/faults.json`, recorded by the fault tests on"
        f" {faults['recorded_utc']}; {first_line(machine).removeprefix('machine: ')},"
        f" kernel {machine['kernel']}, waitress {machine['waitress']}."
    )


def others_table(others: Json, name: str) -> str:
    """Another stack's figures, with where and how they were measured."""
    stack = others[name]
    rows = [(f["what"], f["measured"]) for f in stack["figures"].values()]
    return table(("what", "measured"), rows, right=2) + f"\n\n{stack['source']}"


def main(bench_json: Path, root: Path = ROOT) -> int:
    """Rewrite every doc's blocks from `bench_json` and its neighbours; list what changed.

    Exit status 0; 1 with one line when a file cannot be read or a block cannot be rendered.
    """
    try:
        sources = Sources.load(bench_json)
        for doc in docs(root):
            text = doc.read_text(encoding="utf-8")
            new = rewrite(text, sources)
            if new != text:
                doc.write_text(new, encoding="utf-8")
                print(f"bench: rewrote {doc.relative_to(root)}", file=sys.stderr)
    except (OSError, ValueError, KeyError) as exc:
        print(f"bench: cannot rewrite the docs: {exc}", file=sys.stderr)
        return 1
    return 0
