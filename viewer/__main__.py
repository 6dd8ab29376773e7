"""Entry point: flags -> make_app(...) served by waitress on one address."""

import contextlib
import errno
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

from shared import logs
from shared.settings import ViewerSettings, default_db, viewer_settings
from viewer.api import Truncated
from viewer.app import make_app
from viewer.hosts import Hosts
from viewer.server import Server

PROG = "cpuload-viewer"


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    """cpuload-viewer [--db PATH] [--host ADDR] [--port N] [--allowed-hosts LIST] [--log-level L]

    Environment: CPULOAD_DB, CPULOAD_HOST, CPULOAD_PORT, CPULOAD_ALLOWED_HOSTS,
    CPULOAD_LOG_LEVEL, STATE_DIRECTORY, XDG_STATE_HOME. Exit 0 on SIGTERM/SIGINT; 2 on bad
    usage, including a --host that is not an address of this machine; 1 if it cannot listen
    (port in use, not permitted).
    """
    settings = viewer_settings(argv, environ)
    # The root logger, so waitress's lines carry journald priorities as the viewer's do.
    root = logs.setup(settings.log_level, environ, logging.getLogger())
    # waitress would announce itself too; the one startup line below is ours.
    logging.getLogger("waitress").setLevel(max(logging.WARNING, root.level))
    # "Task queue depth is N" for every request that waits for a thread floods the journal.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    logging.getLogger("waitress").addFilter(_one_line)
    try:
        app = make_app(settings.db, hosts=hosts_of(settings))
        server = Server(app, settings.host, settings.port)
    except ValueError:  # waitress: the host name does not resolve
        why = (
            f"--host {settings.host} is not an address of this machine or a name that"
            " resolves; pass e.g. --host 127.0.0.1"
        )
        logs.fatal(PROG, why, environ)
        return 2
    except OSError as exc:
        logs.fatal(PROG, _why(exc, settings), environ)
        return 2 if exc.errno == errno.EADDRNOTAVAIL else 1
    host, port = _address(server.addresses[0])
    logs.announce(root, f"{PROG}: serving http://{host}:{port}/ from {settings.db}")
    _warn_if_unreachable(settings.db, default_db(environ))
    # /metrics' counters start at the file's sums now; read beside the serving, not before it.
    prime = app.config["cpuload.metrics"].prime
    threading.Thread(target=prime, name="metrics-start", daemon=True).start()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()  # returns on KeyboardInterrupt, after closing its sockets
    return 0


def hosts_of(settings: ViewerSettings) -> Hosts:
    """--allowed-hosts as given, else the loopback names and the --host address."""
    if settings.allowed_hosts is None:
        return Hosts.default(settings.host)
    return Hosts(settings.allowed_hosts)


def _warn_if_unreachable(db: Path, default: Path) -> None:
    """Say so at start when no collector could ever write the file (it refuses the path).

    The default path's directory is made by the collector (or by systemd's StateDirectory=),
    so only a path the user gave is checked; the viewer serves on either way.
    """
    if db == default:
        return
    try:
        there = db.parent.is_dir()
    except OSError:
        return  # a directory closed to the viewer is the collector's and may well exist
    if not there:
        logging.getLogger("viewer").warning(
            "directory %s does not exist, so no collector can write %s; create it or give"
            " --db the path the collector writes",
            db.parent,
            db.name,
        )


def _address(address: tuple[str, int]) -> tuple[str, int]:
    host, port = address
    return (f"[{host}]" if ":" in str(host) else str(host)), int(port)


def _why(exc: OSError, settings: ViewerSettings) -> str:
    where = f"{settings.host} port {settings.port}"
    if exc.errno == errno.EADDRINUSE:
        return f"{where} is in use; stop the other program or pass --port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{settings.host} is not an address of this machine; check --host"
    if exc.errno == errno.EACCES:
        return f"not allowed to listen on {where}; use a port above 1023 or run as root"
    return f"cannot listen on {where}: {exc.strerror or exc}; check --host and --port"


def _one_line(record: logging.LogRecord) -> bool:
    """A cut /api/samples answer is logged in one line: its reason, without a traceback."""
    error = record.exc_info[1] if record.exc_info else None
    if isinstance(error, Truncated):
        record.msg, record.args = f"{record.getMessage()}: {error}", ()
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
    return True


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
