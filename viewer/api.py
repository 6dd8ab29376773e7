"""The JSON and CSV answers. Samples and modes are streamed in batches, so a year at 5 s
(6.3 million samples) never sits in memory; gaps are found from the same rows."""

import csv
import functools
import io
import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.schema import MODES
from viewer import gaps, reader, rows
from viewer.cells import Means
from viewer.facts import Run, Status, stretch_limits
from viewer.gaps import Gap
from viewer.rows import P, Pair, Row

SAMPLES_CSV = ("ts", "time_utc", "cpu", *MODES)
AVERAGES_CSV = ("minute", "time_utc", "avg", "count")


class Truncated(Exception):
    """A batch after the first could not be read: the answer is cut off where it stands."""


class Spans:
    """Gaps found while rows stream past: the same rule as viewer/gaps.py, in one pass, with
    each stretch of equal interval's gap limit looked up once (as cells.gap_ends does)."""

    def __init__(self, runs: Sequence[Run], t0: float, t1: float) -> None:
        self.runs, self.t0, self.t1 = runs, t0, t1
        self.starts, self.limits = stretch_limits(runs, t0, t1)
        self.k = 0
        self.stretches: list[tuple[float, float]] = []
        self.first = self.last = math.nan  # the open stretch; nan before the first sample

    def feed(self, stamps: Iterable[float]) -> None:
        k, starts, limits, found = self.k, self.starts, self.limits, self.stretches
        first, last = self.first, self.last
        for ts in stamps:
            while ts >= starts[k]:
                k += 1
            if not ts - last <= limits[k]:  # also true for the first sample (last is nan)
                if not math.isnan(last):
                    found.append((first, last))
                first = ts
            last = ts
        self.k, self.first, self.last = k, first, last

    def found(self) -> list[tuple[float, float]]:
        open_one = [] if math.isnan(self.last) else [(self.first, self.last)]
        seen = self.stretches + open_one
        holes = gaps.holes(seen, self.runs, self.t0, self.t1, None, None)
        return [(h.start, h.end) for h in holes]


def stream(first: list[P], more: Callable[[float], Iterator[list[P]]]) -> Iterator[list[P]]:
    """`first` (read before the status line went out, so an unreadable file is a plain 503),
    then `more(after)`, the batches after first's last stamp. A later batch that fails can
    only cut the answer short: the stream raises Truncated and the server drops the
    connection (no closing chunk), so a client sees an incomplete transfer rather than a
    well-formed but partial answer."""
    if first:
        yield first
    if len(first) < rows.BATCH:
        return
    try:
        yield from more(first[-1][0])
    except reader.Unavailable as exc:
        raise Truncated(f"{exc.reason}; the answer was cut short") from None


def pair_stream(db: Path, t1: float, first: list[Pair]) -> Iterator[list[Pair]]:
    """(ts, cpu) up to t1: `first`, then rows.stamped_batches() after it."""
    return stream(first, functools.partial(rows.stamped_batches, db, None, t1=t1))


def row_stream(db: Path, moded: bool, t1: float, first: list[Row]) -> Iterator[list[Row]]:
    """Samples with their modes up to t1: `first`, then rows.batches() after it."""
    return stream(first, functools.partial(rows.batches, db, moded, t1=t1))


def samples_json(
    batches: Iterable[list[Pair]], runs: Sequence[Run], t0: float, t1: float, interval: float
) -> Iterator[bytes]:
    """{"from", "to", "interval", "samples": [[ts, cpu], ...], "gaps": [[start, end], ...]}
    from (ts, cpu) batches, as rows.stamped() reads them: no Row, no modes, for speed."""
    head = json.dumps({"from": t0, "to": t1, "interval": interval})
    yield (head[:-1] + ', "samples": [').encode()
    spans, comma = Spans(runs, t0, t1), ""
    for batch in batches:
        spans.feed(ts for ts, _ in batch)
        yield (comma + json.dumps(batch)[1:-1]).encode()
        comma = ","
    yield ('], "gaps": ' + json.dumps([list(g) for g in spans.found()]) + "}").encode()


def modes_json(batches: Iterable[list[Row]], t0: float, t1: float) -> Iterator[bytes]:
    """{"from", "to", "modes": [...], "samples": [[ts, cpu, user, ...], ...]}"""
    head = json.dumps({"from": t0, "to": t1, "modes": list(MODES)})
    yield (head[:-1] + ', "samples": [').encode()
    comma = ""
    for batch in batches:
        body = [[r.ts, r.cpu, *(r.modes or (None,) * len(MODES))] for r in batch]
        yield (comma + json.dumps(body)[1:-1]).encode()
        comma = ","
    yield b"]}"


def samples_csv(batches: Iterable[list[Row]]) -> Iterator[bytes]:
    """ts,time_utc,cpu,user,...: one line per sample; empty fields where modes are unknown."""
    yield _csv([SAMPLES_CSV])
    for batch in batches:
        yield _csv([r.ts, utc(r.ts), r.cpu, *(r.modes or ("",) * len(MODES))] for r in batch)


Minutes = list[tuple[int, float | None, int]]


def averages(chunks: Iterable[Minutes], t0: float, t1: float) -> Iterator[bytes]:
    """{"from", "to", "averages": [[minute, avg, count], ...]}, a chunk of minutes at a time."""
    head = json.dumps({"from": t0, "to": t1})
    yield (head[:-1] + ', "averages": [').encode()
    comma = ""
    for chunk in chunks:
        if chunk:
            yield (comma + json.dumps([list(m) for m in chunk])[1:-1]).encode()
            comma = ","
    yield b"]}"


def averages_csv(chunks: Iterable[Minutes]) -> Iterator[bytes]:
    yield _csv([AVERAGES_CSV])
    for chunk in chunks:
        yield _csv([m, utc(m), "" if avg is None else avg, n] for m, avg, n in chunk)


def minute_series(
    found: Iterable[Means], starts: Iterable[int]
) -> list[tuple[int, float | None, int]]:
    """(minute, avg, count) for every minute in `starts`; avg None where count is 0."""
    known = {int(m.start): m for m in found}
    return [(m, known[m].mean, known[m].samples) if m in known else (m, None, 0) for m in starts]


def gaps_json(found: Sequence[Gap], t0: float, t1: float) -> bytes:
    body = [
        {
            "start": g.start,
            "end": g.end,
            "seconds": g.seconds,
            "cause": g.cause,
            "detail": g.detail,
        }
        for g in found
    ]
    return json.dumps({"from": t0, "to": t1, "gaps": body}).encode()


def health(db: Path, st: Status) -> tuple[int, dict[str, Any]]:
    """200 with status "ok" while the newest sample is younger than 3 x interval; else 503."""
    body: dict[str, Any] = {"status": "ok" if st.state == "running" else st.state}
    if st.newest is not None:
        body["last_sample"] = st.newest[0]
        body["last_sample_age"] = st.age
    if st.interval is not None:
        body["interval"] = st.interval
    body["db"] = str(db)
    if st.reason:
        body["reason"] = st.reason
    return (200 if st.state == "running" else 503), body


def utc(ts: float) -> str:
    """ISO 8601 in UTC with Z; milliseconds only where the stamp has them."""
    moment = datetime.fromtimestamp(ts, UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _csv(lines: Iterable[Sequence[object]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(lines)
    return out.getvalue().encode()
