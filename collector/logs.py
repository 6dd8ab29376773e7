"""Logging to stderr, one line per event; journald gets priorities and no timestamps."""

import logging
import os
import sys
from collections.abc import Mapping

PROG = "cpuload-collector"
# syslog priorities: journald reads a leading "<N>" as the line's level (SyslogLevelPrefix=).
_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3}


class _Format(logging.Formatter):
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
            prio = _PRIORITY.get(record.levelno, 3 if record.levelno > logging.ERROR else 6)
            return f"<{prio}>{text or record.getMessage()}"
        return text or super().format(record)


def setup(level: str, environ: Mapping[str, str]) -> logging.Logger:
    """Configure the "collector" logger: stderr, the chosen level, journald-aware."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Format(to_journald(environ)))
    logger = logging.getLogger("collector")
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
    return logger


def announce(logger: logging.Logger, text: str) -> None:
    """Write `text` as one exact line at any --log-level: other tools parse the startup line."""
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, text, (), None)
    record.bare = True
    logger.handle(record)


def to_journald(environ: Mapping[str, str]) -> bool:
    """True when stderr is the journald stream systemd named in JOURNAL_STREAM (dev:inode)."""
    try:
        st = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return environ.get("JOURNAL_STREAM", "") == f"{st.st_dev}:{st.st_ino}"
