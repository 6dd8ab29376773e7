"""The HTML page: the collector's state, both charts inline, and the table of minute means."""

from html import escape
from pathlib import Path

from shared import __version__
from shared.timeutil import local_datetime, zone_label
from viewer import reader
from viewer.charts import COLUMNS
from viewer.window import Status, Window, duration

WINDOWS = ((15, "15 min"), (60, "1 h"), (360, "6 h"), (1440, "24 h"))
_STATES = {"running": "running", "stale": "stale", "no-data": "no data", "error": "error"}


def when(ts: float) -> str:
    return local_datetime(ts).strftime("%Y-%m-%d %H:%M:%S")


def render(db: Path, st: Status, win: Window | None, minutes: int, now: float) -> str:
    body = [_nav(minutes), _state(db, st, now)]
    if win is not None:
        body.append(_window_html(win))
    # Faster than a quarter pixel column the charts could not visibly change.
    poll = min(max(st.interval or 5.0, minutes * 60 / COLUMNS / 4, 1.0), 30.0)
    return (
        _HEAD.format(minutes=minutes, poll=poll, now=now, version=__version__)
        + "\n".join(body)
        + _FOOT
    )


def _nav(minutes: int) -> str:
    links = " ".join(
        f'<a href="/?minutes={n}"{" aria-current=page" if n == minutes else ""}>{t}</a>'
        for n, t in WINDOWS
    )
    return f'<header><h1>CPU load</h1><nav aria-label="window">{links}</nav></header>'


def _state(db: Path, st: Status, now: float) -> str:
    rows = [("Collector", f'<span class="badge">{_STATES[st.state]}</span>')]
    if st.newest is not None:
        ts, cpu = st.newest
        rows.append(("Newest sample", f"{escape(when(ts))} · {cpu:.1f} %"))
        rows.append(("Age", f'<span id="age" data-ts="{ts!r}">{duration(now - ts)}</span>'))
    if st.interval is not None:
        rows.append(("Interval", f"{st.interval:g} s"))
    rows.append(("Time zone", escape(zone_label(now))))
    items = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in rows)
    reason = f'<p class="reason">{escape(_sentence(db, st))}</p>' if st.reason else ""
    return f'<section id="state" class="state-{st.state}"><dl>{items}</dl>{reason}</section>'


def _sentence(db: Path, st: Status) -> str:
    if st.state == "error":
        return f"cpuload-viewer cannot read {db}: {st.reason}"
    if st.state == "no-data" and reader.missing(db):
        return (
            f"No data to show yet: this viewer reads {db}, which does not exist yet."
            " Is cpuload-collector running?"
        )
    if st.state == "no-data":
        return f"No data to show yet: {db} holds no sample yet. Is cpuload-collector running?"
    return st.reason[0].upper() + st.reason[1:]


def _gaps(win: Window) -> str:
    if not win.gaps:
        return '<section id="gaps"><h2>Gaps in the window</h2><p>None.</p></section>'
    rows = "".join(
        f"<tr><td>{when(g.start)}</td><td>{when(g.end)}</td><td>{duration(g.seconds)}</td></tr>"
        for g in win.gaps
    )
    head = "<tr><th>start</th><th>end</th><th>length</th></tr>"
    return (
        f'<section id="gaps"><h2>Gaps in the window ({len(win.gaps)})</h2>'
        f"<table><thead>{head}</thead><tbody>{rows}</tbody></table></section>"
    )


def _window_html(win: Window) -> str:
    """Gaps, charts and minute means depend on the window alone: rendered once per cached
    window (the table of 1,440 minute means alone took ~10 ms on every 24-hour page)."""
    if "body" not in win.html:
        win.html["body"] = "\n".join([_gaps(win), _charts(win), _means(win)])
    return win.html["body"]


def _charts(win: Window) -> str:
    span = f"{when(win.t0)} \N{EN DASH} {when(win.t1)}"
    what = "per-pixel mean with min and max" if win.reduced else "every sample"
    return (
        f'<figure id="instant"><figcaption>CPU load, {what}, {span}</figcaption>'
        f'<div class="chart">{win.instant.inline}</div></figure>'
        f'<figure id="average"><figcaption>Mean of each minute, drawn at its middle</figcaption>'
        f'<div class="chart">{win.average.inline}</div></figure>'
    )


def _means(win: Window) -> str:
    rows = "".join(
        f"<tr><td>{when(m)[:-3]}</td><td>{_mean(avg)}</td><td>{n}</td></tr>"
        for m, avg, n in reversed(win.means)
    )
    head = "<tr><th>minute</th><th>mean</th><th>samples</th></tr>"
    return (
        f'<details id="means"><summary>Minute means ({len(win.means)} minutes, newest first)'
        f"</summary><table><thead>{head}</thead><tbody>{rows}</tbody></table></details>"
    )


def _mean(avg: float | None) -> str:
    return "no samples" if avg is None else f"{avg:.1f} %"


_HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>CPU load</title>
<link rel="stylesheet" href="/static/viewer.css?v={version}">
<script src="/static/viewer.js?v={version}" defer></script>
</head><body data-minutes="{minutes}" data-poll="{poll}" data-now="{now!r}"><main id="view">
"""
_FOOT = "\n</main></body></html>\n"
