"""systemd/uninstall says what it removed or kept, and nothing about what was never there.

It runs on this host in a private mount namespace whose /etc/systemd/system, /opt, /var/lib
and /run/systemd are empty tmpfs mounts (so nothing of the host is touched), with a stand-in
`systemctl` that does nothing. The full install and uninstall under a real systemd is in
test_systemd_nspawn.py.
"""

import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, require_root, require_tool

UNINSTALL = ROOT / "systemd" / "uninstall"
# Runs "$@" after giving the namespace empty system directories and placing what $SETUP says.
STAGE = """
set -e
for d in /etc/systemd/system /opt /var/lib /run; do mount -t tmpfs tmpfs "$d"; done
mkdir -p /run/systemd/system
eval "$SETUP"
exec "$@"
"""


def uninstall(tmp_path: Path, setup: str, *args: str) -> str:
    require_root()
    unshare = require_tool("unshare")
    fake = tmp_path / "bin"
    fake.mkdir(exist_ok=True)
    (fake / "systemctl").write_text("#!/bin/sh\nexit 0\n")
    (fake / "systemctl").chmod(0o755)
    env = {"PATH": f"{fake}:/usr/sbin:/usr/bin:/sbin:/bin", "SETUP": setup}
    argv = [unshare, "--mount", "--", "sh", "-c", STAGE, "sh", str(UNINSTALL), *args]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(autouse=True)
def no_cpuload_users() -> None:
    """The expected lines assume this host has no cpuload users (CI's has none)."""
    found = subprocess.run(["getent", "passwd", "cpuload", "cpuload-viewer"], capture_output=True)
    if found.returncode == 0:
        pytest.skip("this host has cpuload users; test_systemd_nspawn.py covers it")


def test_on_a_host_with_nothing_installed_it_says_so_and_nothing_of_a_database(
    tmp_path: Path,
) -> None:
    # The first version said "kept the database in /var/lib/cpuload" here.
    out = uninstall(tmp_path, ":")
    assert out == "cpuload: nothing of cpuload is installed here; nothing removed\n"
    assert uninstall(tmp_path, ":", "--purge") == out


def test_services_without_a_database_are_removed_and_no_database_is_named(
    tmp_path: Path,
) -> None:
    setup = (
        "touch /etc/systemd/system/cpuload-collector.service"
        " /etc/systemd/system/cpuload-viewer.service; mkdir -p /opt/cpuload/venv"
    )
    out = uninstall(tmp_path, setup).splitlines()
    assert out == [
        "cpuload: removed cpuload-collector.service",
        "cpuload: removed cpuload-viewer.service",
        "cpuload: removed /opt/cpuload and /etc/sysusers.d/cpuload.conf",
    ]


def test_a_database_left_behind_is_named_as_kept_and_purge_removes_it(tmp_path: Path) -> None:
    setup = "mkdir -p /var/lib/cpuload && touch /var/lib/cpuload/cpuload.db"
    kept = uninstall(tmp_path, setup)
    assert kept == "cpuload: kept the database in /var/lib/cpuload; --purge removes it too\n"
    purged = uninstall(tmp_path, setup, "--purge")
    assert purged == "cpuload: removed the database and /var/lib/cpuload\n"
