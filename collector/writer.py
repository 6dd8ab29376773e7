"""Writes each sample through the backlog, survives write faults, and prunes old samples."""

import logging
import sqlite3
import time
from collections.abc import Callable

from collector.backlog import Backlog
from collector.store import Store

FLUSH_MAX = 10_000  # rows per transaction when catching up, so one tick never runs long
PRUNE_BATCH = 2_000  # rows per DELETE: a few milliseconds each
PRUNE_EVERY = 3600.0
log = logging.getLogger("collector")


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
    ) -> None:
        self.store, self.backlog = store, backlog
        self.retention = retention_days * 86400.0
        self.prune_budget = min(interval / 4, 0.5)
        self.now, self.mono = now, mono
        self.next_prune = mono()
        self.failing_since: float | None = None
        self.dropped = 0
        self.collided = 0

    def __call__(self, ts: float, cpu: float) -> None:
        if not self.backlog.append(ts, cpu):
            self._overflowed()
        self.flush()
        self.housekeep()

    def flush(self) -> None:
        """Write the queue oldest first; on a fault keep it and log once per episode."""
        waiting = len(self.backlog)
        while len(self.backlog):
            rows = self.backlog.head(FLUSH_MAX)
            try:
                collided = self.store.insert(rows)
            except sqlite3.Error as exc:
                self._failed(exc)
                return
            self.backlog.discard(len(rows))
            self._recovered(waiting)
            self._collisions(collided, len(rows))
            if len(rows) < FLUSH_MAX:
                return

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
            log.debug("retention postponed: %s", exc)
            self.next_prune = self.mono() + 60
            return
        if total:
            log.info(
                "retention: deleted %d samples older than %g days", total, self.retention / 86400
            )

    def close(self) -> int:
        """Last attempt to write the queue; return how many samples could not be written."""
        self.flush()
        lost = len(self.backlog)
        if lost:
            log.error("%d samples could not be written and are lost", lost)
        return lost

    def _failed(self, exc: sqlite3.Error) -> None:
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
