"""The real programs as child processes: started, their output kept in a file, always ended.

This is the one harness for child processes; the tests use it too, through tests/conftest.py.
It lives here, not in tests/, because `python -m bench` must run without pytest: the tests
may import bench (both are packages at the checkout's top level), while bench importing tests
would pull pytest and the test fixtures into the benchmark. So nothing here knows pytest: a
dead child raises ChildError, which tests/conftest.py reports as a plain test failure.
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.history import History
from bench.http_client import Client

VIEWER_READY = r"cpuload-viewer: serving http://([^/\s]+):(\d+)/ from "


class ChildError(RuntimeError):
    """A child did not start or died; the message holds its last output."""


MODULES = {
    "cpuload-collector": "collector",
    "cpuload-viewer": "viewer",
    "cpuload-export": "viewer.export",
}


def program(name: str) -> list[str]:
    """The console script beside this Python, else `python -m` from the checkout."""
    installed = Path(sys.executable).parent / name
    if installed.exists():
        return [str(installed)]
    return [sys.executable, "-m", MODULES[name]]


def clean_env(state: Path) -> dict[str, str]:
    """This environment without CPULOAD_* and systemd variables that would steer the child;
    its default database under `state` (XDG_STATE_HOME), never the caller's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CPULOAD_", "NOTIFY_SOCKET", "WATCHDOG_", "JOURNAL_STREAM"))
        and k not in ("STATE_DIRECTORY", "LISTEN_FDS", "LISTEN_PID")
    }
    env["XDG_STATE_HOME"] = str(state)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Child:
    """A child whose stdout and stderr go to `log`, a file: it never blocks on a full pipe,
    and the whole output is there to read (and to show) after it ended."""

    def __init__(
        self,
        argv: list[str],
        log: Path,
        env: dict[str, str] | None = None,
        stdout: Path | None = None,
    ) -> None:
        """`stdout`: a file for its standard output alone (the log then has only stderr)."""
        self.argv = argv
        self.log = log
        self._log_file = log.open("wb")
        out = stdout.open("wb") if stdout is not None else None
        try:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out or self._log_file,
                stderr=self._log_file if out else subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        finally:
            if out is not None:
                out.close()  # the child has its own copy

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def name(self) -> str:
        return Path(self.argv[0]).name

    def output(self) -> str:
        """Everything it printed so far."""
        return self.log.read_text(errors="replace")

    def tail(self, count: int = 3) -> str:
        """Its last lines, joined on one line."""
        lines = self.output().splitlines()[-count:]
        return " | ".join(line.strip() for line in lines) or "(no output)"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check_alive(self) -> None:
        """ChildError, with what it printed last, if it exited."""
        if self.proc.poll() is not None:
            last = "\n".join(self.output().splitlines()[-40:]) or "(no output)"
            raise ChildError(f"{self.name} exited with {self.proc.returncode}:\n{last}")

    def wait_line(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        """The first output line matching `pattern`; ChildError if the child exits first."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern, re.MULTILINE)
        while time.monotonic() < deadline:
            if found := regex.search(self.output()):
                return found
            self.check_alive()
            time.sleep(0.02)
        raise ChildError(f"{self.name} printed no line matching {pattern!r}: {self.tail()}")

    def finish(self, timeout: float) -> tuple[int, float]:
        """Wait for it to exit by itself: its exit status and its peak resident memory in MB
        (ru_maxrss from wait4, which a child's /proc no longer shows once it ended)."""
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(self.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                self.stop(signal.SIGKILL)
                raise ChildError(f"{self.name} still ran after {timeout:g} s: {self.tail()}")
            time.sleep(0.02)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self._log_file.close()
        return self.proc.returncode, usage.ru_maxrss * 1024 / 1e6  # KiB -> MB (10^6 bytes)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """`sig` (SIGTERM), then SIGKILL after `timeout` seconds; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()
        return self.proc.returncode


class Server:
    """A real viewer on a free port over one History, which stands in for the collector."""

    def __init__(self, name: str, history: History, work: Path) -> None:
        self.name, self.history = name, history
        argv = [*program("cpuload-viewer"), "--db", str(history.path), "--port", "0"]
        env = clean_env(work / f"state-viewer-{name}")
        self.child = Child(argv, work / f"viewer-{name}.log", env)
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        """The connection, once the viewer said where it listens (ChildError if it died)."""
        if self._client is None:
            found = self.child.wait_line(VIEWER_READY)
            self._client = Client(int(found[2]), found[1].strip("[]"))
        return self._client

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
        self.child.stop()
