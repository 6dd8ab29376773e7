"""Both services under a real systemd, in a throw-away `systemd-nspawn --volatile=yes` boot."""

# The container's root is an empty tmpfs with the host's /usr read-only and a private network
# (its own loopback only); `systemd/install` runs inside it as the README says. Commands enter
# it with nsenter. systemd never runs on the host's root, whose /tmp its tmpfiles would empty.

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import suppress
from functools import partial
from pathlib import Path

import pytest

from tests.conftest import ROOT, require, require_root, require_tool, wait_for

DB = "/var/lib/cpuload/cpuload.db"
COLLECTOR, VIEWER = "cpuload-collector", "cpuload-viewer"
PIP_OFFLINE = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "/wheelhouse"}
SOURCES = ("pyproject.toml", "README.md", "collector", "viewer", "shared", "systemd")
INTERVAL = 0.5
# Innermost first: what nspawn may create under /run and not remove.
LEFTOVERS = ("/run/systemd/nspawn/propagate", "/run/systemd/nspawn", "/run/systemd/nspawn-root")
WATCHDOG_S = 3
# A short watchdog for the freeze test, no core dump from its SIGABRT, quick samples.
TEST_DROP_IN = f"""[Service]
Environment=CPULOAD_INTERVAL={INTERVAL}
WatchdogSec={WATCHDOG_S}s
TimeoutAbortSec=2s
LimitCORE=0
"""
GET = """import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=5)
except urllib.error.HTTPError as e:
    r = e
sys.stdout.write(str(r.status) + "\\n" + r.read().decode())
"""
COUNT = f"""import sqlite3
c = sqlite3.connect("file:{DB}?mode=ro", uri=True)
print(c.execute("SELECT count(*) FROM samples").fetchone()[0])
"""


class Container:
    """A booted container; `run` executes a command inside all of its namespaces."""

    def __init__(self, proc: subprocess.Popen[bytes], source: Path, log: Path) -> None:
        self.proc, self.source, self.log = proc, source, log
        self.leader = 0

    def execute(
        self, argv: tuple[str, ...], env: dict[str, str]
    ) -> subprocess.CompletedProcess[str]:
        environ = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", **env}
        command = ["nsenter", f"--target={self.leader}", "--all", "--", "/usr/bin/env", "-i"]
        command += [f"{k}={v}" for k, v in environ.items()]
        return subprocess.run([*command, *argv], capture_output=True, text=True, timeout=120)

    def run(self, *argv: str, env: dict[str, str] | None = None, check: bool = True) -> str:
        """Output of a command inside; unless `check` is false, fail if it exits non-zero."""
        result = self.execute(argv, env or {})
        if check and result.returncode != 0:
            output = result.stdout + result.stderr
            message = f"{' '.join(argv)} exited {result.returncode}:\n{output}"
            pytest.fail(f"{message}\n{self.journal()}", pytrace=False)
        return result.stdout + result.stderr

    def succeeds(self, *argv: str) -> bool:
        return self.execute(argv, {}).returncode == 0

    def journal(self) -> str:
        units = ("-u", "cpuload-collector", "-u", "cpuload-viewer")
        return self.run("journalctl", "--no-pager", "-n", "60", *units, check=False)

    def show(self, unit: str) -> dict[str, str]:
        props = "ActiveState,SubState,MainPID,NRestarts,StatusText,WatchdogUSec,Result"
        out = self.run("systemctl", "show", f"--property={props}", unit)
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def get(self, path: str) -> tuple[int, str]:
        out = self.run("python3", "-c", GET, f"http://127.0.0.1:8080{path}", check=False)
        status, _, body = out.partition("\n")
        return (int(status), body) if status.isdigit() else (0, out)

    def samples(self) -> int:
        out = self.run("python3", "-c", COUNT, check=False).strip()
        return int(out) if out.isdigit() else 0


def cgroup_roots() -> list[Path]:
    unified = Path("/sys/fs/cgroup")
    if (unified / "cgroup.controllers").exists():
        return [unified]
    return [p for p in (unified / "systemd", unified / "unified") if p.is_dir()]


def end_cgroups(cgroups: list[Path]) -> None:
    """Kill what is left in our own cgroups (all started by our nspawn), then remove them."""
    for cgroup in cgroups:
        for procs in cgroup.rglob("cgroup.procs"):
            for pid in procs.read_text().split():
                with suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
    for cgroup in cgroups:
        below = [p for p in cgroup.rglob("*") if p.is_dir()]
        for directory in [*sorted(below, key=lambda p: -len(p.parts)), cgroup]:
            wait_for(partial(_rmdir, directory), 10, f"rmdir {directory}")


def _rmdir(path: Path) -> bool:
    try:
        path.rmdir()
    except OSError:
        return False
    return True


def wheelhouse() -> Path:
    """Wheels of the run-time and build dependencies, so pip in the container needs no index.

    Built once with pip on this host and kept under ~/.cache between runs.
    """
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:12]
    house = Path.home() / ".cache" / "cpuload-test" / f"wheelhouse-{key}"
    if not (house / "complete").exists():
        pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(house)]
        result = subprocess.run([*pip, *dependencies()], capture_output=True, text=True)
        require(result.returncode == 0, f"pip could not build the wheelhouse: {result.stderr}")
        (house / "complete").touch()
    return house


def dependencies() -> list[str]:
    """Run-time and build requirements from pyproject.toml (setuptools' PEP 517 build wants
    `wheel` too)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [*project["project"]["dependencies"], *project["build-system"]["requires"], "wheel"]


def start(machine: str, source: Path, log: Path, cgroups: list[Path]) -> Container:
    """Start nspawn inside cgroups of our own, so teardown knows exactly what it started."""
    for cgroup in cgroups:
        cgroup.mkdir()
    enter = 'for f; do [ "$f" = -- ] && break; echo $$ >"$f"; shift; done; shift; exec "$@"'
    nspawn = [
        "systemd-nspawn",
        "-D",
        "/",
        "--volatile=yes",
        "--boot",
        f"--machine={machine}",
        "--register=no",
        "--keep-unit",
        "--private-network",
        "--console=read-only",
        f"--bind={source}:/src/cpuload",
        f"--bind-ro={wheelhouse()}:/wheelhouse",
        "systemd.firstboot=off",
    ]
    procs = [str(c / "cgroup.procs") for c in cgroups]
    proc = subprocess.Popen(
        ["sh", "-c", enter, "sh", *procs, "--", *nspawn],
        stdin=subprocess.DEVNULL,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return Container(proc, source, log)


def wait_booted(container: Container) -> None:
    container.leader = wait_for(lambda: _leader(container), 30, "the container's init")
    wait_for(lambda: _booted(container), 60, "the container to finish booting")


def _leader(container: Container) -> int | None:
    proc = container.proc
    if proc.poll() is not None:
        log = container.log.read_text(errors="replace")[-3000:]
        pytest.fail(f"systemd-nspawn exited {proc.returncode}:\n{log}", pytrace=False)
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    for pid in children.read_text().split() if children.exists() else []:
        if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
            return int(pid)
    return None


def _booted(container: Container) -> bool:
    state = container.run("systemctl", "is-system-running", check=False).strip()
    return state in ("running", "degraded")


def shut_down(container: Container) -> None:
    """Power the container off (SIGTERM to nspawn), SIGKILL it if that takes too long."""
    if container.proc.poll() is None:
        container.proc.send_signal(signal.SIGTERM)
        try:
            container.proc.wait(30)
        except subprocess.TimeoutExpired:
            container.proc.kill()
            container.proc.wait()


def remove_nspawn_leftovers(machine: str, existed: set[str]) -> None:
    """nspawn leaves its propagation directory behind; remove what this boot created."""
    shutil.rmtree(f"/run/systemd/nspawn/propagate/{machine}", ignore_errors=True)
    for path in LEFTOVERS:
        if path not in existed:
            _rmdir(Path(path))


def copy_sources(dest: Path) -> Path:
    """What the installer reads from a checkout, in a copy the test may change (`git pull`)."""
    dest.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    require_root()
    for tool in ("systemd-nspawn", "nsenter"):
        require_tool(tool)
    tmp = tmp_path_factory.mktemp("nspawn")
    source = copy_sources(tmp / "cpuload")
    machine = f"cpuload-test-{os.getpid()}"
    existed = {path for path in LEFTOVERS if Path(path).exists()}
    cgroups = [root / machine for root in cgroup_roots()]
    booted = start(machine, source, tmp / "boot.log", cgroups)
    try:
        wait_booted(booted)
        yield booted
    finally:
        shut_down(booted)
        end_cgroups([c for c in cgroups if c.exists()])
        remove_nspawn_leftovers(machine, existed)


@pytest.fixture(scope="module")
def installed(container: Container) -> tuple[Container, str]:
    """The README's one command, run inside the container after a test drop-in was placed."""
    place = 'mkdir -p "$1" && printf %s "$2" >"$1/test.conf"'
    drop_ins = f"/etc/systemd/system/{COLLECTOR}.service.d"
    container.run("sh", "-c", place, "sh", drop_ins, TEST_DROP_IN)
    return container, container.run("/src/cpuload/systemd/install", env=PIP_OFFLINE)


def restarted(c: Container, before: dict[str, str]) -> dict[str, str] | None:
    now = c.show(COLLECTOR)
    again = now["NRestarts"] != before["NRestarts"] and now["MainPID"] != before["MainPID"]
    return now if again and now["ActiveState"] == "active" else None


def mount_holding(path: str, mountinfo: str) -> list[str]:
    """The mountinfo fields of the innermost mount that holds `path`."""
    mounts = [line.split() for line in mountinfo.splitlines()]
    holders = [m for m in mounts if path == m[4] or path.startswith(m[4].rstrip("/") + "/")]
    return max(holders, key=lambda m: len(m[4]))


def more_samples(c: Container, than: int) -> int:
    return int(wait_for(lambda: (n := c.samples()) > than and n, 30, f"more than {than} samples"))


@pytest.mark.slow
def test_collector_reaches_active_through_ready_and_writes_samples(
    installed: tuple[Container, str],
) -> None:
    c, out = installed
    assert f"installed and (re)started {COLLECTOR}.service {VIEWER}.service" in out
    assert "cpuload: charts at http://127.0.0.1:8080/ " in out
    props = c.show(COLLECTOR)
    assert (props["ActiveState"], props["SubState"]) == ("active", "running"), c.journal()
    assert props["WatchdogUSec"] == f"{WATCHDOG_S}s" and props["StatusText"], props
    more_samples(c, 2)


@pytest.mark.slow
def test_viewer_answers_as_its_own_user(installed: tuple[Container, str]) -> None:
    c, _ = installed
    status, body = wait_for(lambda: (r := c.get("/healthz"))[0] == 200 and r, 30, "/healthz")
    assert json.loads(body)["status"] == "ok"
    assert c.get("/")[0] == 200
    status, body = c.get("/api/samples?minutes=5")
    assert status == 200 and json.loads(body)["samples"], body
    pid = c.show(VIEWER)["MainPID"]
    assert c.run("stat", "-c", "%U", f"/proc/{pid}").strip() == VIEWER


@pytest.mark.slow
def test_viewer_can_read_but_not_write_the_database_or_its_directory(
    installed: tuple[Container, str],
) -> None:
    c, _ = installed
    more_samples(c, 0)
    modes = c.run("stat", "-c", "%U %G %a", DB, "/var/lib/cpuload").splitlines()
    assert modes == ["cpuload cpuload 640", "cpuload cpuload 750"]
    as_viewer = ["setpriv", f"--reuid={VIEWER}", f"--regid={VIEWER}", "--init-groups", "sh", "-c"]
    tries = (
        'test -r "$1" && echo can-read; (: >>"$1") 2>/dev/null && echo can-write;'
        ' (: >"$1.probe") 2>/dev/null && echo can-create-beside-it; :'
    )
    assert c.run(*as_viewer, tries, "sh", DB).split() == ["can-read"]
    mountinfo = c.run("cat", f"/proc/{c.show(VIEWER)['MainPID']}/mountinfo")
    holder = mount_holding("/var/lib/cpuload", mountinfo)
    assert "ro" in holder[5].split(","), f"{holder} is writable in the viewer's namespace"


def test_install_without_python3_venv_says_what_to_install(container: Container) -> None:
    """Debian ships `venv` without ensurepip until python3-venv is installed; hide it."""
    hide = (
        'd=$(python3 -c "import ensurepip, os; print(os.path.dirname(ensurepip.__file__))")'
        ' && mkdir -p /run/empty && mount --bind /run/empty "$d" && exec "$0"'
    )
    install = "/src/cpuload/systemd/install"
    result = container.execute(("unshare", "--mount", "sh", "-c", hide, install), {})
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.endswith("apt-get install python3-venv\n") and not result.stdout


@pytest.mark.slow
def test_install_twice_changes_nothing_and_after_a_pull_upgrades(
    installed: tuple[Container, str],
) -> None:
    c, _ = installed
    before = c.show(COLLECTOR)
    out = c.run("/src/cpuload/systemd/install", env=PIP_OFFLINE)
    assert "nothing changed" in out and c.show(COLLECTOR)["MainPID"] == before["MainPID"], out
    count = c.samples()
    module = c.source / "shared" / "__init__.py"
    module.write_text(module.read_text() + "# changed by a pull\n")
    out = c.run("/src/cpuload/systemd/install", env=PIP_OFFLINE)
    assert "installed and (re)started" in out, out
    assert c.show(COLLECTOR)["MainPID"] != before["MainPID"]
    installed_module = "/opt/cpuload/venv/lib/python3*/site-packages/shared/__init__.py"
    assert "changed by a pull" in c.run("sh", "-c", f"cat {installed_module}")
    more_samples(c, count)


@pytest.mark.slow
def test_sigkill_gets_the_collector_restarted(installed: tuple[Container, str]) -> None:
    c, _ = installed
    before = c.show(COLLECTOR)
    c.run("systemctl", "kill", "--kill-who=main", "--signal=SIGKILL", COLLECTOR)
    wait_for(lambda: restarted(c, before), 30, "the collector to be restarted after SIGKILL")
    more_samples(c, c.samples())


@pytest.mark.slow
def test_watchdog_restarts_a_frozen_collector_and_the_gap_shows(
    installed: tuple[Container, str],
) -> None:
    c, _ = installed
    before = c.show(COLLECTOR)
    frozen_at = time.time()
    c.run("systemctl", "kill", "--kill-who=main", "--signal=SIGSTOP", COLLECTOR)
    wait_for(lambda: restarted(c, before), 60, "the watchdog to restart the frozen collector")
    assert "Watchdog timeout" in c.journal()
    more_samples(c, c.samples() + 1)
    _, body = c.get("/api/samples?minutes=5")
    gaps = json.loads(body)["gaps"]
    assert any(a <= frozen_at + 1 and b >= frozen_at + WATCHDOG_S for a, b in gaps), gaps


@pytest.mark.slow
def test_viewer_reads_on_after_the_collector_stopped_cleanly(
    installed: tuple[Container, str],
) -> None:
    """The DB rests in rollback mode in a directory the viewer cannot write; it still opens."""
    c, _ = installed
    c.run("systemctl", "stop", COLLECTOR)
    status, body = wait_for(lambda: (r := c.get("/healthz"))[0] == 503 and r, 30, "stale")
    assert json.loads(body)["status"] == "stale", body
    status, body = c.get("/api/samples?minutes=5")
    assert status == 200 and json.loads(body)["samples"], body
    c.run("systemctl", "start", COLLECTOR)


@pytest.mark.slow
def test_uninstall_keeps_the_data_and_purge_removes_it(installed: tuple[Container, str]) -> None:
    c, _ = installed
    out = c.run("/src/cpuload/systemd/uninstall")
    assert "kept the database" in out
    gone = [f"/etc/systemd/system/{COLLECTOR}.service", "/opt/cpuload"]
    assert c.run("sh", "-c", 'for p; do test -e "$p" && echo "$p"; done; :', "sh", *gone) == ""
    assert c.succeeds("test", "-f", DB) and c.succeeds("getent", "passwd", "cpuload")
    c.run("/src/cpuload/systemd/uninstall", "--purge")
    assert not c.succeeds("test", "-e", "/var/lib/cpuload")
    assert not c.succeeds("getent", "passwd", "cpuload")
