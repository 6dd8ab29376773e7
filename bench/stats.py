"""Figures, their floors and targets: medians, 95th percentiles, ratios and PASS/MISS."""

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Target:
    """`value` limits the figure's median itself; `ratio` limits median / floor."""

    limit: float
    of: Literal["value", "ratio"] = "value"

    def text(self, unit: str) -> str:
        return f"<= {self.limit:g}x floor" if self.of == "ratio" else f"<= {self.limit:g} {unit}"


@dataclass(frozen=True)
class Summary:
    p50: float
    p95: float
    n: int


@dataclass(frozen=True)
class Row:
    section: str
    figure: str
    unit: str
    value: Summary | None
    floor: float | None = None
    floor_label: str = ""
    target: Target | None = None
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.floor:
            return None
        return self.value.p50 / self.floor

    @property
    def status(self) -> str:
        if self.value is None:
            return "ERROR"
        if self.target is None:
            return "info"
        got = self.ratio if self.target.of == "ratio" else self.value.p50
        if got is None:
            return "ERROR"
        return "PASS" if got <= self.target.limit else "MISS"


def summarise(values: Sequence[float]) -> Summary:
    """Median and 95th percentile (interpolated between the nearest ranks)."""
    if not values:
        raise ValueError("no measurements to summarise")
    ordered = sorted(values)
    if len(ordered) == 1:
        return single(ordered[0])
    p95 = statistics.quantiles(ordered, n=20, method="inclusive")[-1]
    return Summary(statistics.median(ordered), p95, len(ordered))


def single(value: float) -> Summary:
    """A figure measured once (a file size, a throughput run)."""
    return Summary(value, value, 1)


def error_row(section: str, figure: str, unit: str, reason: str) -> Row:
    """A row for a figure that could not be measured; the note says why."""
    return Row(section, figure, unit, None, note=reason)
