"""The real programs as child processes: started, awaited by their ready line, always ended."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.history import History
from bench.http_client import Client

VIEWER_READY = r"cpuload-viewer: serving http://([^/\s]+):(\d+)/ from "


class ChildError(RuntimeError):
    """A child did not start or died; the message holds its last output."""


def program(name: str) -> list[str]:
    """The console script beside this Python, else `python -m` from the checkout."""
    installed = Path(sys.executable).parent / name
    if installed.exists():
        return [str(installed)]
    return [sys.executable, "-m", name.removeprefix("cpuload-")]


def clean_env(state: Path) -> dict[str, str]:
    """This environment without CPULOAD_* and systemd variables that would steer the child."""
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
    """A child whose stderr is drained by a thread, so it can never block on a full pipe."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.argv = argv
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        """The first stderr line matching `pattern`; ChildError if the child exits first."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if found := regex.search(line):
                    return found
            if self.proc.poll() is not None:
                raise ChildError(f"{self.name} exited with {self.proc.returncode}: {self.tail()}")
            time.sleep(0.02)
        raise ChildError(f"{self.name} printed no line matching {pattern!r}: {self.tail()}")

    @property
    def name(self) -> str:
        return Path(self.argv[0]).name

    def tail(self, count: int = 3) -> str:
        """The last lines of its stderr, joined on one line."""
        return " | ".join(line.strip() for line in self.lines[-count:]) or "(no output)"

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise ChildError(f"{self.name} exited with {self.proc.returncode}: {self.tail()}")

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after 10 s; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(2)
        return self.proc.returncode


class Server:
    """A real viewer on a free port over one History, which stands in for the collector."""

    def __init__(self, name: str, history: History, work: Path) -> None:
        self.name, self.history = name, history
        argv = [*program("cpuload-viewer"), "--db", str(history.path), "--port", "0"]
        self.child = Child(argv, clean_env(work / f"state-viewer-{name}"))
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
