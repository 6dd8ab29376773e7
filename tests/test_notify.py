"""sd_notify on a real AF_UNIX datagram socket: READY, watchdog pings, STATUS, STOPPING."""

import math
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from threading import Event

import pytest

from collector.loop import SystemClock, run
from collector.notify import Notifier, watchdog_period
from collector.sampler import Reading
from tests.conftest import Child, script, wait_for
from tests.test_loop import START, FakeClock, Sink


class Listener:
    """A NOTIFY_SOCKET as systemd makes it, at a short path (sun_path holds 108 bytes).

    A thread receives all the time, as systemd does: the kernel queues only ~10 datagrams on
    an unread socket, and then the sender blocks.
    """

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(dir="/tmp")
        self.path = f"{self.dir}/n"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.05)
        self.got: list[tuple[float, str]] = []
        self.closing = Event()
        self.thread = threading.Thread(target=self._receive, daemon=True)
        self.thread.start()

    def _receive(self) -> None:
        while not self.closing.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.got.append((time.monotonic(), data.decode()))

    def since(self, t0: float, t1: float = math.inf, prefix: str = "") -> list[str]:
        """Messages received from t0 to t1 (monotonic), those starting with `prefix` only."""
        return [m for t, m in list(self.got) if t0 <= t < t1 and m.startswith(prefix)]

    def all(self) -> list[str]:
        """Every message received so far, in order."""
        return [m for _, m in list(self.got)]

    def mark(self, text: str) -> None:
        """A datagram of the test's own, awaited: the socket keeps order, so every message
        sent before this call is received before the mark."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(text.encode(), self.path)
        wait_for(lambda: text in self.all(), 5, f"the mark {text}")

    def so_far(self) -> list[str]:
        """Everything sent before this call, without the marks (no sleep-and-hope)."""
        self.mark(f"MARK-{time.monotonic_ns()}")
        return [m for m in self.all() if not m.startswith("MARK-")]

    def close(self) -> None:
        self.closing.set()
        self.thread.join(2)
        self.sock.close()
        shutil.rmtree(self.dir)


@pytest.fixture
def listener(monkeypatch: pytest.MonkeyPatch) -> Iterator[Listener]:
    lst = Listener()
    monkeypatch.setenv("NOTIFY_SOCKET", lst.path)
    yield lst
    lst.close()


def test_the_watchdog_period_is_half_watchdog_usec_when_meant_for_us() -> None:
    assert watchdog_period({"WATCHDOG_USEC": "20000000"}, 7) == 10.0
    assert watchdog_period({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "7"}, 7) == 10.0
    assert watchdog_period({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "8"}, 7) == math.inf
    assert watchdog_period({}, 7) == math.inf
    assert watchdog_period({"WATCHDOG_USEC": "soon"}, 7) == math.inf
    assert watchdog_period({"WATCHDOG_USEC": "0"}, 7) == math.inf


def test_ready_ping_status_stopping_arrive_on_the_socket(listener: Listener) -> None:
    now = [100.0]
    n = Notifier.from_env({"WATCHDOG_USEC": "1000000"}, os.getpid())
    n.mono = lambda: now[0]
    n.ready("writing x")
    n.ping()
    n.sampled(1_700_000_005.0, 12.34)
    now[0] += 0.5
    n.sampled(1_700_000_010.0, 50.0)  # within a second of the last STATUS: not sent
    now[0] += 0.6
    n.sampled(1_700_000_015.0, 60.0)
    n.stopping()
    got = listener.so_far()
    assert got[0] == "READY=1\nSTATUS=writing x"
    assert got[1] == "WATCHDOG=1"
    assert got[2].startswith("STATUS=newest sample 12.3 % busy at ")
    assert got[3].startswith("STATUS=newest sample 60.0 % busy")
    assert got[4].startswith("STOPPING=1")
    assert len(got) == 5


def test_status_names_a_fault_while_it_lasts_then_the_newest_sample(listener: Listener) -> None:
    now = [100.0]
    n = Notifier.from_env({}, os.getpid())
    n.mono = lambda: now[0]
    n.sampled(1_700_000_005.0, 12.34)
    n.fault("cannot write: disk full; 1 samples wait")  # at once, though a STATUS just went
    now[0] += 2
    n.sampled(1_700_000_010.0, 50.0)  # the fault still names the state
    n.fault("cannot write: disk full; 3 samples wait")
    n.fault("cannot write: disk full; 4 samples wait")  # within the second: not sent
    n.fault(None)  # over: the newest sample at once
    n.stopping()
    n.fault("stopping: 2 samples wait to be written")  # a new state: at once
    n.fault(None)
    got = listener.so_far()
    assert got[0].startswith("STATUS=newest sample 12.3")
    assert got[1:3] == [
        "STATUS=cannot write: disk full; 1 samples wait",
        "STATUS=cannot write: disk full; 3 samples wait",
    ]
    assert got[3].startswith("STATUS=newest sample 50.0")
    assert got[4:] == [
        "STOPPING=1\nSTATUS=stopping",
        "STATUS=stopping: 2 samples wait to be written",
        "STATUS=stopping",
    ]


def test_no_pings_when_the_watchdog_is_another_process_s(listener: Listener) -> None:
    n = Notifier.from_env({"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"}, os.getpid())
    n.ping()
    assert listener.so_far() == []


class BlockingSampler:
    """A sampler whose third call blocks until released: the loop stalls, nothing else does."""

    def __init__(self) -> None:
        self.calls = 0
        self.blocked = Event()
        self.release = Event()

    def prime(self) -> None:
        pass

    def __call__(self) -> Reading:
        self.calls += 1
        if self.calls == 3:
            self.blocked.set()
            self.release.wait(10)
        return Reading(1.0, None)


def test_a_long_interval_still_pings_every_half_watchdog_usec(listener: Listener) -> None:
    # On the fake clock, the loop's waits take no real time: every wait it makes is counted,
    # and every ping it sends is awaited on the real socket.
    notifier = Notifier.from_env({"WATCHDOG_USEC": "200000"}, os.getpid())
    clock, stop = RecordingClock(START), Event()
    clock.at(START + 60, lambda c: stop.set())
    run(BlockingSampler(), Sink(lambda ts, r: None), notifier, clock, 3600.0, stop)
    assert clock.waits and max(clock.waits) <= 0.1  # never longer than half WATCHDOG_USEC
    assert sum(clock.waits) >= 60
    pings = listener.so_far().count("WATCHDOG=1")
    assert pings == len(clock.waits)  # one before every wait: >= 600 in the minute


class RecordingClock(FakeClock):
    def __init__(self, wall: float) -> None:
        super().__init__(wall)
        self.waits: list[float] = []

    def wait(self, seconds: float, stop: Event) -> None:
        self.waits.append(seconds)
        super().wait(seconds, stop)


def test_pings_stop_while_only_the_loop_is_stalled(listener: Listener) -> None:
    notifier = Notifier.from_env({"WATCHDOG_USEC": "100000"}, os.getpid())
    sampler, stop = BlockingSampler(), Event()
    thread = threading.Thread(
        target=run,
        args=(sampler, Sink(lambda ts, r: None), notifier, SystemClock(), 0.1, stop),
    )
    thread.start()
    try:
        assert sampler.blocked.wait(5)
        # Every ping the loop sent before it blocked is on the socket before this mark.
        listener.mark("BLOCKED")
        # Ten ping periods with the loop stuck: a pinger of its own (a thread, a timer) would
        # have sent some. This is the one wait of the test; it cannot fail by being slow.
        time.sleep(10 * notifier.ping_every)
        listener.mark("RELEASING")
        sampler.release.set()
        wait_for(lambda: after(listener.all(), "RELEASING").count("WATCHDOG=1"), 5, "a ping")
    finally:
        stop.set()
        sampler.release.set()
        thread.join(3)
    got = listener.so_far()
    assert "WATCHDOG=1" not in between(got, "BLOCKED", "RELEASING")
    assert "WATCHDOG=1" in got[: got.index("BLOCKED")]  # it did ping before it stalled


def after(messages: list[str], marker: str) -> list[str]:
    return messages[messages.index(marker) + 1 :] if marker in messages else []


def between(messages: list[str], first: str, last: str) -> list[str]:
    return messages[messages.index(first) + 1 : messages.index(last)]


def test_the_collector_process_notifies_systemd(
    tmp_path: Path, listener: Listener, base_env: dict[str, str], spawn: Callable[..., Child]
) -> None:
    env = {**base_env, "NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "400000"}
    db = tmp_path / "c.db"
    child = spawn([*script("cpuload-collector"), "--db", str(db), "--interval", "0.2"], env=env)
    wait_for(lambda: any(m.startswith("READY=1") for m in listener.all()), 10, "READY=1")
    child.check_alive()

    def pinged_and_sampled() -> bool:
        msgs = listener.all()
        sampled = any(m.startswith("STATUS=newest sample") for m in msgs)
        return msgs.count("WATCHDOG=1") >= 3 and sampled

    wait_for(pinged_and_sampled, 10, "three pings and a STATUS= with a sample")
    child.proc.send_signal(signal.SIGTERM)
    assert child.proc.wait(5) == 0
    msgs = listener.so_far()  # everything the collector sent
    ready = next(i for i, m in enumerate(msgs) if m.startswith("READY=1"))
    assert "writing" in msgs[ready]
    assert msgs.count("WATCHDOG=1") >= 3
    assert any(m.startswith("STATUS=newest sample") for m in msgs)
    assert msgs[-1].startswith("STOPPING=1")
    assert db.exists()  # READY came after the database was open
