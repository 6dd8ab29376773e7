"""viewer/__main__.py: what the viewer says at start about the path it reads."""

import signal
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Child
from tests.test_viewer_process import VIEWER, get_json, start_viewer

Spawn = Callable[..., Child]


def test_a_given_path_in_a_missing_directory_is_warned_about_and_served(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    # The collector refuses such a path ("directory ... does not exist"); the first viewer
    # started and waited without a word.
    db = tmp_path / "no" / "such" / "x.db"
    viewer, base = start_viewer(spawn, [*VIEWER, "--db", str(db), "--port", "0"], base_env)
    assert get_json(base + "healthz")[1]["status"] == "no-data"
    assert viewer.stop(signal.SIGTERM, timeout=3) == 0
    warnings = [line for line in viewer.output().splitlines() if "does not exist" in line]
    assert len(warnings) == 1 and str(db.parent) in warnings[0], viewer.output()


def test_the_default_path_is_not_warned_about_before_the_collector_made_it(
    tmp_path: Path, spawn: Spawn, base_env: dict[str, str]
) -> None:
    viewer, base = start_viewer(spawn, [*VIEWER, "--port", "0"], base_env)
    assert not (tmp_path / "xdg-state" / "cpuload").exists()
    assert get_json(base + "healthz")[1]["status"] == "no-data"
    assert viewer.stop(signal.SIGTERM, timeout=3) == 0
    assert len(viewer.output().splitlines()) == 1, viewer.output()
