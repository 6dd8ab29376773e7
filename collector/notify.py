"""sd_notify for systemd: READY, the watchdog pings from the loop, STATUS and STOPPING."""

import math
import os
import time
from collections.abc import Callable, Mapping

import sdnotify

STATUS_EVERY = 1.0


def watchdog_period(environ: Mapping[str, str], pid: int) -> float:
    """Seconds between pings: half of WATCHDOG_USEC, or never when it is not ours.

    sdnotify knows nothing of the watchdog, so the variables are read here; WATCHDOG_PID
    naming another process means the setting was inherited and is not meant for us.
    """
    owner = environ.get("WATCHDOG_PID", "")
    if owner and owner != str(pid):
        return math.inf
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return math.inf
    return usec / 2e6 if usec > 0 else math.inf


class Notifier:
    """Sends state strings through `send`; without NOTIFY_SOCKET they go nowhere, harmlessly."""

    def __init__(
        self,
        send: Callable[[str], None],
        ping_every: float,
        mono: Callable[[], float] = time.monotonic,
        heard: bool = True,
    ) -> None:
        self.send = send
        self.heard = heard  # something reads NOTIFY_SOCKET: without it, nothing is formatted
        self.ping_every = ping_every
        self.mono = mono
        self.status_at = -math.inf
        self.fault_text: str | None = None  # while set, STATUS= names the fault, not a sample
        self.newest: tuple[float, float] | None = None
        self.stopped = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str], pid: int) -> "Notifier":
        """sdnotify reads NOTIFY_SOCKET itself; the watchdog settings come from `environ`.
        Without NOTIFY_SOCKET (not under systemd) every message would go nowhere: none is even
        made, which is most of an idle tick's work after the sample itself."""
        if not os.environ.get("NOTIFY_SOCKET"):  # where sdnotify looks, whatever `environ` is
            return cls(lambda _: None, math.inf, heard=False)
        return cls(sdnotify.SystemdNotifier().notify, watchdog_period(environ, pid))

    def ready(self, status: str) -> None:
        self.send(f"READY=1\nSTATUS={status}")

    def ping(self) -> None:
        """Called by the loop itself, so a stalled loop stops the pings and systemd notices."""
        if self.ping_every != math.inf:
            self.send("WATCHDOG=1")

    def sampled(self, ts: float, cpu: float) -> None:
        """STATUS= with the newest sample, at most about once a second, unless a fault lasts."""
        self.newest = (ts, cpu)
        if self.heard and self.fault_text is None and self.mono() - self.status_at >= STATUS_EVERY:
            self._status(_sample_status(ts, cpu))

    def fault(self, text: str | None) -> None:
        """STATUS= names a fault while it lasts (`text`), and the newest sample after (None).

        `systemctl status` is where a person looks first; the watchdog cannot tell them, as
        the loop keeps pinging while the disk is full.
        """
        if text is None:
            if self.fault_text is not None:
                self.fault_text, self.status_at = None, -math.inf
                if self.stopped:
                    self._status("stopping")
                elif self.newest is not None:
                    self._status(_sample_status(*self.newest))
            return
        first = self.fault_text is None
        self.fault_text = text
        self._status(text, force=first)

    def _status(self, text: str, force: bool = False) -> None:
        now = self.mono()
        if not force and now - self.status_at < STATUS_EVERY:
            return
        self.status_at = now
        self.send(f"STATUS={text}")

    def stopping(self) -> None:
        """From here on STATUS= says why the stop takes long, if it does."""
        self.fault_text, self.stopped = None, True
        self.send("STOPPING=1\nSTATUS=stopping")


def _sample_status(ts: float, cpu: float) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(ts))
    return f"newest sample {cpu:.1f} % busy at {when}"
