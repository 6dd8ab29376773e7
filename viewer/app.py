"""make_app(db) -> Bottle: the page and its parts, three charts, JSON and CSV, /healthz, /metrics.

Every data route goes one way: the window (`minutes`, `end`) parsed once -> one read-only
snapshot -> facts and, where the answer is not cached, the window -> one rendered answer.
"""

import importlib.resources
import itertools
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import bottle

from viewer import answers, api, charts, facts, metrics, page, reader, rows, span, window
from viewer.answers import Answer
from viewer.cache import Caches
from viewer.cells import Ask
from viewer.facts import Facts, Status
from viewer.hosts import Hosts
from viewer.span import Span
from viewer.window import Window

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
    " img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
DATA_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
STATIC = {
    "viewer.js": "text/javascript; charset=utf-8",
    "viewer.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
HTML = "text/html; charset=utf-8"
SVG = "image/svg+xml; charset=utf-8"
JSON = "application/json"
CSV = "text/csv; charset=utf-8"
CHARTS = {"instant": charts.instant, "average": charts.average, "modes": charts.modes}
T = TypeVar("T")


class Context:
    """One request's read: the facts, the collector's state, and (on demand) the window."""

    def __init__(
        self, conn: sqlite3.Connection | None, f: Facts | None, st: Status, epoch: int = 0
    ) -> None:
        self.conn, self.facts, self.status, self.epoch = conn, f, st, epoch

    @property
    def key(self) -> tuple[object, ...]:
        return answers.facts_key(self.facts) if self.facts else (self.status.state,)


def make_app(
    db: Path,
    clock: Callable[[], float] = time.time,
    caches: Caches | None = None,
    hosts: Hosts | None = None,
) -> bottle.Bottle:
    """The viewer's WSGI app; everything it needs is passed in or built here, nothing global."""
    app = bottle.Bottle(catchall=True)
    store = Caches() if caches is None else caches
    allowed = Hosts.default("127.0.0.1") if hosts is None else hosts
    files = {  # gzipped once, here
        n: answers.make("", (importlib.resources.files("viewer") / "static" / n).read_bytes(), t)
        for n, t in STATIC.items()
    }
    source = metrics.Metrics(db, clock)
    registry = metrics.registry(source)  # the app's own: nothing global
    app.config["cpuload.metrics"] = source  # cpuload-viewer primes it once it listens
    app.add_hook("before_request", lambda: _check(bottle.request, allowed))
    app.add_hook("after_request", lambda: _secure(bottle.response))
    app.default_error_handler = _error

    def read(use: Callable[[Context], T], now: float) -> T:
        """`use` within one snapshot of the file; without a connection when there is no file
        or no table yet; 503 with the reason for a file that cannot be read."""

        def within(conn: sqlite3.Connection) -> T:
            found = facts.read(conn, db, now)
            epoch = store.grids.sync(conn, found)
            return use(Context(conn, found, facts.status(found, now), epoch))

        try:
            return reader.read(db, within, snapshot=True)
        except reader.Unavailable as exc:
            if exc.state == "error":
                raise bottle.HTTPError(503, exc.reason) from None
            return use(Context(None, None, facts.status(None, now, exc.reason, "no-data")))

    def drawn(ctx: Context, sp: Span, now: float) -> tuple[float, float]:
        """The window the page and the charts draw: a live one ends at now rounded up."""
        t1 = sp.t1
        if sp.live:
            t1 = window.live_end(now, ctx.status.interval or facts.DEFAULT_INTERVAL, sp.minutes)
        return t1 - 60 * sp.minutes, t1

    def _window(ctx: Context, t0: float, t1: float) -> Window:
        if ctx.conn is None or ctx.facts is None:
            return store.windows.get(("empty", t0, t1), lambda: window.empty(t0, t1))
        conn, found, epoch = ctx.conn, ctx.facts, ctx.epoch
        return store.windows.get(
            (t0, t1, ctx.key), lambda: window.build(conn, found, store.grids, t0, t1, epoch)
        )

    def rendered(key: tuple[object, ...], make: Callable[[], Answer]) -> Any:
        etag = answers.tag(*key)
        if answers.fresh(bottle.request, etag):
            return answers.not_modified(bottle.response, etag)
        answer = store.answers.get(etag, lambda: make()._replace(etag=etag))
        return answers.send(bottle.request, bottle.response, answer)

    def index() -> Any:
        now = clock()
        sp = _span(now)
        part = _part()

        def use(ctx: Context) -> Any:
            if part == "state":  # asked every few seconds by an open page: no window read
                html = page.state(db, ctx.status, now)
                state = lambda: answers.make("", html, HTML, PAGE_CSP)  # noqa: E731
                return rendered(_state_key(ctx, now), state)
            t0, t1 = drawn(ctx, sp, now)

            def key(name: str) -> tuple[object, ...]:
                if name == "state":
                    return _state_key(ctx, now)
                return ("page", name, sp.minutes, sp.live, t1, ctx.key)

            def make() -> Answer:
                win = _window(ctx, t0, t1)
                names = [part] if part else list(page.PARTS)
                parts = _parts(ctx, sp, win, now, names)
                tagged = {n: _tagged(n, html, answers.tag(*key(n))) for n, html in parts.items()}
                body = tagged[part] if part else page.document(sp, ctx.status, now, tagged)
                return answers.make("", body, HTML, PAGE_CSP)

            return rendered(key(part), make)

        try:
            return read(use, now)
        except bottle.HTTPError as exc:
            if exc.status_code != 503:
                raise
            st = facts.status(None, now, str(exc.body), "error")
            bottle.response.status = 503
            bottle.response.content_type = HTML
            bottle.response.set_header("Content-Security-Policy", PAGE_CSP)
            return page.document(sp, st, now, {"state": page.state(db, st, now)})

    def _parts(
        ctx: Context, sp: Span, win: Window, now: float, names: Iterable[str]
    ) -> dict[str, str]:
        out = {}
        for name in names:
            if name == "state":
                out[name] = page.state(db, ctx.status, now)
            elif name == "gaps":
                out[name] = page.gaps(win, sp.query())
            elif name == "means":
                out[name] = page.means(win, sp.query())
            else:
                out[name] = page.figure(name, win, CHARTS[name](win))
        return out

    def chart(name: str) -> Any:
        now = clock()
        sp = _span(now)

        def use(ctx: Context) -> Any:
            t0, t1 = drawn(ctx, sp, now)

            def make() -> Answer:
                svg = CHARTS[name](_window(ctx, t0, t1))
                csp = f"default-src 'none'; style-src {svg.style_hash}; frame-ancestors 'self'"
                return answers.make("", svg.document, SVG, csp)

            return rendered(("chart", name, sp.minutes, sp.live, t1, ctx.key), make)

        return read(use, now)

    def conditional(kind: str, answer: Callable[[Context, Span, str], Any]) -> Any:
        """A data route: the window asked, its weak ETag, 304 when the client has it already,
        else `answer` with the ETag to send."""
        now = clock()
        sp = _span(now)

        def use(ctx: Context) -> Any:
            etag = _weak(ctx, sp, now, kind)
            if answers.fresh(bottle.request, etag):
                return answers.not_modified(bottle.response, etag)
            return answer(ctx, sp, etag)

        return read(use, now)

    def samples(kind: str) -> Any:
        """/api/samples, /api/samples.csv and /api/modes: streamed from the first batch,
        which is read before the status line goes out."""

        def answer(ctx: Context, sp: Span, etag: str) -> Any:
            if kind == "samples":
                runs = ctx.facts.runs if ctx.facts else ()
                interval = facts.interval_at(runs, sp.t1)
                pairs = _pairs(db, ctx.conn, sp)
                body, mime = api.samples_json(pairs, runs, sp.t0, sp.t1, interval), JSON
            else:
                moded = ctx.facts is not None and ctx.facts.version >= 3
                batches = _rows(db, ctx.conn, moded, sp)
                if kind == "modes":
                    body, mime = api.modes_json(batches, sp.t0, sp.t1), JSON
                else:
                    body, mime = api.samples_csv(batches), CSV
            return answers.stream(bottle.request, bottle.response, etag, mime, body)

        return conditional(kind, answer)

    def averages(kind: str) -> Any:
        def answer(ctx: Context, sp: Span, etag: str) -> Any:
            chunks = _minute_chunks(ctx, sp)
            if kind == "averages":
                body, mime = api.averages(chunks, sp.t0, sp.t1), JSON
            else:
                body, mime = api.averages_csv(chunks), CSV
            return answers.stream(bottle.request, bottle.response, etag, mime, body)

        return conditional(kind, answer)

    def _minute_chunks(ctx: Context, sp: Span) -> Iterator[api.Minutes]:
        """Every minute of the window: up to a day from the kept minute cells, longer windows
        a day at a time (a year is 525,600 minutes: streamed, never held)."""
        starts = window.minute_starts(sp.t0, sp.t1)
        if ctx.conn is None or ctx.facts is None:
            return iter([[(m, None, 0) for m in starts]])
        if sp.minutes > window.TABLE_MINUTES:
            day = range(starts.start, min(starts.start + 1440 * 60, starts.stop), 60)
            first = rows.minute_means(ctx.conn, day)  # before the status line: a plain 503
            rest = range(day.stop, starts.stop, 60)
            return itertools.chain([first], rows.minute_chunks(db, rest))
        ask = Ask(ctx.facts.runs, ctx.facts.version >= 3, _newest(ctx.facts, sp.t1), ctx.epoch)
        found = store.grids.get(60.0).window(ctx.conn, ask, sp.t0, sp.t1)[1]
        return iter([api.minute_series(found, starts)])

    def gap_list() -> Any:
        def answer(ctx: Context, sp: Span, etag: str) -> Any:
            win = _window(ctx, sp.t0, sp.t1)
            made = answers.make(etag, api.gaps_json(win.gaps, sp.t0, sp.t1), JSON)
            return answers.send(bottle.request, bottle.response, made)

        return conditional("gaps", answer)

    def checked(conn: sqlite3.Connection, st: Status) -> Status:
        """Stale, and no collector holds the file: is it damaged? (Then the collector refused
        it or stopped on it, and "error" with the reason says more than "stale".) One check
        per state of the file, which does not change while nothing writes it."""
        key = reader.state_of(db)
        if st.state != "stale" or st.writing or key is None:
            return st
        try:
            reason = store.damage.get(key, lambda: reader.damage(conn, db))
        except sqlite3.OperationalError:
            return st  # a lock kept the check from a verdict: asked again next time
        return st if reason is None else st._replace(state="error", reason=reason)

    def healthz() -> bytes:
        now = clock()
        try:
            st = reader.read(
                db, lambda conn: checked(conn, facts.status(facts.read(conn, db, now), now))
            )
        except reader.Unavailable as exc:
            st = facts.status(
                None, now, exc.reason, "no-data" if exc.state == "no-data" else "error"
            )
        code, body = api.health(db, st)
        bottle.response.status = code
        answer = answers.make("", json.dumps(body), JSON)
        return answers.send(bottle.request, bottle.response, answer, tagged=False)

    def static(name: str) -> bytes:
        if name not in STATIC:  # a fixed whitelist: no path from the request reaches the disk
            raise bottle.HTTPError(404)
        bottle.response.set_header("Cache-Control", "public, max-age=31536000, immutable")
        return answers.send(bottle.request, bottle.response, files[name], tagged=False)

    for path, route in (
        ("/", index),
        ("/charts/<name:re:instant|average|modes>.svg", chart),
        ("/api/samples", lambda: samples("samples")),
        ("/api/samples.csv", lambda: samples("samples.csv")),
        ("/api/modes", lambda: samples("modes")),
        ("/api/averages", lambda: averages("averages")),
        ("/api/averages.csv", lambda: averages("averages.csv")),
        ("/api/gaps", gap_list),
        ("/healthz", healthz),
        ("/metrics", lambda: metrics.answer(registry, bottle.request, bottle.response)),
        ("/static/<name>", static),
    ):
        app.route(path, "GET", route)
    return app


def _check(request: bottle.BaseRequest, allowed: Hosts) -> None:
    """Before any route: an allowed Host, and a path that is UTF-8 (bottle drops the bytes it
    cannot decode, so /%FF would otherwise be taken for /)."""
    allowed.check(request)
    try:
        request.environ.get("bottle.raw_path", "").encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise bottle.HTTPError(404) from None


def _span(now: float) -> Span:
    query = bottle.request.query
    try:
        return span.parse(query.getall("minutes"), query.getall("end"), now)
    except span.BadParameter as exc:
        raise bottle.HTTPError(400, str(exc)) from None


def _part() -> str:
    values = bottle.request.query.getall("part")
    if not values:
        return ""
    if len(values) > 1 or values[0] not in page.PARTS:
        raise bottle.HTTPError(400, f"part must be one of {', '.join(page.PARTS)}, given once")
    return str(values[0])


def _tagged(name: str, html: str, etag: str) -> str:
    """A part's root element carries its ETag: the page's script asks "changed since?"."""
    if not etag:
        return html
    return html.replace(f'id="{name}"', f"id=\"{name}\" data-etag='{etag}'", 1)


def _state_key(ctx: Context, now: float) -> tuple[object, ...]:
    """The state part changes with a new sample or a new collector state; while no collector
    writes, once a minute too, so an open page redraws a growing gap now and then."""
    tick = int(now // 60) if ctx.status.state != "running" else 0
    return ("state", ctx.status.state, ctx.status.interval, ctx.key, tick)


def _weak(ctx: Context, sp: Span, now: float, kind: str) -> str:
    """JSON and CSV end a live window at the exact time; their ETag at the interval's step."""
    interval = ctx.status.interval or facts.DEFAULT_INTERVAL
    t1 = window.live_end(now, interval, sp.minutes) if sp.live else sp.t1
    return answers.tag(kind, sp.minutes, sp.live, t1, ctx.key, weak=sp.live)


def _newest(found: Facts, t1: float) -> float:
    return found.newest[0] if found.newest else t1


def _pairs(db: Path, conn: sqlite3.Connection | None, sp: Span) -> Iterator[list[rows.Pair]]:
    """The window's (ts, cpu), the first batch read now on `conn` (before the status line)."""
    if conn is None:
        return iter(())
    return api.pair_stream(db, sp.t1, rows.stamped(conn, None, sp.t0, sp.t1))


def _rows(
    db: Path, conn: sqlite3.Connection | None, moded: bool, sp: Span
) -> Iterator[list[rows.Row]]:
    """The window's samples with their modes, the first batch read now on `conn`."""
    if conn is None:
        return iter(())
    return api.row_stream(db, moded, sp.t1, rows.batch(conn, moded, sp.t0, sp.t1))


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
    if res.status_code == 405:
        bottle.response.set_header("Allow", "GET, HEAD")
    _secure(bottle.response)
    return (line or res.status_line).replace("\n", " ") + "\n"
