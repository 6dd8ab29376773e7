"""Throughput of the page under concurrent clients: wrk from Debian, else Python threads."""

import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.children import ChildError, Server
from bench.history import History
from bench.http_client import Client, HttpError
from bench.stats import Row, error_row, single, summarise
from bench.viewer_bench import NOT_FOUND

SECTION = "load"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def wrk_ms(text: str, percent: int) -> float:
    found = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE)
    if not found:
        raise ValueError(f"no {percent}% latency in wrk's output")
    return float(found[1]) * UNITS[found[2]]


def parse_wrk(text: str) -> Load:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.MULTILINE)
    if not rps:
        raise ValueError(f"wrk printed no Requests/sec: {text[-300:]!r}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors:.*", text)
    count = int(bad[1]) if bad else 0
    return Load(float(rps[1]), wrk_ms(text, 50), wrk_ms(text, 99), count + bool(errors))


def run_wrk(wrk: str, url: str, clients: int, seconds: float, history: History) -> Load:
    """wrk for `seconds`, while a new sample lands every 5 s as it would from the collector."""
    argv = [wrk, f"-t{min(2, clients)}", f"-c{clients}", f"-d{round(seconds)}s", "--latency", url]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while proc.poll() is None:
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            history.add_newest()
    return parse_wrk(proc.communicate()[0])


def run_threads(port: int, path: str, clients: int, seconds: float, history: History) -> Load:
    """The same with Python threads, for a machine without wrk (it saturates sooner)."""
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    def client() -> None:
        c = Client(port)
        while time.monotonic() < deadline:
            latencies.append(c.timed_ms(path, 404 if path == NOT_FOUND else 200))
        c.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        threads[0].join(5)
        history.add_newest()
    s = summarise(latencies)
    return Load(len(latencies) / seconds, s.p50, sorted(latencies)[int(0.99 * len(latencies))], 0)


def run(server: Server, path: str, clients: int, seconds: float) -> Load:
    wrk = shutil.which("wrk")
    if wrk is None:
        return run_threads(server.client.port, path, clients, seconds, server.history)
    url = f"http://{server.client.host}:{server.client.port}{path}"
    return run_wrk(wrk, url, clients, seconds, server.history)


def row(page: Load, floor: Load, clients: int, seconds: float) -> Row:
    note = (
        f"{seconds:g} s with {'wrk' if shutil.which('wrk') else 'Python threads'};"
        f" latency p50 {page.p50_ms:.2f} ms, p99 {page.p99_ms:.2f} ms"
        f"; a new sample every 5 s; {page.errors} errors"
    )
    label = "the same server answering a 404 (the stack's ceiling)"
    figure = f"GET / throughput, {clients} clients"
    return Row(SECTION, figure, "req/s", single(page.rps), floor.rps, label, None, note)


def measure(history: History, work: Path, seconds: float) -> list[Row]:
    """The page with 4 and 32 concurrent clients, each beside a 404's throughput."""
    server: Server | None = None
    try:
        history.top_up()
        server = Server("load", history, work)
        server.client.fetch("/")
        rows = []
        for clients in (4, 32):
            page = run(server, "/", clients, seconds)
            floor = run(server, NOT_FOUND, clients, seconds)
            rows.append(row(page, floor, clients, seconds))
        return rows
    except (ChildError, HttpError, OSError, ValueError) as exc:
        return [error_row(SECTION, "GET / throughput", "req/s", f"{type(exc).__name__}: {exc}")]
    finally:
        if server is not None:
            server.stop()
