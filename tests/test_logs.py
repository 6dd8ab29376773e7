"""shared/logs.py: time and level on a terminal, syslog priorities and no time for journald,
for both programs."""

import logging
import os
import re
import signal
import subprocess
from pathlib import Path

from shared.logs import LineFormat, announce
from tests.conftest import script, wait_for


def record(level: int, text: str) -> logging.LogRecord:
    return logging.LogRecord("collector", level, __file__, 1, text, (), None)


def test_a_terminal_line_has_time_level_and_message() -> None:
    line = LineFormat(journald=False).format(record(logging.WARNING, "disk full"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} WARNING disk full", line)


def test_a_journald_line_has_a_priority_and_no_time() -> None:
    fmt = LineFormat(journald=True)
    assert fmt.format(record(logging.WARNING, "disk full")) == "<4>disk full"
    assert fmt.format(record(logging.INFO, "hello")) == "<6>hello"
    assert fmt.format(record(logging.ERROR, "lost")) == "<3>lost"


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_the_startup_line_is_exact_even_at_log_level_error() -> None:
    handler = ListHandler()
    handler.setFormatter(LineFormat(journald=False))
    logger = logging.getLogger("collector.test-announce")
    logger.addHandler(handler)
    logger.setLevel(logging.ERROR)
    logger.propagate = False
    announce(logger, "cpuload-collector: writing /x.db every 5 s (pid 1)")
    assert handler.lines == ["cpuload-collector: writing /x.db every 5 s (pid 1)"]


def test_under_journald_the_process_writes_priorities(
    tmp_path: Path, base_env: dict[str, str]
) -> None:
    argv = [*script("cpuload-collector"), "--db", str(tmp_path / "c.db"), "--interval", "0.5"]
    # JOURNAL_STREAM must name the child's own stderr (the log file), as systemd's does.
    log = tmp_path / "journal.log"
    log.touch()
    st = os.stat(log)
    env = {**base_env, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stderr=out)
    try:
        wait_for(lambda: "writing" in log.read_text(), 15, "the startup line")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
    first = log.read_text().splitlines()[0]
    assert first.startswith("<6>cpuload-collector: writing ")


def test_under_journald_the_viewer_writes_priorities_too(
    tmp_path: Path, base_env: dict[str, str]
) -> None:
    # A --db in a missing directory makes the viewer warn at start: with no priority, as the
    # first version wrote it, `journalctl -p warning` never showed that line.
    db = tmp_path / "missing" / "c.db"
    argv = [*script("cpuload-viewer"), "--db", str(db), "--port", "0"]
    log = tmp_path / "journal.log"
    log.touch()
    st = os.stat(log)
    env = {**base_env, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stderr=out)
    try:
        wait_for(lambda: "does not exist" in log.read_text(), 15, "the warning")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
    lines = log.read_text().splitlines()
    assert lines[0].startswith("<6>cpuload-viewer: serving http://"), lines
    assert lines[1].startswith(f"<4>directory {db.parent} does not exist"), lines


def test_a_fatal_line_carries_the_error_priority_under_journald(
    tmp_path: Path, base_env: dict[str, str]
) -> None:
    log = tmp_path / "journal.log"
    log.touch()
    st = os.stat(log)
    env = {**base_env, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
    argv = [*script("cpuload-collector"), "--db", str(tmp_path / "nowhere" / "c.db")]
    with log.open("ab") as out:
        code = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stderr=out, timeout=20)
    assert code.returncode == 1
    assert log.read_text().startswith("<3>cpuload-collector: error: directory ")
