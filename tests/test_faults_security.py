"""Fault 8: the real viewer's defaults: loopback only, a strict CSP, no markup from the DB."""

import json
import re
import sqlite3
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Child, free_port, wait_for
from tests.test_reader import make_db
from tests.test_viewer_process import VIEWER, get, get_json, start_viewer

Spawn = Callable[..., Child]
SCRIPT = "<script>alert(1)</script>"
HASH = re.compile(r"'sha(256|384|512)-[^']+'")
IMG = '"><img src=x onerror=alert(1)>'


def listening(port: int) -> list[tuple[str, str]]:
    """(table, local address in hex) of every listening socket on `port`, from /proc/net."""
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if int(hex_port, 16) == port and state == "0A":  # 0A: LISTEN
                found.append((table, address))
    return found


def test_it_listens_on_loopback_unless_told_otherwise(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    port = free_port()
    start_viewer(spawn, [*VIEWER, "--db", str(tmp_path / "c.db"), "--port", str(port)], base_env)
    assert listening(port) == [("tcp", "0100007F")]  # 127.0.0.1 only, no IPv6 wildcard
    other = free_port()
    argv = [*VIEWER, "--db", str(tmp_path / "c.db"), "--host", "0.0.0.0", "--port", str(other)]
    start_viewer(spawn, argv, base_env)  # told otherwise: every IPv4 address
    assert listening(other) == [("tcp", "00000000")]


def sources(csp: str) -> dict[str, list[str]]:
    directives = [d.split() for d in csp.split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


def assert_no_outside_origin(csp: str, what: str) -> None:
    policy = sources(csp)
    assert policy.get("default-src") == ["'none'"], (what, csp)
    for directive, allowed in policy.items():
        for source in allowed:
            own = source in ("'none'", "'self'") or HASH.fullmatch(source)
            assert own, f"{what}: {directive} allows {source}"


def test_the_page_and_the_charts_carry_a_csp_that_forbids_outside_origins(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    now = time.time()
    db = make_db(tmp_path / "c.db", [(now - k, 20.0) for k in range(1, 600)], [(now - 900, 1)])
    _, base = start_viewer(spawn, [*VIEWER, "--db", str(db), "--port", "0"], base_env)
    for route in ("", "charts/instant.svg", "charts/average.svg", "healthz", "api/samples"):
        with urllib.request.urlopen(base + route, timeout=10) as answer:
            csp = answer.headers["Content-Security-Policy"]
            body = answer.read().decode()
        assert csp, route
        assert_no_outside_origin(csp, route or "/")
        # Nothing in the body points outside either (XML namespaces are names, not fetches).
        urls = re.findall(r"(?:https?:)?//[\w.-]+[^\s\"'<>]*", body)
        assert [u for u in urls if "www.w3.org" not in u] == [], (route, urls[:5])


def hostile_db(path: Path) -> Path:
    """Every odd value SQLite lets into the schema as the collector made it, and two rows that
    need its CHECKs switched off (a person with the sqlite3 shell can do both)."""
    now = time.time()
    db = make_db(path, [(now - k, 20.0) for k in range(1, 300)], [(now - 900, 1.0)])
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO runs (started, interval, pid, version) VALUES (?, ?, ?, ?)",
            (now - 800, 1.0, SCRIPT, SCRIPT),
        )
        conn.execute("INSERT INTO runs (started, interval) VALUES (?, ?)", (IMG, SCRIPT))
        for ts in (SCRIPT, IMG.encode(), float("inf"), 1e300, now + 3600):
            conn.execute("INSERT INTO samples (ts, cpu) VALUES (?, ?)", (ts, 50.0))
        for cpu in (SCRIPT, IMG, float("nan"), -1.0, 101.0, b"<b>"):
            try:  # CHECK (cpu >= 0 AND cpu <= 100) and NOT NULL stop each of these
                conn.execute("INSERT INTO samples (ts, cpu) VALUES (?, ?)", (now - 0.5, cpu))
            except sqlite3.IntegrityError:
                continue
            raise AssertionError(f"the schema let cpu = {cpu!r} in")
    conn.close()
    return db


def test_nothing_in_the_database_becomes_markup_or_a_500(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    db = hostile_db(tmp_path / "c.db")
    viewer, base = start_viewer(spawn, [*VIEWER, "--db", str(db), "--port", "0"], base_env)
    code, health = get_json(base + "healthz")
    assert code == 200 and 0 <= health["last_sample_age"] < 5, health  # future rows ignored
    for route in ("", "?minutes=1440", "charts/instant.svg", "charts/average.svg", "api/averages"):
        code, body = get(base + route)
        assert code == 200, (route, code, body[:300])
        assert b"<script>alert" not in body and b"<img src=x" not in body, route
    assert b'<span id="age"' in get(base)[1]

    # With the CHECKs switched off, text can reach cpu: such a row is not a sample, so it is
    # neither drawn, nor served, nor counted, and the file is still shown.
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA ignore_check_constraints = 1")
        conn.execute("INSERT INTO samples (ts, cpu) VALUES (?, ?)", (time.time() - 0.2, SCRIPT))
    conn.close()
    code, health = get_json(base + "healthz")
    assert health["status"] in ("ok", "stale") and health["last_sample"] < time.time() - 0.5
    for route in ("", "charts/instant.svg", "api/averages", "api/samples"):
        code, body = get(base + route)
        assert code == 200, (route, code)
        assert b"<script>alert" not in body, route
    samples = json.loads(get(base + "api/samples?minutes=1")[1])["samples"]
    assert samples and all(isinstance(cpu, float) for _, cpu in samples)
    wait_for(viewer.alive, 1, "the viewer alive")
    assert "Traceback" not in viewer.output()
