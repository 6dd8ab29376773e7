"""The JSON answers: /api/samples streamed in batches, /api/averages and /healthz."""

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from viewer import aggregate, queries, reader
from viewer.aggregate import Gap, Run
from viewer.window import Status


class Truncated(Exception):
    """A batch after the first could not be read: the answer is cut off where it stands."""


def samples_stream(
    db: Path, runs: list[Run], t0: float, t1: float, first: list[tuple[float, float]]
) -> Iterator[bytes]:
    """{"from", "to", "interval", "samples", "gaps"}, written as the rows are read, so a day at
    0.1 s (864,000 samples) never sits in memory; gaps are found from the same rows.

    `first` is the first batch, read before the status line went out, so a file that cannot
    be read gets a plain 503. A later batch that fails can only cut the answer short: the
    stream raises Truncated and the server drops the connection (no closing chunk), so a
    client sees an incomplete transfer rather than a well-formed but partial answer.
    """
    interval = aggregate.latest_interval(runs)
    head = {"from": t0, "to": t1, "interval": interval}
    yield (json.dumps(head)[:-1] + ', "samples": [').encode()
    inner: list[Gap] = []
    start = last = None
    for batch in _batches(db, t1, first):
        stamps = [ts for ts, _ in batch]
        if last is not None:
            stamps.insert(0, last)
        inner += aggregate.inner_gaps(itertools.pairwise(stamps), runs)
        body = json.dumps(batch)[1:-1]
        yield (("," if start is not None else "") + body).encode()
        start = batch[0][0] if start is None else start
        last = batch[-1][0]
    gaps = aggregate.window_gaps(start, last, inner, runs, t0, t1)
    yield ('], "gaps": ' + json.dumps([[g.start, g.end] for g in gaps]) + "}").encode()


def _batches(
    db: Path, t1: float, first: list[tuple[float, float]]
) -> Iterator[list[tuple[float, float]]]:
    if first:
        yield first
    if len(first) < queries.BATCH:
        return
    try:
        yield from queries.sample_batches(db, first[-1][0], t1)
    except reader.Unavailable as exc:
        raise Truncated(f"{exc.reason}; the answer was cut short") from None


def averages(rows: list[tuple[int, float | None, int]], t0: float, t1: float) -> dict[str, Any]:
    return {"from": t0, "to": t1, "averages": [list(r) for r in rows]}


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
