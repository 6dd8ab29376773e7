"""Housekeeping between samples: delete samples past the retention, fold the edit log."""

import logging
import sqlite3
import time
from collections.abc import Callable

from collector.filecheck import stop_on_damage
from collector.store import Store

PRUNE_BATCH = 2_000  # rows per DELETE: a few milliseconds each
PRUNE_EVERY, PRUNE_RETRY = 3600.0, 60.0
COMPACT_EVERY = 60.0  # the edit log grows fast only after a clock step back at a short interval
log = logging.getLogger("collector")


class Retention:
    """Deletes old samples at start and then hourly, in small batches within a time budget."""

    def __init__(
        self,
        store: Store,
        retention_days: int,
        interval: float,
        now: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.keep = retention_days * 86400.0
        self.budget = min(interval / 4, 0.5)  # a quarter interval at most: sampling comes first
        self.now, self.mono = now, mono
        self.next_prune = self.next_compact = mono()
        self.failing = False

    def __call__(self) -> None:
        """Whatever is due; damage raises Damaged, other faults wait for the next attempt."""
        if self.mono() >= self.next_compact:
            self.next_compact = self.mono() + COMPACT_EVERY
            self._compact()
        if self.keep and self.mono() >= self.next_prune:
            self._prune()

    def _prune(self) -> None:
        deadline, cutoff, total = self.mono() + self.budget, self.now() - self.keep, 0
        try:
            while True:
                deleted = self.store.prune(cutoff, PRUNE_BATCH)
                total += deleted
                if deleted < PRUNE_BATCH:
                    self.next_prune = self.mono() + PRUNE_EVERY
                    break
                if self.mono() >= deadline:
                    break  # more next tick
            if total:
                self.store.vacuum()
        except sqlite3.Error as exc:
            stop_on_damage(self.store.path, exc)
            self._failed(exc)
            return
        if self.failing:
            self.failing = False
            log.warning("retention works again")
        if total:
            log.info("retention: deleted %d samples older than %g days", total, self.keep / 86400)

    def _failed(self, exc: sqlite3.Error) -> None:
        """Try again in a minute; say so once per episode (the samples are safe meanwhile)."""
        self.next_prune = self.mono() + PRUNE_RETRY
        if not self.failing:
            self.failing = True
            log.warning(
                "cannot delete samples older than %g days from %s: %s; trying again every %g s",
                self.keep / 86400,
                self.store.path,
                exc,
                PRUNE_RETRY,
            )
        else:
            log.debug("retention postponed again: %s", exc)

    def _compact(self) -> None:
        try:
            folded = self.store.compact_edits()
        except sqlite3.Error as exc:
            stop_on_damage(self.store.path, exc)
            log.debug("the edit log is folded later: %s", exc)
            return
        if folded:
            log.info("folded the edit log's %d rows into one", folded)
