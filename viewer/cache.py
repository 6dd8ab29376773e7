"""Every cache the viewer keeps, owned here, with its keys and when an entry is invalid.

Caches.answers  Lru[Answer] keyed by the answer's ETag (see viewer/answers.py), which is
                made of the route, the normalised window and part, and everything the
                answer is drawn from: newest sample, runs, pauses, edits, the collector's
                lock, a live window's end rounded up to the interval. An entry can only be
                stale by being unused: a change makes a new key. Holds gzipped bytes.
Caches.windows  Lru[Window] keyed by (t0, t1) and the same facts, so the page and its
                three charts share one read of a window.
Caches.grids    Grid per cell width (LRU of 8 widths); a Grid keeps complete cells (those
                ending before the newest sample: the collector only appends after it).
                A kept cell is dropped when `edits` logs a change that overlaps it (a row
                put in, taken out or changed by hand; a sample stamped in the past after the
                clock went back), when retention deleted samples it held (its first sample
                is older than the oldest left), or when the grid outgrows four windows.
                Files without `edits` (schema before 3) keep no cell between requests.
Caches.damage   Lru[str | None] keyed by the state of the file and its -wal (inode, size,
                mtime): the damage check's verdict (None: not damaged), made for /healthz
                when samples stopped and no collector holds the file. Any write to the file
                makes a new key; a check that a lock kept from a verdict is not kept.
"""

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Generic, TypeVar

from viewer.cells import Grid
from viewer.facts import Facts

if TYPE_CHECKING:
    from viewer.answers import Answer
    from viewer.window import Window

V = TypeVar("V")


class Lru(Generic[V]):
    """Keeps the `size` most recently used values; computing happens outside the main lock."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()
        self._flights: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        with self._lock:
            if key in self._items:
                return self._hit(key)
            flight = self._flights.setdefault(key, threading.Lock())
        # One computation per key: under load every thread asked for the same new window at
        # once and each drew it (8 threads made a 0.2 s page take 2 s); the others wait here.
        with flight:
            with self._lock:
                if key in self._items:
                    return self._hit(key)
            try:
                value = compute()
            except BaseException:
                with self._lock:
                    self._flights.pop(key, None)
                raise
            with self._lock:
                self._flights.pop(key, None)
                self.misses += 1
                self._items[key] = value
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return value

    def values(self) -> list[V]:
        with self._lock:
            return list(self._items.values())

    def _hit(self, key: Hashable) -> V:
        self._items.move_to_end(key)
        self.hits += 1
        return self._items[key]

    def __len__(self) -> int:
        return len(self._items)


class Grids:
    """The grids by width, and what keeps their cells true (see the module's docstring)."""

    def __init__(self, size: int = 8) -> None:
        self._lru: Lru[Grid] = Lru(size)
        self._lock = threading.Lock()
        self._seen = -1  # the highest `edits` seq applied
        self._oldest: float | None = None
        self.epoch = 0  # how many times kept cells were dropped

    def get(self, width: float) -> Grid:
        return self._lru.get(width, lambda: self._new(width))

    def _new(self, width: float) -> Grid:
        grid = Grid(width)
        grid.epoch = self.epoch
        return grid

    def sync(self, conn: sqlite3.Connection, facts: Facts) -> int:
        """Drop every kept cell a change since the last call touched; return the epoch a read
        of this snapshot must carry (Ask.epoch) for a grid to keep what it reads: a read that
        began before a later one dropped cells keeps none, or it could bring stale ones back."""
        with self._lock:
            grids = self._lru.values()
            if facts.edits < 0 or facts.edits < self._seen:  # no log, or a new file
                changes: list[tuple[float, float]] | None = None
            elif facts.edits > self._seen and self._seen >= 0:
                sql = "SELECT low, high FROM edits WHERE seq > ?"
                changes = [(float(a), float(b)) for a, b in conn.execute(sql, (self._seen,))]
            else:
                changes = []
            first_time = self._seen < 0
            self._seen = facts.edits
            moved = facts.oldest != self._oldest
            self._oldest = facts.oldest
            if changes is None or changes or moved or first_time:
                self.epoch += 1
            epoch = self.epoch
            for grid in grids:
                with grid.lock:
                    grid.epoch = epoch
                    if changes is None or first_time:
                        grid.kept.clear()
                        continue
                    for low, high in changes:
                        grid.forget(low, high)
                    if moved:
                        grid.forget_before(facts.oldest)
        return epoch


class Caches:
    """The viewer's caches, built once per app and passed to whatever reads or renders."""

    def __init__(self, answers: int = 64, windows: int = 16) -> None:
        self.answers: Lru[Answer] = Lru(answers)
        self.windows: Lru[Window] = Lru(windows)
        self.grids = Grids()
        self.damage: Lru[str | None] = Lru(4)
