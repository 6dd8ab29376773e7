"""The real viewer as a child process, alone and beside the real collector on one temp DB."""

import http.client
import itertools
import json
import re
import signal
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Child, free_port, require_root, require_tool, script, wait_for
from tests.test_reader import digest, make_db

VIEWER = script("cpuload-viewer")
COLLECTOR = script("cpuload-collector")
STARTUP = re.compile(r"^cpuload-viewer: serving (http://\S+/) from (.+)$", re.M)
COLLECTOR_UP = re.compile(r"cpuload-collector: writing \S+ every \S+ s \(pid \d+\)")
Spawn = Callable[..., Child]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def get_json(url: str) -> tuple[int, Any]:
    code, body = get(url)
    return code, json.loads(body)


def start_viewer(spawn: Spawn, argv: list[str], env: dict[str, str]) -> tuple[Child, str]:
    """Start a viewer and return it with the base URL from its one startup line."""
    child = spawn(argv, env=env, name="viewer")

    def started() -> str | None:
        child.check_alive()
        found = STARTUP.search(child.output())
        return found[1] if found else None

    return child, wait_for(started, 15, "the viewer's startup line")


READ_ONLY = 'd=$1; shift; mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" && exec "$@"'


def read_only_viewer(state: Path, db: Path, port: int = 0) -> list[str]:
    """The viewer's argv in a private mount namespace where `state` is mounted read-only.

    Root ignores file modes, so only a read-only mount proves the viewer writes nothing.
    """
    unshare = require_tool("unshare")
    shell = [unshare, "--mount", "--", "sh", "-c", READ_ONLY, "sh", str(state)]
    return [*shell, *VIEWER, "--db", str(db), "--port", str(port)]


def start_collector(spawn: Spawn, argv: list[str], env: dict[str, str]) -> Child:
    child = spawn(argv, env=env, name="collector")

    def started() -> bool:
        child.check_alive()
        return bool(COLLECTOR_UP.search(child.output()))

    wait_for(started, 15, "the collector's startup line")
    return child


def test_startup_line_health_and_clean_exit(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    db = tmp_path / "missing" / "cpuload.db"
    viewer, url = start_viewer(spawn, [*VIEWER, "--db", str(db), "--port", "0"], base_env)
    assert url.startswith("http://127.0.0.1:") and STARTUP.search(viewer.output())[2] == str(db)  # type: ignore[index]
    code, body = get_json(url + "healthz")
    assert code == 503 and body["status"] == "no-data" and str(db) in body["reason"]
    code, page = get(url)
    assert code == 200 and b"Is cpuload-collector running?" in page
    assert viewer.stop(signal.SIGTERM, timeout=3) == 0
    assert "Traceback" not in viewer.log.read_text()
    # The startup line, then one warning: the collector would refuse this path.
    lines = viewer.log.read_text().splitlines()
    assert len(lines) == 2 and f"directory {db.parent} does not exist" in lines[1], lines
    assert not db.parent.exists()


def test_sigint_exits_zero_and_ipv6_hosts_are_bracketed(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    argv = [*VIEWER, "--db", str(tmp_path / "c.db"), "--host", "::1", "--port", "0"]
    viewer, url = start_viewer(spawn, argv, base_env)
    assert url.startswith("http://[::1]:")
    assert get(url + "healthz")[0] == 503
    assert viewer.stop(signal.SIGINT, timeout=3) == 0


def test_a_port_in_use_exits_1_with_one_line(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        child = spawn([*VIEWER, "--db", str(tmp_path / "c.db"), "--port", str(port)], env=base_env)
        assert child.proc.wait(15) == 1
    out = child.log.read_text().strip()
    assert "in use" in out and str(port) in out and len(out.splitlines()) == 1


@pytest.mark.parametrize(
    "flags",
    [
        ["--port", "70000"],
        ["--port", "x"],
        ["--host", ""],
        ["--nope"],
        ["--host", "no-such-host.invalid", "--port", "0"],
        ["--host", "192.0.2.1", "--port", "0"],  # TEST-NET-1: not an address of this host
    ],
)
def test_bad_flags_exit_2(spawn: Spawn, base_env: dict[str, str], flags: list[str]) -> None:
    child = spawn([*VIEWER, *flags], env=base_env)
    assert child.proc.wait(15) == 2
    out = child.log.read_text()
    assert "Traceback" not in out and "cpuload-viewer: error:" in out


def _lines(svg: str, series: str) -> list[list[float]]:
    """Each drawn <path> of one line series (cpu, mean) as the viewBox x of its points."""
    tx = float(re.findall(r'translate\(([\d.]+), [\d.]+\)" class="plot"', svg)[0])
    group = re.search(rf'class="series [^"]*line-{series}"(?: />|>(.*?)</g>)', svg)
    assert group, f"no {series} series"
    paths = re.findall(r'<path d="([^"]+)"', group[1] or "")
    return [[tx + float(x) for x in re.findall(r"[ML]?(-?[\d.]+) -?[\d.]+", d)] for d in paths]


def stamps(meta: dict[str, Any]) -> list[float]:
    """The hover data's stamps: steps from the window's start, added up."""
    return list(itertools.accumulate(meta["steps"], initial=meta["t0"]))[1:]


def _x(meta: dict[str, Any], ts: float) -> float:
    return float(
        meta["x0"] + (ts - meta["t0"]) / (meta["t1"] - meta["t0"]) * (meta["x1"] - meta["x0"])
    )


def _meta(svg: str) -> dict[str, Any]:
    found = re.search(r"<metadata[^>]*>(.*?)</metadata>", svg, re.S)
    assert found
    return dict(json.loads(found[1].replace("&quot;", '"').replace("&amp;", "&")))


def _assert_break(base: str, name: str, gap: tuple[float, float]) -> dict[str, Any]:
    """The chart has lines on both sides of the gap and none across its middle."""
    code, body = get(f"{base}charts/{name}.svg?minutes=2")
    assert code == 200
    svg = body.decode()
    meta = _meta(svg)
    mid = _x(meta, (gap[0] + gap[1]) / 2)
    paths = _lines(svg, "cpu" if name == "instant" else "mean")
    assert not [p for p in paths if min(p) < mid < max(p)], f"{name}: a line crosses the gap"
    xs = [_x(meta, ts) for ts in stamps(meta)]
    assert min(xs) < mid < max(xs), f"{name}: no data on both sides of the gap"
    return meta


@pytest.mark.slow
def test_gap_and_read_only_directory_through_stop_restart_and_kill(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    """~10 s. (How the minute chart breaks at a gap is checked on plain numbers in
    tests/test_charts.py: here it would take waiting for the next minute's middle.)"""
    require_root()
    state = tmp_path / "state"
    state.mkdir()
    db = state / "cpuload.db"
    env = base_env
    port = free_port()
    viewer, base = start_viewer(spawn, read_only_viewer(state, db, port), env)
    mounts = Path(f"/proc/{viewer.pid}/mountinfo").read_text()
    assert [m for m in mounts.splitlines() if f" {state} " in m and " ro," in m], "not read-only"
    assert get_json(base + "healthz")[1]["status"] == "no-data"

    collect = [*COLLECTOR, "--db", str(db), "--interval", "0.2"]
    collector = start_collector(spawn, collect, env)
    wait_for(lambda: get(base + "healthz")[0] == 200, 15, "healthz ok while the collector runs")

    # A clean stop: the viewer keeps serving from the read-only directory.
    wait_for(lambda: len(get_json(base + "api/samples?minutes=1")[1]["samples"]) > 5, 15, "data")
    assert collector.stop(signal.SIGTERM) == 0
    assert sorted(p.name for p in state.iterdir()) == ["cpuload.db", "cpuload.db.lock"]
    code, before = get_json(base + "api/samples?minutes=2")
    assert code == 200 and before["samples"]
    time.sleep(1.5)
    collector = start_collector(spawn, collect, env)
    wait_for(lambda: get(base + "healthz")[0] == 200, 15, "healthz ok after the restart")

    # The gap shows in the JSON, and the chart breaks there, named by its cause.
    stopped_at = before["samples"][-1][0]
    wait_for(lambda: len(get_json(base + "api/samples?minutes=2")[1]["samples"]) > 12, 15, "more")
    code, after = get_json(base + "api/samples?minutes=2")
    gap = next(g for g in after["gaps"] if g[0] == stopped_at)
    assert gap[1] - gap[0] >= 1.5 and any(ts == gap[1] for ts, _ in after["samples"])
    _assert_break(base, "instant", (gap[0], gap[1]))
    causes = get_json(base + "api/gaps?minutes=2")[1]["gaps"]
    assert [g["cause"] for g in causes if g["start"] == stopped_at] == ["collector-stopped"]

    # SIGKILL leaves -wal and -shm behind; the viewer still reads, and sees the next run.
    collector.stop(signal.SIGKILL)
    assert {"cpuload.db-wal", "cpuload.db-shm"} <= {p.name for p in state.iterdir()}
    last = get_json(base + "api/samples?minutes=1")[1]["samples"][-1][0]
    wait_for(lambda: get(base + "healthz")[0] == 503, 10, "healthz stale after the kill")
    collector = start_collector(spawn, collect, env)
    wait_for(
        lambda: get_json(base + "api/samples?minutes=1")[1]["samples"][-1][0] > last + 0.5,
        15,
        "new samples after a restart that follows a SIGKILL",
    )
    assert collector.stop(signal.SIGTERM) == 0

    # At rest: a burst of requests changes nothing on disk.
    wait_for(lambda: get(base + "healthz")[0] == 503, 10, "healthz stale after a clean stop")
    files = sorted(p.name for p in state.iterdir())
    assert files == ["cpuload.db", "cpuload.db.lock"]
    before_digest = digest(db)
    for minutes in (1, 2, 60, 1440):
        for route in (
            "",
            "charts/instant.svg",
            "charts/average.svg",
            "api/samples",
            "api/averages",
        ):
            assert get(f"{base}{route}?minutes={minutes}")[0] == 200
    assert digest(db) == before_digest and sorted(p.name for p in state.iterdir()) == files
    viewer.check_alive()
    assert viewer.stop(signal.SIGTERM, timeout=3) == 0
    assert "Traceback" not in viewer.log.read_text()


def test_reads_a_database_written_elsewhere(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    now = time.time()
    db = make_db(
        tmp_path / "c.db", [(now - 5 * k, 30.0) for k in range(1, 100)], [(now - 1000, 5.0)]
    )
    _, base = start_viewer(spawn, [*VIEWER, "--db", str(db), "--port", "0"], base_env)
    code, body = get_json(base + "api/samples?minutes=5")
    assert code == 200 and len(body["samples"]) in (59, 60)


def host_status(url: str, host: str, path: str = "/healthz") -> int:
    """The status of a request whose Host header is `host`, whatever the URL says."""
    where = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host})
        answer = conn.getresponse()
        body = answer.read().decode()
        assert answer.status != 400 or "allowed-hosts" in body, body
        return answer.status
    finally:
        conn.close()


def test_allowed_hosts_from_the_flag_and_the_environment(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    """A Host header naming another host gets 400 (DNS rebinding); the default allows the
    loopback names and --host; --allowed-hosts, or CPULOAD_ALLOWED_HOSTS, replaces it."""
    db = make_db(tmp_path / "c.db", [(time.time() - 1, 5.0)], [(time.time() - 10, 5.0)])
    argv = [*VIEWER, "--db", str(db), "--port", "0"]
    cases: list[tuple[list[str], dict[str, str], list[str], list[str]]] = [
        ([], {}, ["localhost", "127.0.0.1:{port}", "LOCALHOST:{port}"], ["evil.example"]),
        (
            ["--allowed-hosts", "cpu.example.org"],
            {},
            ["cpu.example.org:{port}", "CPU.Example.org"],
            ["localhost", "evil.example", "cpu.example.org.evil.example"],
        ),
        ([], {"CPULOAD_ALLOWED_HOSTS": "a.example, b.example"}, ["b.example"], ["localhost"]),
        (
            ["--allowed-hosts", "flag.example"],
            {"CPULOAD_ALLOWED_HOSTS": "env.example"},
            ["flag.example"],
            ["env.example"],
        ),
        ([], {"CPULOAD_ALLOWED_HOSTS": "*"}, ["evil.example", "localhost"], []),
    ]
    for flags, env, allowed, refused in cases:
        viewer, url = start_viewer(spawn, [*argv, *flags], {**base_env, **env})
        port = str(urllib.parse.urlsplit(url).port)
        for host in allowed:
            assert host_status(url, host.format(port=port)) == 200, (flags, env, host)
            assert host_status(url, host.format(port=port), "/metrics") == 200, (flags, host)
        for host in refused:
            assert host_status(url, host.format(port=port)) == 400, (flags, env, host)
            assert host_status(url, host.format(port=port), "/metrics") == 400, (flags, host)
        assert viewer.stop() == 0
    for flags, env in (
        (["--allowed-hosts", "bad host!"], {}),
        ([], {"CPULOAD_ALLOWED_HOSTS": ","}),
    ):
        child = spawn([*argv, *flags], env={**base_env, **env}, name="viewer")
        assert child.proc.wait(timeout=30) == 2
        lines = child.output().strip().splitlines()
        assert lines[-1].startswith("cpuload-viewer: error:") and "allowed hosts" in lines[-1]
