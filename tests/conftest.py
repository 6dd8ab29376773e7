"""Fixtures every test module shares: real child processes, free ports, and the skip policy.

Tests that need root, chromium or systemd-nspawn call `require(...)`: on a laptop that lacks
them they skip with the reason; with CPULOAD_TEST_REQUIRE_ALL=1 (set by .ci/run) every skip,
wherever it comes from, is reported as a failure, so CI never passes by skipping.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_ALL = os.environ.get("CPULOAD_TEST_REQUIRE_ALL") == "1"
ARTIFACTS = ROOT / "tests" / "artifacts"


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
    if REQUIRE_ALL and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped under CPULOAD_TEST_REQUIRE_ALL=1: {report.longrepr}"
    return report


def script(name: str) -> list[str]:
    """The installed console script beside this Python, else `python -m` from the checkout."""
    installed = Path(sys.executable).parent / name
    if installed.exists():
        return [str(installed)]
    return [sys.executable, "-m", name.removeprefix("cpuload-")]


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


class Child:
    """A real child process whose stderr goes to a file, so a failure can show it."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check_alive(self) -> None:
        """Fail at once, with the child's output, if it exited."""
        if self.proc.poll() is not None:
            pytest.fail(
                f"{self.argv[0]} exited with {self.proc.returncode}:\n{self.output()}",
                pytrace=False,
            )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()
        return self.proc.returncode


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
def base_env(tmp_path: Path) -> dict[str, str]:
    """An environment with no CPULOAD_*/systemd variables leaking in from the caller."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CPULOAD_", "NOTIFY_SOCKET", "WATCHDOG_", "JOURNAL_STREAM"))
        and k not in ("STATE_DIRECTORY", "XDG_STATE_HOME")
    }
    env["XDG_STATE_HOME"] = str(tmp_path / "xdg-state")
    env["PYTHONUNBUFFERED"] = "1"
    return env
