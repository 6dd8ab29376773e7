"""Figures the fault tests measure, kept for the docs in tests/artifacts/faults.json.

A fault test takes the `faults` fixture (tests/conftest.py) and records what it measured, in
the order a reader should see it:

    faults.record("kills", KILLS)
    faults.record("time without a successful write", outage.seconds, "s")

Figures are grouped by test file: tests/test_faults_kill.py records into "kill". Only a test
that passed keeps its figures. At the end of the session the groups that ran replace their
figures in tests/artifacts/faults.json and the other groups stay, so running one file updates
only its own. After a run of the whole fault suite, copy the file to docs/bench/faults.json
and run `python -m bench --markdown`: the `<!-- faults:GROUP -->` tables in the docs are
rendered from it (bench/markdown.py).
"""

import json
import time
from pathlib import Path
from typing import Any

from bench.machine import describe

Figure = float | int | str


def group_of(module: str) -> str:
    """tests.test_faults_kill -> kill."""
    return module.rsplit(".", 1)[-1].removeprefix("test_").removeprefix("faults_")


class FaultFigures:
    """One test's figures, kept only if the test passes (see Session.keep)."""

    def __init__(self, group: str, test: str) -> None:
        self.group, self.test = group, test
        self.figures: dict[str, dict[str, Any]] = {}

    def record(self, name: str, value: Figure, unit: str = "") -> None:
        """A figure as the docs show it: a number with its unit, or a short text."""
        self.figures[name] = {"name": name, "value": value, "unit": unit}


class Session:
    """The figures of this test session, grouped, in the order they were recorded."""

    def __init__(self) -> None:
        self.groups: dict[str, dict[str, Any]] = {}

    def keep(self, figures: FaultFigures) -> None:
        if not figures.figures:
            return
        group = self.groups.setdefault(figures.group, {"tests": [], "figures": []})
        group["tests"].append(figures.test)
        group["recorded_utc"] = utc_now()
        group["figures"] += list(figures.figures.values())

    def write(self, path: Path) -> None:
        """Merge this session's groups into `path` (a missing or unreadable file starts anew)."""
        if not self.groups:
            return
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {"groups": {}}
        report = {
            "recorded_utc": utc_now(),
            "machine": describe(),
            "groups": {**old.get("groups", {}), **self.groups},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def utc_now() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
