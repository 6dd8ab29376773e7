"""Fault 7: hostile requests against the real waitress process: fuzzing, raw sockets, traversal."""

import re
import socket
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import routes
from tests.conftest import Child, wait_for
from tests.fault_figures import FaultFigures
from tests.test_viewer_process import COLLECTOR, VIEWER, get, start_collector, start_viewer

Spawn = Callable[..., Child]
ROUTES = (*routes.ALL, "/static/", "/charts/", "/api/")  # and prefixes, for the fuzzer
CANARY = "canary-7f3a9c1e-not-for-the-web"
# What must never come back: a file outside the app, the database, or a Python traceback.
LEAKS = ("root:x:0:0", CANARY, "SQLite format 3", "def make_app", "Traceback", 'File "/')


@dataclass
class Answer:
    status: int  # 0: the server closed the connection without an answer
    head: str
    body: bytes


@dataclass
class Server:
    base: str
    port: int
    viewer: Child
    root: Path

    def send(self, raw: bytes, timeout: float = 10) -> list[Answer]:
        """Send raw bytes, half-close, and read every answer until the server closes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            try:
                s.sendall(raw)
                s.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                pass  # it may answer and close before reading everything
            data = b""
            try:
                while chunk := s.recv(65536):
                    data += chunk
            except ConnectionResetError:
                pass
        return split_answers(data)

    def get(self, target: str, extra: str = "") -> Answer:
        raw = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n"
        answers = self.send(raw.encode("utf-8", "surrogateescape"))
        assert len(answers) == 1, (target, answers)
        return answers[0]


def split_answers(data: bytes) -> list[Answer]:
    """The HTTP/1.1 answers in a byte stream, by Content-Length (the viewer always sends it or
    closes after the body)."""
    answers = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        found = re.match(rb"HTTP/1\.[01] (\d{3})", head)
        assert found and sep, f"not an HTTP answer: {data[:200]!r}"
        length = re.search(rb"\r\nContent-Length: (\d+)", head, re.I)
        size = int(length[1]) if length else len(rest)
        answers.append(Answer(int(found[1]), head.decode("latin-1"), rest[:size]))
        data = rest[size:]
    return answers


def assert_harmless(answer: Answer, what: object) -> None:
    assert answer.status < 500, (what, answer.status, answer.body[:300])
    text = answer.head + answer.body.decode("utf-8", "replace")
    for leak in LEAKS:
        assert leak not in text, (what, leak)
    assert "\r\nx-injected" not in answer.head.lower(), what
    assert "\r\nset-cookie" not in answer.head.lower(), what


@pytest.fixture
def server(tmp_path: Path, spawn: Spawn, base_env: dict[str, str]) -> Iterator[Server]:
    """A live collector (so /healthz is 200) and the viewer, with a canary file beside the DB."""
    root = tmp_path / "state"
    root.mkdir()
    (root / "canary.txt").write_text(CANARY)
    db = root / "cpuload.db"
    start_collector(spawn, [*COLLECTOR, "--db", str(db), "--interval", "0.5"], base_env)
    # Raw requests below name the host "x": allowed here, refused by the default (tested apart).
    argv = [*VIEWER, "--db", str(db), "--port", "0", "--allowed-hosts", "x,127.0.0.1"]
    viewer, base = start_viewer(spawn, argv, base_env)
    wait_for(lambda: get(base + "healthz")[0] == 200, 15, "healthz ok")
    yield Server(base, int(base.rsplit(":", 1)[1].strip("/")), viewer, root)
    viewer.check_alive()
    assert "Traceback" not in viewer.output()


URL_CHARS = st.characters(codec="utf-8", exclude_characters="\r\n \t#")
# Arabic-Indic and fullwidth digits pass str.isdigit() but are not ASCII.
TRICKY = st.sampled_from(
    (
        *("1e3", "0x3c", "\u0663", "\uff11", " 60", "60 ", "+60", "-0", "60.0", "0", "1441"),
        *("00060", "%00", "%ff", "%", "%%", "%2", "%c0%af", "%0d%0aX-Injected:%20yes", "\x00"),
        "6&minutes=6",
    )
)
VALUES = st.one_of(
    st.integers(-(10**20), 10**20).map(str), st.text(URL_CHARS, max_size=20), TRICKY
)
KEYS = st.one_of(st.sampled_from(["minutes", "Minutes", "minutes[]", "", "x"]), st.text(URL_CHARS))
QUERIES = st.lists(st.tuples(KEYS, VALUES), max_size=4).map(
    lambda pairs: "&".join(f"{k}={v}" for k, v in pairs)
)
PATHS = st.tuples(st.sampled_from(ROUTES), st.text(URL_CHARS, max_size=24), st.booleans()).map(
    lambda t: t[0] + (urllib.parse.quote(t[1], safe="/%") if t[2] else t[1])
)


@pytest.mark.slow
def test_fuzzed_paths_and_query_strings_never_get_a_5xx_a_traceback_or_a_file(
    server: Server, faults: FaultFigures
) -> None:
    """~1 s: 400 examples, each a raw request to the real waitress process."""
    tried: list[str] = []

    @settings(
        max_examples=400,
        deadline=5000,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(PATHS, QUERIES)
    def fuzz(path: str, query: str) -> None:
        target = f"{path}?{query}" if query else path
        tried.append(target)
        answers = server.send(
            f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        assert len(answers) == 1, target
        assert_harmless(answers[0], target)

    fuzz()
    assert len(tried) >= 400
    faults.record("fuzzed requests (hypothesis), none answered 5xx", len(tried))
    print(f"\nfuzz: {len(tried)} requests, every one below 500, no leak, no traceback")


MALFORMED: dict[str, bytes] = {
    "huge header": b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 300_000 + b"\r\n\r\n",
    "many headers": b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 20_000 + b"\r\n",
    "huge request line": b"GET /?minutes=" + b"6" * 300_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "garbage": b"GARBAGE\r\n\r\n",
    "no target": b"GET\r\n\r\n",
    "only CRLFs": b"\r\n\r\n\r\n\r\n",
    "binary": bytes(range(256)) + b"\r\n\r\n",
    "HTTP/9.9": b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    "HTTP/0.9": b"GET /\r\n",
    "extra words": b"GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n",
    "raw invalid UTF-8 in the path": b"GET /\xff\xfe/\xc0\xaf HTTP/1.1\r\nHost: x\r\n\r\n",
    "raw invalid UTF-8 in the query": b"GET /?minutes=\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
    "raw invalid UTF-8 in a header": b"GET / HTTP/1.1\r\nHost: \xff\xfe\r\n\r\n",
    "NUL in the path": b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad percent": b"GET /%ZZ?minutes=%G0 HTTP/1.1\r\nHost: x\r\n\r\n",
    "absurd Content-Length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999"
    b"\r\n\r\nabc",
    "negative Content-Length": b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "text Content-Length": b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n",
    "two Content-Lengths": b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2"
    b"\r\n\r\nab",
    "Content-Length beyond the body": b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
    "bad chunk size": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "chunked and Content-Length": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Length: 3\r\n\r\n0\r\n\r\n",
    "header without colon": b"GET / HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
    "folded header": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "bare LF": b"GET / HTTP/1.1\nHost: x\n\n",
    "absolute-form target": b"GET http://evil.example/ HTTP/1.1\r\nHost: x\r\n\r\n",
    "CONNECT": b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n",
    "Expect 100-continue": b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
    b"Content-Length: 2\r\n\r\nab",
    "no Host": b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
    "X-Forwarded headers": b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4\r\n"
    b"X-Forwarded-Host: evil.example\r\nForwarded: for=1.2.3.4\r\n\r\n",
}
METHODS = ("POST", "PUT", "DELETE", "PATCH", "TRACE", "OPTIONS", "BREW", "G\x00T")


@pytest.mark.slow
def test_malformed_and_oversized_requests_over_raw_sockets(
    server: Server, faults: FaultFigures
) -> None:
    closed, statuses = [], set()
    for name, raw in MALFORMED.items():
        answers = server.send(raw)
        closed += [] if answers else [name]
        statuses |= {a.status for a in answers}
        for answer in answers:
            assert_harmless(answer, name)
        assert get(server.base + "healthz")[0] == 200, f"not answering after {name}"
    for method in METHODS:
        raw = f"{method} / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
        for answer in server.send(raw):
            assert answer.status in (400, 405, 501), (method, answer.status)
            assert_harmless(answer, method)
    head = server.send(b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert [a.status for a in head] == [200] and head[0].body == b""
    faults.record("malformed or oversized requests over raw sockets", len(MALFORMED))
    faults.record("their answers' status codes", ", ".join(map(str, sorted(statuses))))
    faults.record("closed without an answer", ", ".join(closed) or "none")
    faults.record("other methods, each answered 400, 405 or 501", len(METHODS))
    print(
        f"\nraw: {len(MALFORMED)} malformed requests, answers {sorted(statuses)};"
        f" closed without an answer: {closed}"
    )


def test_pipelined_requests_are_answered_in_order(server: Server) -> None:
    raw = (
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /?minutes=abc HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /api/averages?minutes=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    answers = server.send(raw)
    assert [a.status for a in answers] == [200, 400, 404, 200]
    assert answers[0].body.startswith(b'{"status": "ok"')
    assert answers[1].body.count(b"\n") == 1 and b"minutes" in answers[1].body
    for a in answers:
        assert_harmless(a, "pipelined")


TRAVERSALS = (
    "/static/../../../../../../etc/passwd",
    "/static/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/%252e%252e/%252e%252e/etc/passwd",
    "/static/..%5c..%5c..%5capp.py",
    "/static/....//....//....//etc/passwd",
    "/static/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
    "//etc/passwd",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/viewer.js/../../app.py",
    "/static/../app.py",
    "/static/../__init__.py",
    "/viewer/app.py",
    "/../cpuload.db",
    "/cpuload.db",
    "/static/../../../state/cpuload.db",
    "/canary.txt",
    "/static/..%2f..%2fcanary.txt",
    "/static/%2e%2e%2f%2e%2e%2fcanary.txt",
    "/static/viewer.js%00.txt",
    "/static/VIEWER.JS",
    "/charts/..%2f..%2fetc%2fpasswd.svg",
    "/charts/instant.svg/../../../etc/passwd",
    "/api/../../etc/passwd",
)


def test_path_traversal_never_serves_a_file_outside_the_app(
    server: Server, faults: FaultFigures
) -> None:
    served = []
    for target in (*TRAVERSALS, f"/static/{server.root}/canary.txt", f"/{server.root}/canary.txt"):
        answer = server.get(target)
        assert_harmless(answer, target)
        assert answer.status in (400, 404), (target, answer.status, answer.body[:200])
        served.append(answer.status)
    for name in ("viewer.js", "viewer.css"):  # the two files it does serve
        answer = server.get(f"/static/{name}")
        source = Path(__file__).parent.parent / "viewer" / "static" / name
        assert answer.status == 200 and answer.body == source.read_bytes()
    print(f"\ntraversal: {len(served)} attempts, all {sorted(set(served))}")
    faults.record("path traversal attempts", len(served))
    faults.record("their answers", ", ".join(map(str, sorted(set(served)))))


def test_crlf_in_the_query_or_path_never_becomes_a_header(
    server: Server, faults: FaultFigures
) -> None:
    targets = (
        "/?minutes=60%0d%0aX-Injected:%20yes",
        "/?minutes=60%0D%0ASet-Cookie:%20a=b",
        "/healthz?x=%0d%0aX-Injected:%20yes",
        "/api/samples?minutes=1%0aX-Injected:%20yes",
        "/charts/instant.svg?minutes=%0d%0a%0d%0a<script>alert(1)</script>",
        "/nowhere%0d%0aX-Injected:%20yes",
        "/static/x%0d%0aX-Injected:%20yes",
    )
    for target in targets:
        answer = server.get(target)
        assert_harmless(answer, target)
        assert answer.status in (200, 400, 404), (target, answer.status)
        assert b"<script>alert" not in answer.body, target
    answer = server.get("/", extra="X-Test: a\r\n")
    assert answer.status == 200
    faults.record("header injection attempts (CRLF in the path or query)", len(targets))
