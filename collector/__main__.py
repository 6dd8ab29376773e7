"""cpuload-collector: the daemon's entry point, from flags to a running loop to an exit code."""

import gc
import logging
import os
import signal
import sqlite3
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from threading import Event

from collector import host
from collector.backlog import Backlog, day_of_samples
from collector.filecheck import Damaged
from collector.lock import LockError, acquire
from collector.loop import SystemClock, run, signal_wakeup
from collector.notify import Notifier
from collector.retention import Retention
from collector.sampler import ProcStat, Sampler
from collector.store import RunInfo, Store, StoreError, busy_ms
from collector.writer import Writer
from shared import __version__, logs
from shared.settings import CollectorSettings, collector_settings

PROG = "cpuload-collector"


class Fatal(Exception):
    """A reason to exit 1, already worded for the user."""


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    """Sample whole-host CPU load every --interval seconds into the SQLite database.

    Flags (each also from the environment; a flag wins):
      --db PATH            CPULOAD_DB; default $STATE_DIRECTORY/cpuload.db, else
                           ${XDG_STATE_HOME:-~/.local/state}/cpuload/cpuload.db
      --interval SECONDS   CPULOAD_INTERVAL; 0.1 to 3600, default 5
      --retention-days N   CPULOAD_RETENTION_DAYS; 0 keeps everything, default 30
      --log-level LEVEL    CPULOAD_LOG_LEVEL; debug, info, warning, error; default info
      --help, --version
    Also read: NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID (systemd), JOURNAL_STREAM (journald).
    Exit status: 0 after SIGTERM or SIGINT, 2 on bad usage, 1 on a fatal error (one line on
    stderr: another collector holds the database, the file is not a cpuload database, has a
    newer schema or is damaged, the directory is missing or not writable; after an unexpected
    error the traceback follows that line at --log-level debug).
    """
    stop = Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    settings = collector_settings(argv, environ)
    logs.setup(settings.log_level, environ, logging.getLogger("collector"))
    try:
        return collect(settings, environ, stop)
    except Fatal as exc:
        logs.fatal(PROG, str(exc), environ)
    except Exception as exc:  # the last line of defence: one line; the traceback at debug only
        logs.fatal(PROG, f"{type(exc).__name__}: {exc}", environ)
        if settings.log_level == "debug":
            traceback.print_exc(file=sys.stderr)  # after the line, for whoever reports the bug
    return 1


def collect(settings: CollectorSettings, environ: Mapping[str, str], stop: Event) -> int:
    """Lock, open, announce, loop until stopped, then close cleanly."""
    # The real path: a symlink to a live database must meet the same lock file.
    db = Path(os.path.realpath(settings.db))
    prepare_directory(db, settings.db_is_default)
    try:
        lock = acquire(db)
        store = Store.open(db, busy_ms(settings.interval))
        run_id = store.begin_run(this_run(settings.interval))
    except (LockError, StoreError) as exc:
        raise Fatal(str(exc)) from None
    except sqlite3.Error as exc:
        raise Fatal(f"cannot write to {db}: {exc}; check the disk and the file system") from None
    notifier = Notifier.from_env(environ, os.getpid())
    line = f"writing {db} every {settings.interval:g} s (pid {os.getpid()})"
    logs.announce(logging.getLogger("collector"), f"{PROG}: {line}")
    notifier.ready(line)
    backlog = Backlog(day_of_samples(settings.interval))
    retention = Retention(store, settings.retention_days, settings.interval)
    writer = Writer(store, backlog, retention, status=notifier)
    damaged = False
    try:
        retention()
        with signal_wakeup() as wakeup:
            # What start-up made lives as long as the process: the collector's garbage
            # collections need not walk it again every so many ticks.
            gc.freeze()
            clock = SystemClock(wakeup)
            run(Sampler(ProcStat()), writer, notifier, clock, settings.interval, stop)
    except Damaged as exc:
        damaged = True
        raise Fatal(str(exc)) from None
    finally:
        shutdown(notifier, writer, store, run_id, damaged)
        os.close(lock)
    return 0


def this_run(interval: float) -> RunInfo:
    return RunInfo(time.time(), interval, os.getpid(), __version__, host.boot_id(), host.booted())


def shutdown(notifier: Notifier, writer: Writer, store: Store, run_id: int, damaged: bool) -> None:
    """Tell systemd, write what waits, mark the run stopped, leave the file at rest."""
    notifier.stopping()
    if damaged:
        store.conn.close()  # no final flush, no stop mark, no journal switch: write nothing more
        return
    writer.close()
    try:
        store.end_run(run_id, time.time())
    except sqlite3.Error as exc:
        logging.getLogger("collector").warning("could not record the stop: %s", exc)
    store.close()


def prepare_directory(db: Path, is_default: bool) -> None:
    """Create the default directory (0750); an explicit path's directory must exist."""
    parent = db.parent
    try:
        if parent.is_dir():
            return
    except OSError as exc:  # a directory on the way that this user may not enter
        raise Fatal(f"cannot reach {parent}: {exc.strerror}; give another --db") from None
    if not is_default:
        raise Fatal(f"directory {parent} does not exist; create it or give another --db")
    try:
        parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    except OSError as exc:
        raise Fatal(f"cannot create {parent}: {exc.strerror}; give another --db") from None


if __name__ == "__main__":
    sys.exit(main())
