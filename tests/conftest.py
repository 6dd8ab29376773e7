"""Fixtures every test module shares: real child processes, free ports, and the skip policy.

The child-process harness itself (Child, program) is bench/children.py's, shared with the
benchmark: a child that died fails the test with its output, through the hook below.

Tests that need root, chromium or systemd-nspawn call `require(...)`: on a laptop that lacks
them they skip with the reason; with CPULOAD_TEST_REQUIRE_ALL=1 (set by .ci/run) every skip,
wherever it comes from, is reported as a failure, so CI never passes by skipping.
"""

import contextlib
import os
import shutil
import signal
import socket
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.children import Child as Child  # re-exported: the tests' harness
from bench.children import ChildError, clean_env, program
from tests.fault_figures import FaultFigures, Session, group_of

script = program  # the name the tests use: the console script, or `python -m` from the checkout

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_ALL = os.environ.get("CPULOAD_TEST_REQUIRE_ALL") == "1"
ARTIFACTS = ROOT / "tests" / "artifacts"
FIGURES = Session()
PASSED = pytest.StashKey[bool]()


def require(condition: bool, reason: str) -> None:
    """Skip (or, under CPULOAD_TEST_REQUIRE_ALL=1, fail) unless `condition` holds."""
    if condition:
        return
    if REQUIRE_ALL:
        pytest.fail(f"required in CI but missing: {reason}", pytrace=False)
    pytest.skip(reason)


def require_root() -> None:
    require(os.geteuid() == 0, "needs root (run as root, as CI does)")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"needs {name} on PATH (.ci/run installs it)")
    assert path is not None
    return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[PASSED] = report.passed
    if call.excinfo is not None and call.excinfo.errisinstance(ChildError):
        report.longrepr = str(call.excinfo.value)  # the child's output, not the harness's stack
    if REQUIRE_ALL and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped under CPULOAD_TEST_REQUIRE_ALL=1: {report.longrepr}"
    return report


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll until `predicate()` is truthy; return its value or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Child]]:
    """Start real children; every one is ended (SIGKILL if need be) in teardown."""
    children: list[Child] = []

    def start(argv: list[str], env: dict[str, str] | None = None, name: str = "") -> Child:
        label = name or Path(argv[0]).name
        child = Child(argv, tmp_path / f"{label}-{len(children)}.log", env)
        children.append(child)
        return child

    yield start
    for child in children:
        child.stop(signal.SIGTERM, timeout=5)


@pytest.fixture
def faults(request: pytest.FixtureRequest) -> Iterator[FaultFigures]:
    """Records a fault test's figures for docs/reliability.md (see tests/fault_figures.py)."""
    figures = FaultFigures(group_of(request.module.__name__), request.node.nodeid)
    yield figures
    if request.node.stash.get(PASSED, False):
        FIGURES.keep(figures)


def pytest_sessionfinish(session: pytest.Session) -> None:
    FIGURES.write(ARTIFACTS / "faults.json")


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    """An environment with no CPULOAD_*/systemd variables leaking in from the caller."""
    return clean_env(tmp_path / "xdg-state")


@contextlib.contextmanager
def in_zone(tz: str) -> Iterator[None]:
    """The process in time zone `tz` (TZ, then tzset), put back on the way out."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = tz
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()


@pytest.fixture
def berlin() -> Iterator[None]:
    """The process in Europe/Berlin: summer time began 2026-03-29 02:00, ended 10-25 03:00."""
    with in_zone("Europe/Berlin"):
        yield


def as_nobody(work: Callable[[], str]) -> str:
    """What `work` returns when run in a forked child that dropped to user and group nobody
    (65534); "" if it raised. Root only. The child may not be able to read Python's files
    under /root: import what `work` needs before calling this."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            os.write(write_end, work().encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        said = pipe.read().decode()
    os.waitpid(pid, 0)
    return said
