"""Writes each sample (and each pause) through the queue, in order, and survives write faults."""

import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Protocol

from collector.backlog import Backlog, Row
from collector.filecheck import stop_on_damage
from collector.pause import Pause
from collector.sampler import Reading
from collector.store import Store

FLUSH_MAX = 10_000  # rows per transaction when catching up, so one tick never runs long
PAUSES_KEPT = 1_000  # pauses waiting to be written, like samples; the oldest go first
# On stop, samples that wait for a full disk are tried again for this long (the unit gives 15 s
# to stop), every STOP_RETRY s: space freed by the person who read STATUS= still saves them.
STOP_PATIENCE, STOP_RETRY = 10.0, 0.1
log = logging.getLogger("collector")


class Status(Protocol):
    def fault(self, text: str | None) -> None: ...


class _NoStatus:
    def fault(self, text: str | None) -> None:
        pass


def makes_room(exc: sqlite3.Error) -> bool:
    """A fault a checkpoint may cure: the disk is full (of our own WAL, perhaps)."""
    return getattr(exc, "sqlite_errorname", "").startswith(("SQLITE_FULL", "SQLITE_IOERR"))


class Writer:
    """The loop's `write`: queue, then write everything queued in order; pauses likewise.

    A database fault never escapes: the samples and pauses wait in memory and the next tick
    retries. Damage does escape, as Damaged: nothing more may be written then.
    """

    def __init__(
        self,
        store: Store,
        backlog: Backlog,
        housekeep: Callable[[], None] = lambda: None,
        mono: Callable[[], float] = time.monotonic,
        status: Status | None = None,
    ) -> None:
        self.store, self.backlog, self.housekeep = store, backlog, housekeep
        self.status = status or _NoStatus()
        self.mono = mono
        self.pauses: list[Pause] = []
        self.failing_since: float | None = None
        self.failure: sqlite3.Error | None = None
        self.closing = False
        self.dropped = 0
        self.collided = 0

    def __call__(self, ts: float, reading: Reading) -> None:
        if not self.backlog.append(ts, reading):
            self._overflowed()
        self.flush()
        self.housekeep()

    def pause(self, pause: Pause) -> None:
        """Keep a pause for the next write (with the next sample, or at the stop)."""
        self.pauses = [*self.pauses[-(PAUSES_KEPT - 1) :], pause]

    def flush(self) -> None:
        """Write the queue oldest first; on a fault keep it and log once per episode."""
        self.store.fit_wal()
        waiting = len(self.backlog)
        while len(self.backlog) or self.pauses:
            rows = self.backlog.head(FLUSH_MAX)
            collided = self._insert(rows, self.pauses)
            if collided is None:
                return
            self.backlog.discard(len(rows))
            self.pauses = []
            self._recovered(waiting)
            self._collisions(collided, len(rows))
            if len(rows) < FLUSH_MAX:
                return

    def _insert(self, rows: list[Row], pauses: list[Pause]) -> list[float] | None:
        """Insert, or after a "disk full" checkpoint and insert once more; None if it failed."""
        try:
            return self.store.insert(rows, pauses)
        except sqlite3.Error as exc:
            fault = exc
        stop_on_damage(self.store.path, fault)
        if makes_room(fault) and self.store.checkpoint():
            try:
                collided = self.store.insert(rows, pauses)
            except sqlite3.Error as exc:
                stop_on_damage(self.store.path, exc)
                fault = exc
            else:
                log.debug("%s; checkpointed the WAL to make room, and wrote", fault)
                return collided
        self._failed(fault)
        return None

    def close(self, sleep: Callable[[float], None] = time.sleep) -> int:
        """Write the queue, trying for STOP_PATIENCE s while it fails; return how many samples
        could not be written.

        The checkpoint comes first: the WAL may hold the space the final flush needs.
        """
        self.closing = True
        if len(self.backlog) or self.pauses:
            self.store.checkpoint()
        self.flush()
        deadline = self.mono() + STOP_PATIENCE
        while (len(self.backlog) or self.pauses) and self.failure is not None:
            if self.mono() >= deadline:
                break
            sleep(STOP_RETRY)
            self.store.checkpoint()
            self.flush()
        lost = len(self.backlog)
        if lost or self.pauses:
            log.error(
                "%d samples (and %d pauses) could not be written and are lost",
                lost,
                len(self.pauses),
            )
        return lost

    def _failed(self, exc: sqlite3.Error) -> None:
        self.failure = exc
        waiting = len(self.backlog)
        count = "1 sample waits" if waiting == 1 else f"{waiting} samples wait"
        if self.closing:
            self.status.fault(
                f"stopping: {count} to be written ({exc}); retrying for up to {STOP_PATIENCE:g} s"
            )
        else:
            self.status.fault(f"cannot write: {exc}; {count} in memory")
        if self.failing_since is None:
            self.failing_since = self.mono()
            log.warning(
                "cannot write to %s: %s; keeping samples in memory (room for %d) and retrying"
                " every tick",
                self.store.path,
                exc,
                self.backlog.capacity,
            )

    def _recovered(self, written: int) -> None:
        if self.failing_since is None:
            return
        self.failure = None
        self.status.fault(None)
        lost = f", {self.dropped} oldest were dropped" if self.dropped else ""
        log.warning(
            "writing works again after %.1f s: wrote %d waiting samples%s",
            self.mono() - self.failing_since,
            written,
            lost,
        )
        self.failing_since, self.dropped = None, 0

    def _overflowed(self) -> None:
        if not self.dropped:
            log.warning(
                "the memory queue is full (%d samples); dropping the oldest until writing works",
                self.backlog.capacity,
            )
        self.dropped += 1

    def _collisions(self, collided: list[float], written: int) -> None:
        if collided and not self.collided:
            log.warning(
                "a sample is already stored at %r (the clock went back?); the new one is dropped",
                collided[0],
            )
        self.collided += len(collided)
        if self.collided and len(collided) < written:
            if self.collided > 1:
                log.warning("dropped %d samples whose stamps were already stored", self.collided)
            self.collided = 0
