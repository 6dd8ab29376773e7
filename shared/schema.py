"""The one database schema, its version and the migrations that reach it.

Only the collector creates or migrates a database; the viewer only calls `read_version`.
"""

import sqlite3

# 'cpul' in ASCII: marks the file as ours, so a foreign SQLite file is refused untouched.
APPLICATION_ID = 0x6370756C

# The gap rule is "more than 2 x interval"; stamps are floats, and at 0.1 s two samples two
# ticks apart can differ by 0.200000047. A millisecond of slack (a hundredth of the shortest
# interval) keeps float noise from turning a step of exactly two intervals into a gap.
GAP_SLACK = 0.001


def gap_limit(interval: float) -> float:
    """Two samples further apart than this have a gap between them."""
    return 2 * interval + GAP_SLACK


# MIGRATIONS[n] takes a database from user_version n to n + 1.
_V1 = """
CREATE TABLE samples (
    ts  REAL PRIMARY KEY NOT NULL CHECK (ts > 0),
    cpu REAL NOT NULL CHECK (cpu >= 0 AND cpu <= 100)
) WITHOUT ROWID;
CREATE TABLE runs (
    id       INTEGER PRIMARY KEY,
    started  REAL NOT NULL,
    interval REAL NOT NULL CHECK (interval > 0)
);
"""

# The minute rule: minute M holds M < ts <= M + 60, so a stamp on a whole minute belongs to the
# minute before it. CAST truncates, which is floor for positive stamps; f >= ts catches both the
# exact multiple and a quotient rounded up across a whole number.
_V2 = f"""
ALTER TABLE runs ADD COLUMN pid INTEGER;
ALTER TABLE runs ADD COLUMN version TEXT;
ALTER TABLE runs ADD COLUMN stopped REAL;
CREATE INDEX runs_started ON runs (started);
CREATE VIEW minute_means AS
SELECT minute, avg(cpu) AS avg, count(*) AS count
FROM (
    SELECT cpu, CASE WHEN f >= ts THEN f - 60 ELSE f END AS minute
    FROM (SELECT ts, cpu, CAST(ts / 60 AS INTEGER) * 60 AS f FROM samples)
)
GROUP BY minute;
CREATE VIEW sample_intervals AS
SELECT s.ts, s.cpu, coalesce(
    (SELECT r.interval FROM runs r WHERE r.started <= s.ts ORDER BY r.started DESC LIMIT 1),
    (SELECT r.interval FROM runs r ORDER BY r.started LIMIT 1)
) AS interval
FROM samples s;
CREATE VIEW gaps AS
SELECT prev AS start, ts AS "end", ts - prev AS seconds
FROM (SELECT ts, interval, lag(ts) OVER (ORDER BY ts) AS prev FROM sample_intervals)
WHERE ts - prev > 2 * interval + {GAP_SLACK};
"""

# The split of CPU time a sample carries, in the order of every API, CSV and chart: the six busy
# modes add up to `cpu`; iowait is idle time spent waiting for I/O (not busy, as in psutil).
MODES = ("user", "nice", "system", "irq", "softirq", "steal", "iowait")
BUSY_MODES = MODES[:6]
# Modes are stored as integer hundredths of a percent (`user100` = 1234 is 12.34 %): 1 to 2
# bytes each where a REAL takes 8, and 0 bytes for the zeros most hosts have in nice, irq and
# steal. A hundredth is below anything a chart can show; six rounded busy modes still add up
# to `cpu` within 0.03 points.
MODE_COLUMNS = tuple(f"{m}100" for m in MODES)
PAUSE_KINDS = ("suspend", "stall")

_ADD_MODES = "".join(
    f"ALTER TABLE samples ADD COLUMN {c} INTEGER CHECK ({c} BETWEEN 0 AND 10000);\n"
    for c in MODE_COLUMNS
)
_MODES_VIEW = ", ".join(f"{c} / 100.0 AS {m}" for c, m in zip(MODE_COLUMNS, MODES, strict=True))

# Version 3: the modes of each sample, what a run knows of its boot, the pauses inside a run
# (what the viewer needs to name a gap's cause), and a log of edits to old samples.
#
# `edits` records every change to `samples` other than appending a sample newer than all
# others or deleting the oldest (what the collector itself and its retention do), so a reader
# that keeps aggregates of complete stretches knows which stretch to read again: a row put in
# or taken out by hand, or a sample stamped in the past after the clock went back.
_V3 = f"""
{_ADD_MODES}ALTER TABLE runs ADD COLUMN boot_id TEXT;
ALTER TABLE runs ADD COLUMN booted REAL;
CREATE TABLE pauses (
    id    INTEGER PRIMARY KEY,
    run   INTEGER NOT NULL REFERENCES runs (id),
    start REAL NOT NULL,
    stop  REAL NOT NULL CHECK (stop >= start),
    kind  TEXT NOT NULL CHECK (kind IN {PAUSE_KINDS!r}),
    slept REAL NOT NULL DEFAULT 0 CHECK (slept >= 0)
);
CREATE INDEX pauses_start ON pauses (start);
CREATE TABLE edits (
    seq  INTEGER PRIMARY KEY,
    low  REAL NOT NULL,
    high REAL NOT NULL
);
CREATE TRIGGER samples_edit_insert AFTER INSERT ON samples WHEN EXISTS (SELECT 1 FROM samples WHERE ts > NEW.ts) BEGIN INSERT INTO edits (low, high) VALUES (NEW.ts, NEW.ts); END;
CREATE TRIGGER samples_edit_delete AFTER DELETE ON samples WHEN EXISTS (SELECT 1 FROM samples WHERE ts < OLD.ts) BEGIN INSERT INTO edits (low, high) VALUES (OLD.ts, OLD.ts); END;
CREATE TRIGGER samples_edit_update AFTER UPDATE ON samples BEGIN INSERT INTO edits (low, high) VALUES (min(OLD.ts, NEW.ts), max(OLD.ts, NEW.ts)); END;
CREATE VIEW sample_modes AS SELECT ts, cpu, {_MODES_VIEW} FROM samples;
"""  # noqa: E501 - a trigger stays on one line: _statements() splits at a line-ending ';'

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3)
SCHEMA_VERSION = len(MIGRATIONS)


class SchemaError(Exception):
    """The file is not a cpuload database that this build can use; the message says why."""


def read_version(conn: sqlite3.Connection) -> int:
    """Return the file's schema version, or raise SchemaError without writing anything."""
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.OperationalError:
        raise  # locked, cannot open, read-only: the file may be fine; the caller says what
    except sqlite3.DatabaseError as exc:
        raise SchemaError(f"not an SQLite database ({exc})") from None
    if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables):
        raise SchemaError("an SQLite database of another program, not a cpuload database")
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"schema version {version} is newer than this cpuload knows ({SCHEMA_VERSION});"
            " upgrade cpuload"
        )
    return int(version)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to SCHEMA_VERSION in one transaction; return the version it had."""
    found = read_version(conn)
    if found == SCHEMA_VERSION:
        return found
    if found == 0:
        # Must precede the first table; lets retention give pages back to the file system.
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    conn.execute("BEGIN IMMEDIATE")
    try:
        for script in MIGRATIONS[found:]:
            for statement in _statements(script):
                conn.execute(statement)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return found


def _statements(script: str) -> list[str]:
    """Split a migration script; executescript() would commit our open transaction."""
    return [s.strip() for s in script.split(";\n") if s.strip()]
