"""The unit files and install scripts, checked by systemd's own tools without booting anything."""

import re
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, require_root, require_tool

UNITS = ROOT / "systemd"
VENV_BIN = "opt/cpuload/venv/bin"
NAMES = ("cpuload-collector.service", "cpuload-viewer.service")


@pytest.fixture(autouse=True, scope="module")
def _no_marker_left() -> Iterator[None]:
    """systemd-analyze touches this marker; remove it where no systemd of the host made it."""
    marker = Path("/run/systemd/systemd-units-load")
    existed = marker.exists()
    yield
    if not existed:
        marker.unlink(missing_ok=True)


def directives(unit: str) -> dict[str, list[str]]:
    """Key -> every value it is given in the unit file (keys may repeat)."""
    found: dict[str, list[str]] = {}
    for line in (UNITS / unit).read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def verify_root(tmp_path: Path, units: dict[str, str]) -> Path:
    """A throw-away root for `systemd-analyze verify --root`: the system's own units, ours in
    /etc, and stand-in executables at the ExecStart paths (verify checks that they exist)."""
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for name, text in units.items():
        (root / "etc/systemd/system" / name).write_text(text)
    for program in ("usr/bin/env", f"{VENV_BIN}/cpuload-collector", f"{VENV_BIN}/cpuload-viewer"):
        stand_in = root / program
        stand_in.parent.mkdir(parents=True, exist_ok=True)
        stand_in.write_text("#!/bin/sh\n")
        stand_in.chmod(0o755)
    return root


def verify(tmp_path: Path, units: dict[str, str]) -> str:
    tool = require_tool("systemd-analyze")
    root = verify_root(tmp_path, units)
    result = subprocess.run(
        [tool, "verify", f"--root={root}", *units],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return (result.stdout + result.stderr).replace(str(root), "")


def test_both_units_pass_verify_without_a_word(tmp_path: Path) -> None:
    assert verify(tmp_path, {name: (UNITS / name).read_text() for name in NAMES}) == ""


def test_the_units_in_the_checkout_pass_verify_on_this_host_without_a_word() -> None:
    """As a user checks them before installing: the host's own units, nothing installed."""
    tool = require_tool("systemd-analyze")
    result = subprocess.run(
        [tool, "verify", *(str(UNITS / name) for name in NAMES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_both_units_start_the_programs_in_the_installers_venv() -> None:
    for name, program in zip(NAMES, ("cpuload-collector", "cpuload-viewer"), strict=True):
        start = directives(name)["ExecStart"]
        assert start == [f"/usr/bin/env /{VENV_BIN}/{program} --db /var/lib/cpuload/cpuload.db"]


def test_verify_output_catches_a_typo(tmp_path: Path) -> None:
    """verify exits 0 on an unknown key; the test above relies on its output instead."""
    text = (UNITS / NAMES[1]).read_text().replace("ProtectSystem=", "ProtectSytem=")
    assert "Unknown key 'ProtectSytem'" in verify(tmp_path, {NAMES[1]: text})


def exposure(unit: Path) -> tuple[float, str]:
    tool = require_tool("systemd-analyze")
    result = subprocess.run(
        [tool, "security", "--offline=true", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert match, result.stdout + result.stderr
    return float(match.group(1)), result.stdout


@pytest.mark.parametrize(("unit", "ceiling"), [(NAMES[0], 1.0), (NAMES[1], 2.0)])
def test_security_exposure_is_within_ceiling(unit: str, ceiling: float) -> None:
    score, report = exposure(UNITS / unit)
    assert score <= ceiling, report


def test_the_fleet_drop_in_keeps_the_viewer_verified_and_within_its_ceiling(
    tmp_path: Path,
) -> None:
    """The drop-in docs/fleet.md gives for Prometheus (listen beyond loopback, allow the
    Prometheus server) leaves the unit as hardened as it was."""
    doc = (ROOT / "docs" / "fleet.md").read_text(encoding="utf-8")
    found = re.search(r"^    \[Service\]\n((?:    \S.*\n)+)", doc, re.MULTILINE)
    assert found, "docs/fleet.md has no indented [Service] drop-in"
    drop_in = "[Service]\n" + textwrap.dedent(found[1])
    assert "IPAddressAllow=" in drop_in and "CPULOAD_ALLOWED_HOSTS=" in drop_in
    text = (UNITS / NAMES[1]).read_text() + "\n" + drop_in  # as systemd merges a drop-in
    assert verify(tmp_path, {NAMES[1]: text}) == ""
    (tmp_path / NAMES[1]).write_text(text)
    before, _ = exposure(UNITS / NAMES[1])
    score, report = exposure(tmp_path / NAMES[1])
    assert score == before and score <= 2.0, report


def test_collector_unit_is_a_watched_notify_service_that_can_read_proc_stat() -> None:
    d = directives(NAMES[0])
    assert d["Type"] == ["notify"] and d["NotifyAccess"] == ["main"]
    assert d["WatchdogSec"] == ["30s"] and d["Restart"] == ["on-failure"]
    assert d["StateDirectory"] == ["cpuload"] and d["StateDirectoryMode"] == ["0750"]
    assert "--db /var/lib/cpuload/cpuload.db" in d["ExecStart"][0]
    assert "ProcSubset" not in d, "ProcSubset=pid hides /proc/stat: sampling would fail"
    assert d["PrivateNetwork"] == ["yes"] and d["RestrictAddressFamilies"] == ["AF_UNIX"]


def test_viewer_unit_reads_the_state_directory_without_owning_or_needing_it() -> None:
    d = directives(NAMES[1])
    assert "StateDirectory" not in d, "StateDirectory= would hand /var/lib/cpuload to the viewer"
    assert d["ReadOnlyPaths"] == ["-/var/lib/cpuload"]
    assert d["SupplementaryGroups"] == ["cpuload"]
    assert not {"Requires", "BindsTo", "Requisite"} & d.keys()
    assert "--db /var/lib/cpuload/cpuload.db" in d["ExecStart"][0]


def test_sysusers_snippet_makes_the_viewer_a_reader_of_the_collectors_group(
    tmp_path: Path,
) -> None:
    tool = require_tool("systemd-sysusers")
    (tmp_path / "etc").mkdir()
    result = subprocess.run(
        [tool, f"--root={tmp_path}", str(UNITS / "cpuload.sysusers")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    users = {
        line.split(":")[0]: line for line in (tmp_path / "etc/passwd").read_text().splitlines()
    }
    groups = {
        line.split(":")[0]: line for line in (tmp_path / "etc/group").read_text().splitlines()
    }
    assert users["cpuload"].endswith(":/var/lib/cpuload:/usr/sbin/nologin")
    assert users["cpuload-viewer"].endswith(":/usr/sbin/nologin")
    assert groups["cpuload"].endswith(":cpuload-viewer")


def run_script(argv: list[str], as_root_without_systemd: bool = False) -> tuple[int, str]:
    """Run an install script; optionally with /run hidden, so it sees no running systemd."""
    if as_root_without_systemd:
        hide = 'mount -t tmpfs cpuload-test /run && exec "$@"'
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", hide, "sh", *argv]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return result.returncode, result.stdout + result.stderr


def test_install_refuses_a_non_root_user_in_one_line() -> None:
    require_root()
    setpriv = require_tool("setpriv")
    code, out = run_script(
        [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups", str(UNITS / "install")]
    )
    assert code == 1
    assert out.startswith("systemd/install: must run as root: sudo ") and out.count("\n") == 1


def test_install_refuses_a_host_without_systemd_in_one_line() -> None:
    require_root()
    require_tool("unshare")
    code, out = run_script([str(UNITS / "install")], as_root_without_systemd=True)
    assert code == 1
    assert out.startswith("systemd/install: systemd is not running") and out.count("\n") == 1


def test_uninstall_rejects_an_unknown_argument() -> None:
    code, out = run_script([str(UNITS / "uninstall"), "--everything"])
    assert code == 1
    assert "unknown argument '--everything'; usage: sudo " in out and out.count("\n") == 1


def test_install_scripts_pass_shellcheck() -> None:
    tool = require_tool("shellcheck")
    scripts = [str(UNITS / "install"), str(UNITS / "uninstall")]
    result = subprocess.run([tool, *scripts], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr
