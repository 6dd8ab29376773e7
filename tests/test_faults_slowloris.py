"""Fault 10: clients that send their headers slowly, or broken requests, on real sockets.

512 connections that each trickled a header line every 5 s used to hold every slot for as long
as they trickled: waitress's idle timeout counts from the last byte. viewer/server.py closes a
connection whose request headers are not complete within HEADER_TIMEOUT s of their first byte.
"""

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from waitress.adjustments import Adjustments

from tests.conftest import Child
from tests.fault_figures import FaultFigures
from tests.test_reader import make_db
from tests.test_viewer_process import VIEWER, get, start_viewer
from viewer.server import CONNECTIONS, HEADER_TIMEOUT, SECURITY_HEADERS

Spawn = Callable[..., Child]


@pytest.fixture
def viewer(tmp_path: Path, spawn: Spawn, base_env: dict[str, str]) -> Iterator[tuple[Child, str]]:
    db = make_db(tmp_path / "c.db", [(time.time() - 1, 5.0)], [(time.time() - 10, 1.0)])
    yield start_viewer(spawn, [*VIEWER, "--db", str(db), "--port", "0"], base_env)


def address(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").rstrip("/").rsplit(":", 1)
    return host, int(port)


def closed_after(sock: socket.socket, limit: float) -> float:
    """Seconds until the server closes `sock` (recv returns nothing), waiting up to `limit`."""
    began = time.monotonic()
    sock.settimeout(limit)
    try:
        data = sock.recv(65536)
    except TimeoutError:
        pytest.fail(f"the connection was still open after {limit} s")
    assert data == b"", data[:200]  # closed without an answer
    return time.monotonic() - began


@pytest.mark.slow
def test_headers_that_never_end_are_cut_off_even_on_an_idle_server(
    viewer: tuple[Child, str], faults: FaultFigures
) -> None:
    """~11 s: half a request, then silence. The idle timeout alone would wait 30 s and the
    event loop, idle, sleeps 30 s at a time: the deadline holds all the same."""
    _, base = viewer
    with socket.create_connection(address(base)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        seconds = closed_after(sock, HEADER_TIMEOUT + 10)
    assert HEADER_TIMEOUT - 0.5 <= seconds <= HEADER_TIMEOUT + 2.5, seconds
    faults.record("half a request, then silence: closed after", seconds, "s")


class Trickle(threading.Thread):
    """`count` connections that each send one more header line every `every` seconds."""

    def __init__(self, where: tuple[str, int], count: int, every: float) -> None:
        super().__init__(daemon=True)
        self.socks = [socket.create_connection(where) for _ in range(count)]
        for sock in self.socks:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        self.every = every
        self.done = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.done.wait(self.every):
            n += 1
            for sock in self.socks:
                with contextlib.suppress(OSError):  # closed by the server: as it should be
                    sock.sendall(f"X-Slow-{n}: still coming\r\n".encode())

    def close(self) -> None:
        self.done.set()
        self.join(10)
        for sock in self.socks:
            sock.close()


@pytest.mark.slow
def test_512_trickling_connections_lock_nobody_out_for_longer_than_the_header_deadline(
    viewer: tuple[Child, str], faults: FaultFigures
) -> None:
    """~12 s: every slot taken by a connection that sends a header line every 5 s."""
    child, base = viewer
    trickle = Trickle(address(base), CONNECTIONS, 5.0)
    trickle.start()
    try:
        time.sleep(0.5)  # let the viewer accept them all, so the next client waits for a slot
        began = time.monotonic()
        answer = raw(
            base, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        waited = time.monotonic() - began
    finally:
        trickle.close()
    child.check_alive()
    assert answer.startswith((b"HTTP/1.1 200 ", b"HTTP/1.1 503 ")), answer[:100]
    assert waited <= HEADER_TIMEOUT + 3, waited
    faults.record("connections trickling a header line every 5 s", CONNECTIONS)
    faults.record("an honest client's /healthz answered after", waited, "s")
    status = answer.split(b"\r\n", 1)[0].decode("latin-1")
    faults.record("its status line (503: /healthz saying stale, as no collector runs)", status)
    print(f"\n{CONNECTIONS} trickling connections; an honest client waited {waited:.1f} s")


# Exactly waitress's limit and no end of headers: it reads it all, answers 431 and closes
# cleanly (more bytes would be left unread, and the close would reset the connection).
_START = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: "
TOO_LONG = _START + b"a" * (Adjustments.max_request_header_size - len(_START))


def raw(base: str, request: bytes) -> bytes:
    """Send `request` as is and read the answer to its end (a slow one: up to 30 s)."""
    with socket.create_connection(address(base), timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"BREW / COFFEE/1.0\r\n\r\n", b"400"),
        (TOO_LONG, b"431"),
        (b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 9999999999\r\n\r\n", b"413"),
    ],
    ids=["400", "431", "413"],
)
def test_waitress_own_error_answers_carry_the_security_headers(
    viewer: tuple[Child, str], request_bytes: bytes, status: bytes, faults: FaultFigures
) -> None:
    _, base = viewer
    answer = raw(base, request_bytes)
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    assert head.split()[1] == status.decode(), head
    for name, value in SECURITY_HEADERS:
        assert f"{name.lower()}: {value.lower()}" in head, (name, head)
    assert get(base + "healthz")[0] in (200, 503)  # and the viewer serves on
    carried = sum(f"{name.lower()}: {value.lower()}" in head for name, value in SECURITY_HEADERS)
    faults.record(
        f"waitress's own {status.decode()}: security headers it carried",
        f"{carried} of {len(SECURITY_HEADERS)}",
    )


def main_thread_wakes(pid: int) -> int:
    status = Path(f"/proc/{pid}/task/{pid}/status").read_text()
    return int(status.split("voluntary_ctxt_switches:")[1].split()[0])


@pytest.mark.slow
def test_an_idle_viewer_does_not_wake_every_second(
    viewer: tuple[Child, str], faults: FaultFigures
) -> None:
    """~6 s. Waitress's loop wakes every second by default (1.3 CPU-s an hour idle here)."""
    child, base = viewer
    assert get(base + "healthz")[0] in (200, 503)
    time.sleep(1.5)  # the connection's close, then nothing
    before = main_thread_wakes(child.pid)
    time.sleep(4)
    woke = main_thread_wakes(child.pid) - before
    assert woke <= 1
    faults.record("an idle viewer's main thread: wake-ups in 4 s", woke)
