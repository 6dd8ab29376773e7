"""Logging for both programs: one line per event on stderr; journald gets syslog priorities.

Under systemd, stderr is the journal: a leading `<N>` sets the line's priority
(SyslogLevelPrefix=), so `journalctl -p warning -u cpuload-viewer` finds the warnings.
"""

import logging
import os
import sys
from collections.abc import Mapping

# syslog priorities for the levels in use.
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3}


class LineFormat(logging.Formatter):
    """`<4>message` for journald, which stamps lines itself; otherwise time and level first.

    A record marked bare by announce() (the startup line other tools parse) is written
    exactly as given, apart from the journald priority.
    """

    def __init__(self, journald: bool) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S%z")
        self.journald = journald

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage() if getattr(record, "bare", False) else None
        if self.journald:
            return f"<{priority(record.levelno)}>{text or record.getMessage()}"
        return text or super().format(record)


def priority(levelno: int) -> int:
    return _PRIORITY.get(levelno, 3 if levelno > logging.ERROR else 6)


def setup(level: str, environ: Mapping[str, str], logger: logging.Logger) -> logging.Logger:
    """Send `logger` (the root logger for the viewer, so waitress's lines come too) to stderr
    at the chosen level, journald-aware."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(LineFormat(to_journald(environ)))
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
    return logger


def announce(logger: logging.Logger, text: str) -> None:
    """Write `text` as one exact line at any --log-level: other tools parse the startup line."""
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, text, (), None)
    record.bare = True
    logger.handle(record)


def fatal(prog: str, text: str, environ: Mapping[str, str]) -> None:
    """The one line a program prints before it exits 1 or 2 (priority 3 in the journal)."""
    line = " ".join(text.split())  # one line, whatever the reason's text held
    mark = f"<{priority(logging.ERROR)}>" if to_journald(environ) else ""
    print(f"{mark}{prog}: error: {line}", file=sys.stderr, flush=True)


def to_journald(environ: Mapping[str, str]) -> bool:
    """True when stderr is the journald stream systemd named in JOURNAL_STREAM (dev:inode)."""
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return environ.get("JOURNAL_STREAM", "") == f"{st.st_dev}:{st.st_ino}"
