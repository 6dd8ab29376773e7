"""collector/__main__.py's last-resort handler: one line, and the traceback at debug only."""

from pathlib import Path

import pytest

import collector.__main__ as entry


def boom(*args: object) -> int:
    raise KeyError("x")


@pytest.mark.parametrize("level", ["info", "debug"])
def test_an_unexpected_error_is_one_line_and_a_traceback_only_at_debug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], level: str
) -> None:
    monkeypatch.setattr(entry, "collect", boom)
    argv = ["--db", str(tmp_path / "c.db"), "--log-level", level]
    assert entry.main(argv, environ={}) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "cpuload-collector: error: KeyError: 'x'"
    if level == "debug":
        # The first version printed the line alone, at any level: a bug could not be traced.
        assert err[1] == "Traceback (most recent call last):" and "in boom" in "\n".join(err)
        assert err[-1] == "KeyError: 'x'"
    else:
        assert len(err) == 1
