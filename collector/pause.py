"""A pause inside a run: the loop took no reading for more than two intervals. Which kind."""

from typing import Literal, NamedTuple

PauseKind = Literal["suspend", "stall"]  # shared.schema.PAUSE_KINDS
MIN_SUSPEND = 1.0  # seconds slept before a pause counts as a suspend at all


class Pause(NamedTuple):
    """As the `pauses` table holds it: wall times of the last reading before the pause and of
    the reading that ended it, its kind, and the seconds the host slept in between."""

    start: float
    stop: float
    kind: PauseKind
    slept: float


def pause(start: float, stop: float, length: float, slept: float) -> Pause:
    """The pause from wall `start` to `stop`, `length` seconds long by CLOCK_BOOTTIME.

    `slept` is the growth of CLOCK_BOOTTIME - CLOCK_MONOTONIC across it: only a suspend makes
    them part. Most of the pause asleep (and at least a second) is a suspend, else a stall
    (SIGSTOP, starved of CPU, a stuck disk). The length comes from the monotonic clock, so a
    wall-clock step inside the pause does not change its kind; `stop` is kept at or after
    `start` for the same reason.
    """
    slept = max(0.0, slept)
    kind: PauseKind = "suspend" if slept >= MIN_SUSPEND and slept >= length / 2 else "stall"
    return Pause(start, max(start, stop), kind, slept)


def describe(p: Pause) -> str:
    """The log line's reason, e.g. 'the host was suspended for 58.2 s'."""
    if p.kind == "suspend":
        return f"the host was suspended for {p.slept:.1f} s"
    return "a stall: the collector could not run"
