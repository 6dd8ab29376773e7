"""The benchmark's output: a fixed-width table with notes, or JSON for comparing runs."""

import json
from typing import Any

from bench.machine import first_line
from bench.stats import Row

HEADER = ("figure", "unit", "p50", "p95", "n", "floor", "ratio", "target", "result")


def number(value: float | None) -> str:
    """Three significant figures or so, without exponents."""
    if value is None:
        return "-"
    size = abs(value)
    decimals = 0 if size >= 100 else 1 if size >= 10 else 2 if size >= 1 else 3
    return f"{value:,.{decimals}f}"


def cells(row: dict[str, Any]) -> tuple[str, ...]:
    """One row as text, from its JSON form: the terminal table and the docs' tables alike."""
    ratio = row["ratio"]
    return (
        f"{row['section']}: {row['figure']}",
        row["unit"],
        number(row["p50"]),
        number(row["p95"] if row["n"] > 1 else None),
        str(row["n"]),
        number(row["floor"]),
        "-" if ratio is None else f"{ratio:.2f}x",
        row["target"] or "-",
        row["status"],
    )


def table(rows: list[Row], meta: dict[str, Any]) -> str:
    """The machine on the first line, then the rows, then what each floor is and the notes."""
    body = [HEADER, *(cells(row_dict(r)) for r in rows)]
    widths = [max(len(line[i]) for line in body) for i in range(len(HEADER))]
    lines = [first_line(meta["machine"]), describe_run(meta, rows), ""]
    for line in body:
        left, *right = (
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        lines.append("  ".join([left, *right]).rstrip())
    lines += ["", "floors:"]
    floors = dict.fromkeys(f"  {r.section}: {r.floor_label}" for r in rows if r.floor_label)
    lines += list(floors)
    notes = [f"  {r.section}: {r.figure}: {r.note}" for r in rows if r.note]
    return "\n".join(lines + (["notes:", *notes] if notes else []))


def describe_run(meta: dict[str, Any], rows: list[Row]) -> str:
    return run_line(meta, [r.status for r in rows])


def run_line(meta: dict[str, Any], verdicts: list[str]) -> str:
    """How the run was made and how many targets it missed, in one line."""
    missed = sum(v in ("MISS", "ERROR") for v in verdicts)
    return (
        f"run: {meta['mode']}; {meta['started_utc']}, {meta['seconds']:.0f} s;"
        f" history {meta['history']}; {missed} of {sum(v != 'info' for v in verdicts)} targets"
        " missed or not measured"
    )


def row_dict(row: Row) -> dict[str, Any]:
    v = row.value
    return {
        "section": row.section,
        "figure": row.figure,
        "unit": row.unit,
        "p50": v.p50 if v else None,
        "p95": v.p95 if v else None,
        "n": v.n if v else 0,
        "floor": row.floor,
        "floor_label": row.floor_label,
        "ratio": row.ratio,
        "target": row.target.text(row.unit) if row.target else None,
        "status": row.status,
        "note": row.note,
        **row.extra,
    }


def as_json(rows: list[Row], meta: dict[str, Any]) -> str:
    return json.dumps({**meta, "rows": [row_dict(r) for r in rows]}, indent=2)
