"""make_app(db) -> Bottle: the page, both charts, the JSON API, /healthz and two static files."""

import importlib.resources
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import bottle

from viewer import aggregate, api, page, queries, reader, window
from viewer.cache import Lru
from viewer.window import Window

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
    " frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
DATA_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
STATIC = {"viewer.js": "text/javascript; charset=utf-8", "viewer.css": "text/css; charset=utf-8"}
T = TypeVar("T")
BAD_MINUTES = "minutes must be a whole number from 1 to 1440 in ASCII digits, e.g. ?minutes=60"


def make_app(
    db: Path, clock: Callable[[], float] = time.time, cache: Lru[Window] | None = None
) -> bottle.Bottle:
    """The viewer's WSGI app; everything it needs is passed in or built here, nothing global."""
    app = bottle.Bottle(catchall=True)
    # A window is 0.3-0.8 MB (two SVGs twice, the points); keys move with time, so old ones are
    # dead weight: 16 keep the four usual windows a few generations deep (64 grew RSS ~40 MB).
    cache = Lru(16) if cache is None else cache
    grids = window.Grids()
    files = {n: (importlib.resources.files("viewer") / "static" / n).read_bytes() for n in STATIC}
    app.add_hook("after_request", lambda: _secure(bottle.response))
    app.default_error_handler = _error

    def current() -> tuple[int, float, window.Status, Window | None]:
        minutes, now = parse_minutes(bottle.request), clock()
        return (minutes, now, *window.load(db, now, minutes, cache, grids))

    def index() -> str:
        minutes, now, st, win = current()
        bottle.response.content_type = "text/html; charset=utf-8"
        bottle.response.set_header("Content-Security-Policy", PAGE_CSP)
        bottle.response.status = 503 if win is None else 200
        return page.render(db, st, win, minutes, now)

    def chart(name: str) -> str:
        _, _, st, win = current()
        if win is None:
            raise bottle.HTTPError(503, st.reason)
        svg = win.instant if name == "instant" else win.average
        bottle.response.content_type = "image/svg+xml; charset=utf-8"
        csp = f"default-src 'none'; style-src {svg.style_hash}; frame-ancestors 'self'"
        bottle.response.set_header("Content-Security-Policy", csp)
        return svg.document

    def samples() -> Any:
        minutes, t1 = parse_minutes(bottle.request), clock()
        t0 = t1 - 60 * minutes
        # Read before the status line goes out: a file that cannot be read is a plain 503.
        none: tuple[list[aggregate.Run], list[tuple[float, float]]] = ([], [])
        runs, first = _read(db, lambda c: (queries.runs(c), queries.batch(c, t0, t1)), none)
        bottle.response.content_type = "application/json"
        return api.samples_stream(db, runs, t0, t1, first)

    def averages() -> dict[str, Any]:
        minutes, t1 = parse_minutes(bottle.request), clock()
        t0 = t1 - 60 * minutes
        empty = aggregate.minute_series([], t0, t1)
        means = _read(db, lambda c: window.read_means(c, t0, t1, grids), empty, snapshot=True)
        return api.averages(means, t0, t1)

    def healthz() -> dict[str, Any]:
        code, body = api.health(db, window.read_status(db, clock()))
        bottle.response.status = code
        return body

    def static(name: str) -> bytes:
        if name not in STATIC:  # a fixed whitelist: no path from the request reaches the disk
            raise bottle.HTTPError(404)
        bottle.response.content_type = STATIC[name]
        bottle.response.set_header("Cache-Control", "public, max-age=31536000, immutable")
        return files[name]

    for path, route in (
        ("/", index),
        ("/charts/<name:re:instant|average>.svg", chart),
        ("/api/samples", samples),
        ("/api/averages", averages),
        ("/healthz", healthz),
        ("/static/<name>", static),
    ):
        app.route(path, "GET", route)
    return app


def parse_minutes(request: bottle.BaseRequest) -> int:
    """?minutes=N: ASCII digits, 1 to 1440, at most once; absent means 60."""
    values = request.query.getall("minutes")
    if len(values) > 1:
        raise bottle.HTTPError(400, "give minutes once, e.g. ?minutes=60")
    raw = values[0] if values else "60"
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10 and 1 <= int(raw) <= 1440):
        raise bottle.HTTPError(400, BAD_MINUTES)
    return int(raw)


def _read(
    db: Path, use: Callable[[sqlite3.Connection], T], missing: T, snapshot: bool = False
) -> T:
    """What `use` reads from a readable file; `missing` for a file (or tables) not there yet;
    503 with the reason for a file that cannot be read."""
    try:
        return reader.read(db, use, snapshot)
    except reader.Unavailable as exc:
        if exc.state == "error":
            raise bottle.HTTPError(503, exc.reason) from None
        return missing


def _secure(response: bottle.BaseResponse) -> None:
    """Headers for every answer; a route may set a wider CSP or a longer cache first."""
    if "Content-Security-Policy" not in response.headers:
        response.set_header("Content-Security-Policy", DATA_CSP)
    if "Cache-Control" not in response.headers:
        response.set_header("Cache-Control", "no-cache")
    response.set_header("X-Content-Type-Options", "nosniff")
    response.set_header("Referrer-Policy", "no-referrer")


_LINES = {
    404: "not found; the page is at / (see also /healthz and /api/samples?minutes=60)",
    405: "method not allowed; use GET or HEAD",
    500: "internal error; the viewer's log has the details",
}


def _error(res: bottle.HTTPError) -> str:
    """Every error is one plain line: the reason for 400 and 503, a fixed line otherwise."""
    line = str(res.body) if res.status_code in (400, 503) else _LINES.get(res.status_code, "")
    bottle.response.content_type = "text/plain; charset=utf-8"
    _secure(bottle.response)
    return (line or res.status_line).replace("\n", " ") + "\n"
