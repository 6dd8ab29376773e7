"""Writes each sample through the backlog, survives write faults, and prunes old samples."""

import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Protocol

from collector.backlog import Backlog
from collector.filecheck import damage, stop_on_damage
from collector.store import Store

FLUSH_MAX = 10_000  # rows per transaction when catching up, so one tick never runs long
PRUNE_BATCH = 2_000  # rows per DELETE: a few milliseconds each
PRUNE_EVERY, PRUNE_RETRY = 3600.0, 60.0
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
    """The loop's `write`: queue, then write everything queued in order.

    A database fault never escapes: the samples wait in the backlog and the next tick retries.
    """

    def __init__(
        self,
        store: Store,
        backlog: Backlog,
        retention_days: int,
        interval: float,
        now: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
        status: Status | None = None,
    ) -> None:
        self.store, self.backlog = store, backlog
        self.status = status or _NoStatus()
        self.retention = retention_days * 86400.0
        self.prune_budget = min(interval / 4, 0.5)
        self.now, self.mono = now, mono
        self.next_prune = mono()
        self.failing_since: float | None = None
        self.failure: sqlite3.Error | None = None
        self.closing = False
        self.damaged = False  # then nothing more is written, not even at close
        self.prune_failing = False
        self.dropped = 0
        self.collided = 0

    def __call__(self, ts: float, cpu: float) -> None:
        if not self.backlog.append(ts, cpu):
            self._overflowed()
        self.flush()
        self.housekeep()

    def flush(self) -> None:
        """Write the queue oldest first; on a fault keep it and log once per episode."""
        self.store.fit_wal()
        waiting = len(self.backlog)
        while len(self.backlog):
            rows = self.backlog.head(FLUSH_MAX)
            collided = self._insert(rows)
            if collided is None:
                return
            self.backlog.discard(len(rows))
            self._recovered(waiting)
            self._collisions(collided, len(rows))
            if len(rows) < FLUSH_MAX:
                return

    def _insert(self, rows: list[tuple[float, float]]) -> list[float] | None:
        """Insert, or after a "disk full" checkpoint and insert once more; None if it failed."""
        try:
            return self.store.insert(rows)
        except sqlite3.Error as exc:
            fault = exc
        self._stop_if_damaged(fault)
        if makes_room(fault) and self.store.checkpoint():
            try:
                collided = self.store.insert(rows)
            except sqlite3.Error as exc:
                self._stop_if_damaged(exc)
                fault = exc
            else:
                log.debug("%s; checkpointed the WAL to make room, and wrote", fault)
                return collided
        self._failed(fault)
        return None

    def housekeep(self) -> None:
        """When due, delete old samples in small batches for at most a quarter interval."""
        if not self.retention or self.mono() < self.next_prune:
            return
        deadline, cutoff, total = self.mono() + self.prune_budget, self.now() - self.retention, 0
        try:
            while True:
                deleted = self.store.prune(cutoff, PRUNE_BATCH)
                total += deleted
                if deleted < PRUNE_BATCH:
                    self.next_prune = self.mono() + PRUNE_EVERY
                    break
                if self.mono() >= deadline:
                    break  # more next tick; sampling comes first
            if total:
                self.store.vacuum()
        except sqlite3.Error as exc:
            self._stop_if_damaged(exc)
            self._prune_failed(exc)
            return
        if self.prune_failing:
            self.prune_failing = False
            log.warning("retention works again")
        if total:
            log.info(
                "retention: deleted %d samples older than %g days", total, self.retention / 86400
            )

    def _prune_failed(self, exc: sqlite3.Error) -> None:
        """Try again in a minute; say so once per episode (the samples are safe meanwhile)."""
        self.next_prune = self.mono() + PRUNE_RETRY
        if not self.prune_failing:
            self.prune_failing = True
            log.warning(
                "cannot delete samples older than %g days from %s: %s; trying again every %g s",
                self.retention / 86400,
                self.store.path,
                exc,
                PRUNE_RETRY,
            )
        else:
            log.debug("retention postponed again: %s", exc)

    def close(self, pause: Callable[[float], None] = time.sleep) -> int:
        """Write the queue, trying for STOP_PATIENCE s while it fails; return how many samples
        could not be written.

        The checkpoint comes first: the WAL may hold the space the final flush needs.
        """
        self.closing = True
        if self.damaged:
            return len(self.backlog)
        if len(self.backlog):
            self.store.checkpoint()
        self.flush()
        deadline = self.mono() + STOP_PATIENCE
        while len(self.backlog) and self.failure is not None:
            if self.mono() >= deadline:
                break
            pause(STOP_RETRY)
            self.store.checkpoint()
            self.flush()
        lost = len(self.backlog)
        if lost:
            log.error("%d samples could not be written and are lost", lost)
        return lost

    def _stop_if_damaged(self, exc: sqlite3.Error) -> None:
        self.damaged = damage(exc)
        stop_on_damage(self.store.path, exc)

    def _failed(self, exc: sqlite3.Error) -> None:
        self.failure = exc
        waiting = len(self.backlog)
        if self.closing:
            self.status.fault(
                f"stopping: {waiting} samples wait to be written ({exc});"
                f" retrying for up to {STOP_PATIENCE:g} s"
            )
        else:
            self.status.fault(f"cannot write: {exc}; {waiting} samples wait in memory")
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
