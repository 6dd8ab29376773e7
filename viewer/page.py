"""The HTML page and its parts: navigation, the collector's state, the gaps and their causes,
three charts, the minute means. Each part is also served alone, so the open page fetches only
what changed."""

from html import escape
from pathlib import Path

from shared import __version__
from shared.schema import MODES
from viewer import labels, reader
from viewer.cells import Means
from viewer.charts import Chart
from viewer.facts import Status, duration
from viewer.gaps import CAUSES, Gap
from viewer.span import Span, end_text
from viewer.window import Window, column_width, minute_starts

PRESETS = (
    (15, "15 min"),
    (60, "1 h"),
    (360, "6 h"),
    (1440, "24 h"),
    (10080, "7 d"),
    (43200, "30 d"),
)
PARTS = ("state", "gaps", "instant", "average", "modes", "means")
MAX_GAP_ROWS = 200
_STATES = {"running": "running", "stale": "stale", "no-data": "no data", "error": "error"}
_MODE_NOTES = {
    "user": "programs (guest time included)",
    "nice": "programs at low priority",
    "system": "the kernel",
    "irq": "hardware interrupts",
    "softirq": "software interrupts (network, timers)",
    "steal": "taken by the hypervisor for other guests",
    "iowait": "idle while waiting for I/O (not busy)",
}


def document(span: Span, st: Status, now: float, parts: dict[str, str]) -> str:
    """The whole page: head, navigation, then the parts in PARTS order."""
    live = "1" if span.live else "0"
    body = "\n".join(parts[p] for p in PARTS if p in parts)
    return (
        _HEAD.format(
            version=__version__,
            live=live,
            poll=f"{poll_seconds(span, st):g}",
            now=repr(now),
            query=escape(span.query()),
        )
        + nav(span, now)
        + body
        + _FOOT
    )


POLL_MIN, POLL_MAX = 10.0, 60.0


def poll_seconds(span: Span, st: Status) -> float:
    """How often a live page asks whether anything changed: every interval, but not more often
    than every 10 s (a new sample still shows within 15 s, and an open hour costs under
    10 MB an hour) nor faster than a quarter pixel column could move; at most every minute."""
    interval = st.interval or 5.0
    return min(max(interval, column_width(span.minutes) / 4, POLL_MIN), POLL_MAX)


def nav(span: Span, now: float) -> str:
    keep = "" if span.live else f"&end={end_text(span.t1)}"
    presets = " ".join(
        f'<a href="/?minutes={n}{keep}"{" aria-current=page" if n == span.minutes else ""}>{t}</a>'
        for n, t in PRESETS
    )
    seconds = span.minutes * 60
    earlier = f"/?minutes={span.minutes}&end={end_text(span.t1 - seconds)}"
    # A later window that reaches now, or ends within a minute of it (the window just
    # before the live one, a while after it was left), is the live window.
    later_end = span.t1 + seconds
    later = (
        f"/?minutes={span.minutes}"
        if later_end >= now - max(60.0, seconds / 100)
        else f"/?minutes={span.minutes}&end={end_text(later_end)}"
    )
    now_link = f"/?minutes={span.minutes}"
    moves = f'<a href="{earlier}" rel="prev">\N{LEFTWARDS ARROW} earlier</a> ' + (
        f'<a href="{later}" rel="next">later \N{RIGHTWARDS ARROW}</a> <a href="{now_link}">now</a>'
        if not span.live
        else '<span class="off">later \N{RIGHTWARDS ARROW}</span> <span class="off">now</span>'
    )
    when = f"{labels.when(span.t0)} \N{EN DASH} {labels.when(span.t1)}"
    note = "" if span.live else ' <span class="past">(a past window: it does not refresh)</span>'
    return (
        '<header><h1>CPU load</h1><nav aria-label="window length">'
        f"{presets}</nav>"
        f'<nav aria-label="move the window">{moves}</nav></header>'
        f'<p class="span">{escape(when)}{note}</p>\n'
    )


def state(db: Path, st: Status, now: float) -> str:
    shown, text = _shown(st)
    rows = [("Collector", f'<span class="badge">{text}</span>')]
    if st.newest is not None:
        ts, cpu = st.newest
        rows.append(("Newest sample", f"{escape(labels.when(ts))} · {cpu:.1f} %"))
        rows.append(("Age", f'<span id="age" data-ts="{ts!r}">{duration(now - ts)}</span>'))
    if st.interval is not None:
        rows.append(("Interval", f"{st.interval:g} s"))
    rows.append(("Time zone", escape(labels.zone_label(now))))
    items = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in rows)
    sentence = _sentence(db, st)
    reason = f'<p class="reason">{escape(sentence)}</p>' if sentence else ""
    return f'<section id="state" class="state-{shown}"><dl>{items}</dl>{reason}</section>'


def _shown(st: Status) -> tuple[str, str]:
    """The badge: whether a collector writes the file now (its lock) as well as how old the
    newest sample is, so a stop shows at the next poll, not three intervals later."""
    if st.state in ("no-data", "error") or st.newest is None:
        return st.state, _STATES[st.state]
    if not st.writing:
        return "stopped", "not running"
    return ("running", "running") if st.state == "running" else ("stale", "stalled")


def _sentence(db: Path, st: Status) -> str:
    if st.state in ("running", "stale") and not st.writing:
        return (
            "No cpuload-collector holds the database now: no new sample will come until one"
            " starts."
        )
    if not st.reason:
        return ""
    if st.state == "error":
        return f"cpuload-viewer cannot read the database. {st.reason[0].upper()}{st.reason[1:]}"
    if st.state == "no-data" and reader.missing(db):
        return (
            f"No data to show yet: this viewer reads {db}, which does not exist yet."
            " Is cpuload-collector running?"
        )
    if st.state == "no-data":
        return f"No data to show yet: {db} holds no sample yet. Is cpuload-collector running?"
    return st.reason[0].upper() + st.reason[1:]


def gaps(win: Window, query: str) -> str:
    if not win.gaps:
        return '<section id="gaps"><h2>Gaps in the window</h2><p>None.</p></section>'
    shown = win.gaps[-MAX_GAP_ROWS:]
    # Each cell names its column too: a phone shows a gap's cells one under the other.
    rows = "".join(
        f'<tr class="cause-{g.cause}"><td data-label="start">{escape(labels.when(g.start))}</td>'
        f'<td data-label="end">{escape(labels.when(g.end))}</td>'
        f'<td data-label="length">{duration(g.seconds)}</td>'
        f'<td data-label="cause"><span class="swatch"></span>{g.cause}</td>'
        f'<td data-label="detail">{escape(g.detail)}</td></tr>'
        for g in reversed(shown)
    )
    more = ""
    if len(win.gaps) > len(shown):
        more = (
            f"<p>The newest {len(shown)} of {len(win.gaps)}; all in"
            f' <a href="/api/gaps?{escape(query)}">/api/gaps</a>.</p>'
        )
    head = "<tr><th>start</th><th>end</th><th>length</th><th>cause</th><th>detail</th></tr>"
    return (
        f'<section id="gaps"><h2>Gaps in the window ({len(win.gaps)})</h2>'
        f'<div class="scroll"><table><thead>{head}</thead><tbody>{rows}</tbody></table></div>'
        f"{more}{_legend(win.gaps)}</section>"
    )


def _legend(found: list[Gap]) -> str:
    present = {g.cause for g in found}
    items = "".join(
        f'<li class="cause-{c}"><span class="swatch"></span><b>{c}</b>: {escape(text)}</li>'
        for c, text in CAUSES.items()
        if c in present
    )
    return f'<ul class="legend" aria-label="gap causes">{items}</ul>'


def figure(name: str, win: Window, chart: Chart) -> str:
    caption = _caption(name, win)
    extra = _modes_legend(win) if name == "modes" else ""
    return (
        f'<figure id="{name}"><figcaption>{caption}</figcaption>'
        f'<div class="chart" tabindex="0">{chart.inline}</div>{extra}</figure>'
    )


def _caption(name: str, win: Window) -> str:
    if name == "instant":
        what = "per-pixel-column mean with min and max" if win.reduced else "every sample"
        return f"CPU load, % of all CPUs busy: {what}"
    if name == "average":
        if win.columns is not None:
            return "Mean of each minute, per pixel column: mean of the minute means, min, max"
        return "Mean of each minute, drawn at its middle; a hollow dot is a minute a gap cuts"
    what = "per-pixel-column means" if win.reduced else "every sample"
    return f"Where the CPU time went, % of all CPU time, stacked: {what}"


def _modes_legend(win: Window) -> str:
    moded = [p for p in win.points if p.modes is not None]
    total = sum(p.samples for p in moded)
    items = []
    for i, mode in enumerate(MODES):
        mean = sum((p.modes or ())[i] * p.samples for p in moded) / total if total else None
        value = "no data" if mean is None else f"{mean:.2f} %"
        items.append(
            f'<li class="mode-{mode}"><span class="swatch"></span><b>{mode}</b> {value}'
            f' <span class="note">{_MODE_NOTES[mode]}</span></li>'
        )
    note = "" if moded else "<p>No sample in this window carries modes.</p>"
    label = "CPU modes, mean over the window"
    return f'<ul class="legend modes" aria-label="{label}">{"".join(items)}</ul>{note}'


def means(win: Window, query: str) -> str:
    csv = f'<a href="/api/averages.csv?{escape(query)}">every minute as CSV</a>'
    if win.minutes is not None:
        found = {m.start: m for m in win.minutes}
        starts = minute_starts(win.t0, win.t1)
        rows = "".join(_minute_row(found.get(float(m)), float(m), win) for m in reversed(starts))
        head = "<tr><th>minute</th><th>mean</th><th>samples</th></tr>"
        title = f"Minute means ({len(starts)} minutes, newest first; {csv})"
    else:
        columns = win.columns or []
        rows = "".join(_column_row(m) for m in reversed(columns))
        names = ("from", "to", "mean of minute means", "min", "max", "minutes")
        head = "<tr>" + "".join(f"<th>{n}</th>" for n in names) + "</tr>"
        title = f"Minute means per chart column ({len(columns)} columns, newest first; {csv})"
    return (
        f'<details id="means"><summary>{title}</summary>'
        f"<table><thead>{head}</thead><tbody>{rows}</tbody></table></details>"
    )


def _minute_row(m: Means | None, start: float, win: Window) -> str:
    when = escape(labels.when(start)[:-3])
    if m is None:
        return f"<tr><td>{when}</td><td>no samples</td><td>0</td></tr>"
    partial = ' class="partial"' if start in win.cut else ""
    mark = " (cut by a gap)" if partial else ""
    return f"<tr{partial}><td>{when}</td><td>{m.mean:.1f} %</td><td>{m.samples}{mark}</td></tr>"


def _column_row(m: Means) -> str:
    a, b = labels.when(m.start)[:-3], labels.when(m.start + m.width)[:-3]
    return (
        f"<tr><td>{escape(a)}</td><td>{escape(b)}</td><td>{m.mean:.1f} %</td>"
        f"<td>{m.low:.1f} %</td><td>{m.high:.1f} %</td><td>{m.minutes}</td></tr>"
    )


_HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>CPU load</title>
<link rel="icon" href="/static/favicon.svg">
<link rel="stylesheet" href="/static/viewer.css?v={version}">
<script src="/static/viewer.js?v={version}" defer></script>
</head><body data-live="{live}" data-poll="{poll}" data-now="{now}" data-query="{query}">
<main id="view">
"""
_FOOT = "\n</main></body></html>\n"
