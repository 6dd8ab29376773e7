"""Frozen settings for both programs, built from (argv, environ): flag > CPULOAD_* > default."""

import argparse
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TypeVar

from shared import __version__

LOG_LEVELS = ("debug", "info", "warning", "error")
EXPORT_FORMATS = ("csv", "json", "openmetrics")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*", re.ASCII)
OWN_LABELS = ("mode",)  # the export's own label names
MIN_INTERVAL, MAX_INTERVAL = 0.1, 3600.0
MAX_RETENTION_DAYS = 36500
T = TypeVar("T")


@dataclass(frozen=True)
class CollectorSettings:
    db: Path
    db_is_default: bool
    interval: float
    retention_days: int
    log_level: str


@dataclass(frozen=True)
class ViewerSettings:
    db: Path
    host: str
    port: int
    log_level: str
    allowed_hosts: tuple[str, ...] | None = None  # None: loopback names and --host


@dataclass(frozen=True)
class ExportSettings:
    db: Path
    format: str
    minutes: tuple[str, ...]  # as given: the viewer's window rules parse them, as for HTTP
    end: tuple[str, ...]
    labels: tuple[tuple[str, str], ...]
    log_level: str


def default_db(environ: Mapping[str, str]) -> Path:
    """$STATE_DIRECTORY/cpuload.db under systemd, else the XDG state directory."""
    state_dir = environ.get("STATE_DIRECTORY", "").split(":")[0]
    if state_dir:
        return Path(state_dir) / "cpuload.db"
    xdg = environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(xdg):  # the XDG spec: a relative path is invalid and ignored
        xdg = os.path.join(environ.get("HOME") or "~", ".local/state")
    return Path(os.path.expanduser(xdg)) / "cpuload" / "cpuload.db"


def collector_settings(
    argv: Sequence[str] | None, environ: Mapping[str, str]
) -> CollectorSettings:
    """Parse the collector's flags; bad usage exits 2 with a one-line reason."""
    p = _parser("cpuload-collector", "Sample whole-host CPU load and append it to the database.")
    p.add_argument(
        "--interval",
        type=_interval,
        metavar="SECONDS",
        help="seconds between samples, 0.1 to 3600 (env CPULOAD_INTERVAL; default 5)",
    )
    p.add_argument(
        "--retention-days",
        type=_retention,
        metavar="N",
        help="delete samples older than N days; 0 keeps all"
        " (env CPULOAD_RETENTION_DAYS; default 30)",
    )
    args = p.parse_args(argv)
    return CollectorSettings(
        db=_db(args.db, environ),
        db_is_default=not (args.db or environ.get("CPULOAD_DB")),
        interval=_pick(p, args.interval, environ, "CPULOAD_INTERVAL", _interval, 5.0),
        retention_days=_pick(
            p, args.retention_days, environ, "CPULOAD_RETENTION_DAYS", _retention, 30
        ),
        log_level=_pick(p, args.log_level, environ, "CPULOAD_LOG_LEVEL", _log_level, "info"),
    )


def viewer_settings(argv: Sequence[str] | None, environ: Mapping[str, str]) -> ViewerSettings:
    """Parse the viewer's flags; bad usage exits 2 with a one-line reason."""
    p = _parser("cpuload-viewer", "Serve the CPU load history as a web page, read-only.")
    p.add_argument(
        "--host", type=_host, help="address to listen on (env CPULOAD_HOST; default 127.0.0.1)"
    )
    p.add_argument(
        "--port", type=_port, help="TCP port, 0 picks a free one (env CPULOAD_PORT; default 8080)"
    )
    p.add_argument(
        "--allowed-hosts",
        type=_hosts,
        metavar="LIST",
        help="comma-separated host names a request's Host header may carry, * for any"
        " (env CPULOAD_ALLOWED_HOSTS; default localhost, 127.0.0.1, [::1] and --host)",
    )
    args = p.parse_args(argv)
    return ViewerSettings(
        db=_db(args.db, environ),
        host=_pick(p, args.host, environ, "CPULOAD_HOST", _host, "127.0.0.1"),
        port=_pick(p, args.port, environ, "CPULOAD_PORT", _port, 8080),
        log_level=_pick(p, args.log_level, environ, "CPULOAD_LOG_LEVEL", _log_level, "info"),
        allowed_hosts=_pick(p, args.allowed_hosts, environ, "CPULOAD_ALLOWED_HOSTS", _hosts, None),
    )


def export_settings(argv: Sequence[str] | None, environ: Mapping[str, str]) -> ExportSettings:
    """Parse the export's flags; bad usage exits 2 with a one-line reason."""
    p = _parser("cpuload-export", "Write a window of the database to stdout, read-only.")
    p.add_argument(
        "--format",
        choices=EXPORT_FORMATS,
        default="csv",
        help="csv (as /api/samples.csv), json (as /api/samples) or openmetrics (for promtool"
        " tsdb create-blocks-from openmetrics); default csv",
    )
    p.add_argument(
        "--minutes",
        action="append",
        default=[],
        metavar="N",
        help="the window's length in minutes, 1 to 525600; default 60",
    )
    p.add_argument(
        "--end",
        action="append",
        default=[],
        metavar="T",
        help="the window's end: Unix seconds or local time YYYY-MM-DDTHH:MM[:SS] with an"
        " optional Z or +HH:MM; default now",
    )
    p.add_argument(
        "--label",
        type=_label,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a label for every openmetrics series, e.g. instance=web1; may be repeated",
    )
    args = p.parse_args(argv)
    names = [name for name, _ in args.label]
    if len(set(names)) < len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        p.error(f"argument --label: give each label name once; {', '.join(twice)} came twice")
    for flag, given in (("--minutes", args.minutes), ("--end", args.end)):
        if len(given) > 1:
            p.error(f"argument {flag}: give it once")
    return ExportSettings(
        db=_db(args.db, environ),
        format=args.format,
        minutes=tuple(args.minutes),
        end=tuple(args.end),
        labels=tuple(args.label),
        log_level=_pick(p, args.log_level, environ, "CPULOAD_LOG_LEVEL", _log_level, "info"),
    )


class _Parser(argparse.ArgumentParser):
    """argparse, but bad usage is one line (argparse adds its usage lines first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description=description)
    p.add_argument(
        "--db",
        type=_path,
        metavar="PATH",
        help="the SQLite file (env CPULOAD_DB; default $STATE_DIRECTORY/cpuload.db,"
        " else ${XDG_STATE_HOME:-~/.local/state}/cpuload/cpuload.db)",
    )
    p.add_argument(
        "--log-level",
        type=_log_level,
        help="debug, info, warning or error (env CPULOAD_LOG_LEVEL; default info)",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _db(flag: str | None, environ: Mapping[str, str]) -> Path:
    value = flag or environ.get("CPULOAD_DB")
    return Path(os.path.expanduser(value)) if value else default_db(environ)


def _pick(
    p: argparse.ArgumentParser,
    flag: T | None,
    environ: Mapping[str, str],
    name: str,
    convert: Callable[[str], T],
    default: T,
) -> T:
    if flag is not None:
        return flag
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return convert(raw)
    except argparse.ArgumentTypeError as exc:
        p.error(f"environment variable {name}: {exc}")


def _interval(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (MIN_INTERVAL <= value <= MAX_INTERVAL):
        raise argparse.ArgumentTypeError(
            f"interval {raw!r} is not a number of seconds from 0.1 to 3600"
        )
    return value


def _retention(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_RETENTION_DAYS:
        raise argparse.ArgumentTypeError(
            f"retention {raw!r} is not a whole number of days from 0 to {MAX_RETENTION_DAYS}"
            " (0 keeps everything)"
        )
    return int(raw)


def _port(raw: str) -> int:
    if not raw.isascii() or not raw.isdigit() or int(raw) > 65535:
        raise argparse.ArgumentTypeError(f"port {raw!r} is not a number from 0 to 65535")
    return int(raw)


def _host(raw: str) -> str:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:")
    if not raw or len(raw) > 253 or not set(raw) <= allowed:
        raise argparse.ArgumentTypeError(
            f"host {raw!r} is not an IP address or host name (e.g. 127.0.0.1 or ::1)"
        )
    return raw


def _hosts(raw: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]*_")
    if not names or any(not set(n) <= allowed or len(n) > 253 for n in names):
        raise argparse.ArgumentTypeError(
            f"allowed hosts {raw!r} is not a comma-separated list of host names"
            " (e.g. cpu.example.org,10.0.0.5 or * for any)"
        )
    return names


def _label(raw: str) -> tuple[str, str]:
    name, eq, value = raw.partition("=")
    if not eq or not LABEL_NAME.fullmatch(name) or name.startswith("__") or name in OWN_LABELS:
        raise argparse.ArgumentTypeError(
            f"label {raw!r} is not NAME=VALUE with a Prometheus label name (letters, digits and"
            f" _, not starting with a digit or __, not {' or '.join(OWN_LABELS)}),"
            " e.g. instance=web1"
        )
    return name, value


def _path(raw: str) -> str:
    if not raw.strip():
        raise argparse.ArgumentTypeError("the database path is empty; give a file path")
    return raw


def _log_level(raw: str) -> str:
    if raw.lower() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"log level {raw!r} is not one of {', '.join(LOG_LEVELS)}"
        )
    return raw.lower()
