"""shared/settings.py: flag > CPULOAD_* environment > default, and exit 2 on bad usage."""

from pathlib import Path

import pytest

from shared.settings import collector_settings, default_db, viewer_settings


def test_default_db_follows_the_contracts_order() -> None:
    assert default_db({"STATE_DIRECTORY": "/var/lib/cpuload"}) == Path(
        "/var/lib/cpuload/cpuload.db"
    )
    assert default_db({"XDG_STATE_HOME": "/x"}) == Path("/x/cpuload/cpuload.db")
    assert default_db({"HOME": "/home/me"}) == Path("/home/me/.local/state/cpuload/cpuload.db")
    relative = {"HOME": "/home/me", "XDG_STATE_HOME": "rel"}  # invalid by the XDG spec
    assert default_db(relative) == Path("/home/me/.local/state/cpuload/cpuload.db")


def test_flag_beats_environment_beats_default() -> None:
    env = {"HOME": "/h", "CPULOAD_DB": "/env.db", "CPULOAD_INTERVAL": "2"}
    s = collector_settings(["--db", "/flag.db", "--interval", "0.5"], env)
    assert (s.db, s.interval, s.db_is_default) == (Path("/flag.db"), 0.5, False)
    s = collector_settings([], env)
    assert (s.db, s.interval, s.retention_days) == (Path("/env.db"), 2.0, 30)
    v = viewer_settings([], {"HOME": "/h", "CPULOAD_PORT": "9000"})
    assert (v.host, v.port, v.log_level) == ("127.0.0.1", 9000, "info")


def test_an_environment_value_is_validated_like_its_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The flags themselves are checked against the real process in test_collector_process.py.
    with pytest.raises(SystemExit) as exc:
        collector_settings([], {"CPULOAD_INTERVAL": "0.05"})
    assert exc.value.code == 2
    assert "CPULOAD_INTERVAL" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "value"), [("CPULOAD_PORT", "70000"), ("CPULOAD_HOST", "a b"), ("CPULOAD_PORT", "x")]
)
def test_bad_environment_exits_2_naming_the_variable(
    name: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        viewer_settings([], {name: value})
    assert exc.value.code == 2
    assert name in capsys.readouterr().err


def test_an_empty_db_path_is_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        collector_settings(["--db", ""], {})
    assert exc.value.code == 2
    assert "path is empty" in capsys.readouterr().err
