#!/usr/bin/env python3
"""Quick start on a fresh clone with only Python 3.11+.

    python3 dev.py run [viewer flags]   start the collector and the viewer locally, print the URL
    python3 dev.py test [pytest args]   run the whole test suite (lint and types included)

Both make a virtual environment in .venv on first use (and again when pyproject.toml changes).
"""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
STAMP = VENV / ".cpuload-installed"


def ensure_venv() -> None:
    """Create .venv and install the project with its test extra, unless already current."""
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == want and (BIN / "python").exists():
        return
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be run by an older python3
        sys.exit("cpuload needs Python 3.11 or newer; run this with python3.11 or later")
    note = "dev.py: setting up .venv (first use, or pyproject.toml changed) ..."
    print(note, file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(BIN / "python"), "-m", "pip", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(want)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops both programs, as Ctrl-C does


def run(viewer_args: list[str]) -> int:
    """Run both programs in the foreground until Ctrl-C; they meet at the default DB path."""
    collector = subprocess.Popen([str(BIN / "cpuload-collector")])
    viewer = subprocess.Popen([str(BIN / "cpuload-viewer"), *viewer_args])
    children = (collector, viewer)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    for child in children:
        if child.poll() is None:
            child.terminate()
    return max(child.wait() for child in children)


def main() -> int:
    command, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if command not in ("run", "test"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    ensure_venv()
    if command == "test":
        os.chdir(ROOT)
        return subprocess.call([str(BIN / "python"), "-m", "pytest", *args])
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
