"""dev.py, the quick start: --help, what `run` installs, and `run --db` reaching both programs."""

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

import dev
from tests.conftest import ROOT, Child, require, wait_for


def test_help_exits_0_and_names_both_commands() -> None:
    for argv in (["--help"], ["-h"], ["run", "--help"]):
        result = subprocess.run(
            [sys.executable, "dev.py", *argv], cwd=ROOT, capture_output=True, text=True
        )
        assert result.returncode == 0, (argv, result.stderr)
        assert "dev.py run" in result.stdout and "dev.py test" in result.stdout


def test_an_unknown_command_is_bad_usage() -> None:
    result = subprocess.run([sys.executable, "dev.py", "nope"], cwd=ROOT, capture_output=True)
    assert result.returncode == 2


def test_run_flags_reach_the_program_that_takes_them() -> None:
    collector, viewer = dev.split_flags(
        ["--db", "/x.db", "--port", "0", "--interval=1", "--log-level", "debug"]
    )
    assert collector == ["--db", "/x.db", "--interval=1", "--log-level", "debug"]
    assert viewer == ["--db", "/x.db", "--port", "0", "--log-level", "debug"]


@pytest.fixture
def fake_venv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """dev.py pointed at a scratch checkout; the pip and venv commands it would run, recorded."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "python").touch()
    monkeypatch.setattr(dev, "ROOT", tmp_path)
    monkeypatch.setattr(dev, "VENV", tmp_path / ".venv")
    monkeypatch.setattr(dev, "BIN", tmp_path / ".venv" / "bin")
    commands: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", lambda argv, check: commands.append(argv))
    return commands


def test_run_installs_cpuload_without_the_test_tools(fake_venv: list[list[str]]) -> None:
    dev.ensure_venv("")
    dev.ensure_venv("")
    (install,) = fake_venv  # once: the second call finds it current
    assert install[-1] == str(dev.ROOT), install


def test_run_after_test_installs_nothing_more(fake_venv: list[list[str]]) -> None:
    dev.ensure_venv("test")
    assert fake_venv[-1][-1] == f"{dev.ROOT}[test]"
    dev.ensure_venv("")
    assert len(fake_venv) == 1


def test_a_changed_pyproject_installs_again(fake_venv: list[list[str]]) -> None:
    dev.ensure_venv("")
    (dev.ROOT / "pyproject.toml").write_text("[project]\nname = 'y'\n")
    dev.ensure_venv("")
    assert len(fake_venv) == 2


@pytest.mark.slow
def test_run_db_hands_the_path_to_both_programs(
    tmp_path: Path, spawn: Callable[..., Child], base_env: dict[str, str]
) -> None:
    require(dev.is_current(""), "needs the .venv that python3 dev.py test makes")
    db = tmp_path / "given.db"
    argv = [sys.executable, str(ROOT / "dev.py"), "run", "--db", str(db), "--port", "0"]
    argv += ["--interval", "0.2"]
    child = spawn(argv, base_env, name="dev-run")

    def both_started() -> bool:
        child.check_alive()
        out = child.output()
        return f"writing {db} every" in out and f"from {db}" in out

    wait_for(both_started, 20, "both programs' start-up lines naming the given --db")

    def samples() -> int:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            return int(conn.execute("SELECT count(*) FROM samples").fetchone()[0])

    wait_for(samples, 10, "samples in the given --db")
    assert not (tmp_path / "xdg-state" / "cpuload").exists()  # nothing at the default path
    assert child.stop() == 0
