"""Entry point: flags -> make_app(...) served by waitress on one address."""

import contextlib
import errno
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import Any

import waitress

from shared.settings import ViewerSettings, viewer_settings
from viewer.api import Truncated
from viewer.app import make_app
from viewer.hosts import Hosts

# Idle or slow clients are dropped after CHANNEL_TIMEOUT s; at most CONNECTIONS at once. An idle
# connection costs a few kB but holds a slot until then: at 64, 150 idle ones starved every
# other client for 30 s. poll() rather than select(), which fails past descriptor 1023.
THREADS, CONNECTIONS, CHANNEL_TIMEOUT = 4, 512, 30
# A worker thread waits for a slow client once this much of its answer is unsent; the largest
# answer (a day at 0.1 s from /api/samples, ~33 MB) stays below it, so a slow reader never holds
# a thread: what it has not read yet waits in a temporary file (waitress spills past 1 MB).
HIGH_WATERMARK = 64 * 1024 * 1024


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    """cpuload-viewer [--db PATH] [--host ADDR] [--port N] [--allowed-hosts LIST] [--log-level L]

    Environment: CPULOAD_DB, CPULOAD_HOST, CPULOAD_PORT, CPULOAD_ALLOWED_HOSTS,
    CPULOAD_LOG_LEVEL, STATE_DIRECTORY, XDG_STATE_HOME. Exit 0 on SIGTERM/SIGINT; 2 on bad
    usage, including a --host that is not an address of this machine; 1 if it cannot listen
    (port in use, not permitted).
    """
    settings = viewer_settings(argv, environ)
    logging.basicConfig(
        level=settings.log_level.upper(), format="cpuload-viewer: %(levelname)s %(message)s"
    )
    # waitress would announce itself too; the one startup line below is ours.
    logging.getLogger("waitress").setLevel(max(logging.WARNING, logging.root.level))
    # "Task queue depth is N" for every request that waits for a thread floods the journal.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    logging.getLogger("waitress").addFilter(_one_line)
    try:
        server = _server(settings)
    except ValueError:  # waitress: the host name does not resolve
        print(
            f"cpuload-viewer: error: --host {settings.host} is not an address of this"
            " machine or a name that resolves; pass e.g. --host 127.0.0.1",
            file=sys.stderr,
        )
        return 2
    except OSError as exc:
        print(f"cpuload-viewer: error: {_why(exc, settings)}", file=sys.stderr)
        return 2 if exc.errno == errno.EADDRNOTAVAIL else 1
    host, port = _address(server)
    print(f"cpuload-viewer: serving http://{host}:{port}/ from {settings.db}", file=sys.stderr)
    sys.stderr.flush()
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()  # returns on KeyboardInterrupt, after closing its sockets
    return 0


def _server(settings: ViewerSettings) -> Any:
    return waitress.create_server(
        make_app(settings.db, hosts=hosts_of(settings)),
        host=settings.host,  # always given: waitress alone would listen on every interface
        port=settings.port,
        threads=THREADS,
        connection_limit=CONNECTIONS,
        asyncore_use_poll=True,
        outbuf_high_watermark=HIGH_WATERMARK,
        channel_timeout=CHANNEL_TIMEOUT,
        cleanup_interval=10,
        ident="cpuload-viewer",
        clear_untrusted_proxy_headers=True,
    )


def hosts_of(settings: ViewerSettings) -> Hosts:
    """--allowed-hosts as given, else the loopback names and the --host address."""
    if settings.allowed_hosts is None:
        return Hosts.default(settings.host)
    return Hosts(settings.allowed_hosts)


def _address(server: Any) -> tuple[str, int]:
    listen = getattr(server, "effective_listen", None)
    host, port = listen[0] if listen else (server.effective_host, server.effective_port)
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
