"""The bounded in-memory queue of samples waiting to be written, 16 bytes a sample."""

from array import array


def day_of_samples(interval: float) -> int:
    """Room for a day at the running interval: 17,280 at 5 s, 864,000 (13.8 MB) at 0.1 s."""
    return max(1, round(86400 / interval))


class Backlog:
    """Oldest-first stamps and values in two arrays of doubles; full means the oldest goes."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ts = array("d")
        self._cpu = array("d")

    def __len__(self) -> int:
        return len(self._ts)

    def append(self, ts: float, cpu: float) -> bool:
        """Queue a sample; return False when the oldest had to be dropped to make room."""
        full = len(self._ts) >= self.capacity
        if full:
            self.discard(1)
        self._ts.append(ts)
        self._cpu.append(cpu)
        return not full

    def head(self, n: int) -> list[tuple[float, float]]:
        """The oldest n samples, still queued until discard()."""
        return list(zip(self._ts[:n], self._cpu[:n], strict=True))

    def discard(self, n: int) -> None:
        """Forget the oldest n samples (written, or dropped to make room)."""
        del self._ts[:n]
        del self._cpu[:n]
