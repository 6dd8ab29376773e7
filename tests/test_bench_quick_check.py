"""bench/quick_check.py measures the collector's start-up file check on a history it builds."""

from pathlib import Path

from bench import quick_check
from bench.history import History


def test_the_file_check_row_is_measured_on_a_small_history(tmp_path: Path) -> None:
    history = History(tmp_path / "h.db", 2_000)
    try:
        row = quick_check.measure(history, "2,000 rows", reps=2)
    finally:
        history.close()
    assert row.section == "storage" and row.status == "info", row
    assert row.value is not None and row.value.n == 2 and 0 < row.value.p50 < 5
    assert "2,000 rows" in row.note


def test_a_damaged_history_gives_an_error_row_not_a_crash(tmp_path: Path) -> None:
    history = History(tmp_path / "h.db", 2_000)
    try:
        history.file_bytes()
        with history.path.open("r+b") as f:
            f.truncate(history.path.stat().st_size - 1000)
        row = quick_check.measure(history, "cut", reps=1)
    finally:
        history.close()
    assert row.status == "ERROR" and "cut short" in row.note
