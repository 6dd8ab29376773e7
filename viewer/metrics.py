"""/metrics: what the collector measured, as Prometheus counters and gauges.

The counters (viewer/totals.py) start at the sums over the whole file when the viewer starts:
cpuload-viewer reads them in a thread of their own once it listens (prime()), so a start is
not delayed by a year of samples (about 4 s), and a scrape that comes first simply waits for
them. From then on each scrape adds the samples newer than the newest one counted, once, so
the counters never go down while the viewer runs, whatever retention deletes. After the clock
steps back, samples stamped before the newest one counted are missed (docs/fleet.md says so).
"""

import gzip
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import bottle
from prometheus_client import exposition
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from shared.schema import MODES
from viewer import answers, facts, reader, totals
from viewer.facts import Run, State, Status
from viewer.totals import Closed, Sample, Totals

HELP = {
    "busy": "Seconds of CPU time busy, summed over samples: cpu / 100 x interval.",
    "sampled": "Seconds covered by samples: the sum of their intervals; gaps add nothing.",
    "mode": "Seconds spent in each CPU mode, summed over samples that carry modes.",
    "gap": "Seconds of gaps between samples, added when a gap closes, by its cause.",
    "last": "Unix time of the newest sample (the end of its window).",
    "percent": "Percent of all CPUs busy over the newest sample's window.",
    "up": "1 while the newest sample is younger than 3 intervals (/healthz says ok), else 0.",
}


class Scrape(NamedTuple):
    """What one scrape read: the collector's state, and either the sums over the whole file
    (the first time) or the samples and gaps since the newest sample counted."""

    status: Status
    runs: tuple[Run, ...] = ()
    whole: Totals | None = None
    new: tuple[Sample, ...] = ()
    closed: tuple[Closed, ...] = ()


class Metrics(Collector):
    """Reads the database at each scrape; one scrape at a time (waitress runs four threads,
    and two scrapes counting the same new samples would count them twice)."""

    def __init__(self, db: Path, clock: Callable[[], float] = time.time) -> None:
        self.db, self.clock = db, clock
        self.totals: Totals | None = None  # None until a scrape found a sample
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        with self._lock:
            try:
                got = reader.read(self.db, lambda conn: self._read(conn, now), snapshot=True)
            except reader.Unavailable as exc:
                state: State = "no-data" if exc.state == "no-data" else "error"
                got = Scrape(facts.status(None, now, exc.reason, state))
            if got.whole is not None:
                self.totals = got.whole
            elif self.totals is not None:
                self.totals.add(got.new, got.runs, got.closed)
            counted = self.totals.copy() if self.totals else None
        return iter(families(got.status, counted))

    def prime(self) -> None:
        """The sums over the whole file, now: the counters' start (see the module)."""
        for _ in self.collect():
            pass

    def _read(self, conn: sqlite3.Connection, now: float) -> Scrape:
        """Reads only: reader.read runs it again after a transient failure."""
        f = facts.read(conn, self.db, now)
        st = facts.status(f, now)
        if self.totals is None or self.totals.last is None:
            # Zeros for a file with no sample yet: the counters are there from the start.
            return Scrape(st, f.runs, totals.whole_file(conn, f, now))
        new, closed = totals.newer(conn, f, self.totals.last, now)
        return Scrape(st, f.runs, None, tuple(new), tuple(closed))


def families(st: Status, counted: Totals | None) -> list[Metric]:
    """The metric families of one scrape: gauges from the state, counters from the sums."""
    out: list[Metric] = []
    if st.newest is not None:
        last = GaugeMetricFamily(
            "cpuload_last_sample_timestamp_seconds", HELP["last"], unit="seconds"
        )
        last.add_metric([], st.newest[0])
        busy = GaugeMetricFamily("cpuload_cpu_busy_percent", HELP["percent"], unit="percent")
        busy.add_metric([], st.newest[1])
        out += [last, busy]
    up = GaugeMetricFamily("cpuload_collector_up", HELP["up"])
    up.add_metric([], 1.0 if st.state == "running" else 0.0)
    out.append(up)
    if counted is None:
        return out
    out.append(
        CounterMetricFamily("cpuload_busy_seconds", HELP["busy"], counted.busy, unit="seconds")
    )
    out.append(
        CounterMetricFamily(
            "cpuload_sampled_seconds", HELP["sampled"], counted.sampled, unit="seconds"
        )
    )
    modes = CounterMetricFamily(
        "cpuload_mode_seconds", HELP["mode"], labels=["mode"], unit="seconds"
    )
    for mode, seconds in zip(MODES, counted.modes, strict=True):
        modes.add_metric([mode], seconds)
    gap = CounterMetricFamily("cpuload_gap_seconds", HELP["gap"], labels=["cause"], unit="seconds")
    for cause, seconds in counted.gaps.items():
        gap.add_metric([cause], seconds)
    return [*out, modes, gap]


def registry(source: Metrics) -> CollectorRegistry:
    """A registry of the viewer's own, never prometheus_client's global one."""
    own = CollectorRegistry(auto_describe=False)
    own.register(source)
    return own


def answer(
    own: CollectorRegistry, request: bottle.BaseRequest, response: bottle.BaseResponse
) -> bytes:
    """Prometheus text, or OpenMetrics when the Accept header asks for it (prometheus_client
    decides, as its own server does); gzipped for a client that accepts it."""
    try:
        encode, content_type = exposition.choose_encoder(request.get_header("Accept", ""))
    except (TypeError, ValueError):  # e.g. version=abc, which it compares with numbers
        encode, content_type = exposition.choose_encoder("")  # as if none was named: text
    body = encode(own)
    etag = answers.tag("metrics", content_type, body)
    response.set_header("Vary", "Accept, Accept-Encoding")
    if answers.fresh(request, etag):
        return answers.not_modified(response, etag)
    response.content_type = content_type
    response.set_header("ETag", etag)
    if answers.accepts_gzip(request):
        response.set_header("Content-Encoding", "gzip")
        return gzip.compress(body, compresslevel=6, mtime=0)
    return body
