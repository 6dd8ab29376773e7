"""A small thread-safe LRU cache: rendered windows keyed by what would change them."""

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

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

    def _hit(self, key: Hashable) -> V:
        self._items.move_to_end(key)
        self.hits += 1
        return self._items[key]

    def __len__(self) -> int:
        return len(self._items)
