"""The bounded in-memory queue of samples waiting to be written, 30 bytes a sample."""

from array import array

from collector.sampler import Reading
from shared.schema import MODES

NO_MODES = -1  # in the modes array: this sample's modes are NULL
Row = tuple[float | int | None, ...]  # ts, cpu, then one value per mode (None: NULL)


def day_of_samples(interval: float) -> int:
    """Room for a day at the running interval: 17,280 at 5 s, 864,000 (25.9 MB) at 0.1 s."""
    return max(1, round(86400 / interval))


class Backlog:
    """Oldest-first stamps and values in arrays: two doubles and seven 16-bit integers (the
    modes in hundredths, 0 to 10000) a sample; full means the oldest goes."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._ts = array("d")
        self._cpu = array("d")
        self._modes = array("h")

    def __len__(self) -> int:
        return len(self._ts)

    def append(self, ts: float, reading: Reading) -> bool:
        """Queue a sample; return False when the oldest had to be dropped to make room."""
        full = len(self._ts) >= self.capacity
        if full:
            self.discard(1)
        self._ts.append(ts)
        self._cpu.append(reading.cpu)
        self._modes.extend(reading.modes or (NO_MODES,) * len(MODES))
        return not full

    def head(self, n: int) -> list[Row]:
        """The oldest n samples as rows for the INSERT, still queued until discard()."""
        width = len(MODES)
        rows: list[Row] = []
        for i, (ts, cpu) in enumerate(zip(self._ts[:n], self._cpu[:n], strict=True)):
            modes = self._modes[i * width : (i + 1) * width]
            if modes[0] == NO_MODES:
                rows.append((ts, cpu, *(None,) * width))
            else:
                rows.append((ts, cpu, *modes))
        return rows

    def discard(self, n: int) -> None:
        """Forget the oldest n samples (written, or dropped to make room)."""
        del self._ts[:n]
        del self._cpu[:n]
        del self._modes[: n * len(MODES)]
