#!/usr/bin/env python3
"""Quick start on a fresh clone with only Python 3.11+.

    python3 dev.py run [flags]          run the collector and the viewer here until Ctrl-C
    python3 dev.py test [pytest args]   run the test suite (ruff and mypy --strict included)
    python3 dev.py --help               this text

run: --db PATH and --log-level go to both programs, --interval and --retention-days to the
collector, every other flag to the viewer (e.g. --port 0 picks a free port).

Both make a virtual environment in .venv on first use: `run` installs cpuload alone, `test`
adds the test tools (pytest, ruff, mypy, playwright). Each is installed again only when
pyproject.toml changes.
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
BOTH = ("--db", "--log-level")
COLLECTOR_ONLY = ("--interval", "--retention-days")


def stamp(extra: str) -> Path:
    """One stamp per install ('' is cpuload alone), holding the pyproject.toml it matched."""
    return VENV / f".cpuload-installed{'-' + extra if extra else ''}"


def is_current(extra: str) -> bool:
    """True when .venv already holds this install (the test install includes the plain one)."""
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    found = [s.read_text() for s in (stamp(extra), stamp("test")) if s.exists()]
    return want in found and (BIN / "python").exists()


def ensure_venv(extra: str) -> None:
    """Create .venv and install the project (with `extra`, if given), unless already current."""
    if is_current(extra):
        return
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be run by an older python3
        sys.exit("cpuload needs Python 3.11 or newer; run this with python3.11 or later")
    what = "cpuload and its test tools" if extra else "cpuload"
    note = f"dev.py: installing {what} into .venv (first use, or pyproject.toml changed) ..."
    print(note, file=sys.stderr, flush=True)
    if not (BIN / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(BIN / "python"), "-m", "pip", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "-e", f"{ROOT}[{extra}]" if extra else str(ROOT)], check=True)
    stamp(extra).write_text(hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest())


def split_flags(args: list[str]) -> tuple[list[str], list[str]]:
    """`run`'s flags -> (the collector's, the viewer's); `--flag value` and `--flag=value`."""
    collector: list[str] = []
    viewer: list[str] = []
    rest = list(args)
    while rest:
        flag = rest.pop(0)
        name = flag.split("=", 1)[0]
        routed = name in BOTH or name in COLLECTOR_ONLY
        taken = [flag, rest.pop(0)] if routed and "=" not in flag and rest else [flag]
        if routed:
            collector += taken
        if name not in COLLECTOR_ONLY:
            viewer += taken
    return collector, viewer


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops both programs, as Ctrl-C does


def run(args: list[str]) -> int:
    """Run both programs in the foreground until Ctrl-C or until one of them exits."""
    collector_args, viewer_args = split_flags(args)
    collector = subprocess.Popen([str(BIN / "cpuload-collector"), *collector_args])
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


def main(argv: list[str]) -> int:
    """Exit status: the programs' or pytest's; 0 for --help; 2 for an unknown command."""
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    if command in ("-h", "--help", "help") or (command == "run" and {"-h", "--help"} & set(args)):
        print(__doc__.strip())
        return 0
    if command not in ("run", "test"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    ensure_venv("test" if command == "test" else "")
    if command == "test":
        os.chdir(ROOT)
        return subprocess.call([str(BIN / "python"), "-m", "pytest", *args])
    return run(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
