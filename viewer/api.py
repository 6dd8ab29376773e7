"""The JSON answers: /api/samples streamed in batches, /api/averages and /healthz."""

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from viewer import aggregate, queries
from viewer.aggregate import Gap, Run
from viewer.window import Status


def samples_stream(
    db: Path, runs: list[Run], interval: float, t0: float, t1: float
) -> Iterator[bytes]:
    """{"from", "to", "interval", "samples", "gaps"}, written as the rows are read, so a day at
    0.1 s (864,000 samples) never sits in memory; gaps are found from the same rows."""
    head = {"from": t0, "to": t1, "interval": interval}
    yield (json.dumps(head)[:-1] + ', "samples": [').encode()
    inner: list[Gap] = []
    first = last = None
    for batch in queries.sample_batches(db, t0, t1):
        stamps = [ts for ts, _ in batch]
        if last is not None:
            stamps.insert(0, last)
        inner += aggregate.inner_gaps(itertools.pairwise(stamps), runs)
        body = json.dumps(batch)[1:-1]
        yield (("," if first is not None else "") + body).encode()
        first = batch[0][0] if first is None else first
        last = batch[-1][0]
    gaps = aggregate.window_gaps(first, last, inner, runs, t0, t1)
    yield ('], "gaps": ' + json.dumps([[g.start, g.end] for g in gaps]) + "}").encode()


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
