"""Aggregates of fixed time cells, kept once a cell is complete: a long window costs its news.

Cell c of width w holds the samples with c*w < ts <= (c+1)*w (the minute rule when w = 60).
"""

import itertools
import threading
from collections.abc import Iterator, Sequence
from sqlite3 import Connection

from shared.timeutil import cell_of
from viewer import queries
from viewer.aggregate import Point


def pairs_of(points: Sequence[Point], limit: float) -> Iterator[tuple[float, float]]:
    """Neighbouring samples more than `limit` apart. A point never holds such a pair inside
    (cells are split there), so looking between points finds all of them."""
    for a, b in itertools.pairwise(points):
        if b.first - a.last > limit:
            yield a.last, b.first


class Grid:
    """The cells of one width, split at steps over `limit` (None: one point per cell)."""

    def __init__(self, width: float, limit: float | None) -> None:
        self.width = width
        self.limit = limit
        self.cells: dict[int, list[Point]] = {}
        self.lock = threading.Lock()

    def points(
        self, conn: Connection, t0: float, t1: float, newest: float, rows: int | None = None
    ) -> list[Point]:
        """The window's points; cached cells are trusted only while the sample count agrees.

        The cheap row count is tried first; only a window holding rows that are not samples
        (put in by hand) pays for counting the samples themselves.
        """
        with self.lock:
            found = self._assemble(conn, t0, t1, newest)
            rows = queries.rows(conn, t0, t1) if rows is None else rows
            n = sum(p.count for p in found)
            if n != rows and n != queries.count(conn, t0, t1):  # a late or deleted sample
                self.cells.clear()
                found = self._assemble(conn, t0, t1, newest)
            return found

    def _assemble(self, conn: Connection, t0: float, t1: float, newest: float) -> list[Point]:
        w = self.width
        c0, c1 = cell_of(t0, w), cell_of(t1, w)
        head = self._read(conn, t0, min((c0 + 1) * w, t1))  # the cell cut by t0
        k = c0 + 1
        while k < c1 and k in self.cells:
            k += 1
        fresh = self._read(conn, max(k * w, t0), t1)
        for c in range(k, c1):
            if (c + 1) * w < newest:  # complete: the collector has written past it
                self.cells[c] = fresh.get(c, [])
        for old in [c for c in self.cells if c <= c0]:
            del self.cells[old]
        cached = [p for c in range(c0 + 1, k) for p in self.cells[c]]
        return (
            [p for ps in head.values() for p in ps]
            + cached
            + [p for ps in fresh.values() for p in ps]
        )

    def _read(self, conn: Connection, a: float, b: float) -> dict[int, list[Point]]:
        return queries.cells(conn, a, b, self.width, self.limit) if a < b else {}
