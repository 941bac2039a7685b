"""The benchmark's result document: its name never overwrites an earlier result, and the machine
notes say how the kernel's writeback was handled."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from benchmarks import harness

STARTED = datetime(2026, 12, 8, 1, 25, tzinfo=UTC)
BURSTY = {"dirty_background_bytes": 0, "dirty_background_ratio": 10, "dirty_expire_centisecs": 3000}


def _report(mode: str = "default", **machine: object) -> harness.Report:
    facts = {
        "cores": 2,
        "cpu_model": "test CPU",
        "memory_gib": 23.5,
        "os": "Linux",
        "python": "3.11",
        "load_average_at_start": [0.1, 0.1, 0.1],
        **machine,
    }
    settings = {"connections": 16, "clients": 1, "warmup_s": 2, "duration_s": 6, "repeats": 3}
    return harness.Report(mode, STARTED, facts, {}, settings, commit="fce13f4")


def test_a_result_is_named_by_day_commit_and_mode(tmp_path: Path) -> None:
    assert _report().default_path(folder=tmp_path).name == "2026-12-08-fce13f4.json"
    assert _report("quick").default_path(folder=tmp_path).name == "2026-12-08-fce13f4-quick.json"
    partial = _report().default_path(partial=True, folder=tmp_path)
    assert partial.name == "2026-12-08-fce13f4-only.json"


def test_a_result_already_written_is_not_overwritten(tmp_path: Path) -> None:
    report = _report()
    first = report.default_path(partial=True, folder=tmp_path)
    first.write_text("{}")
    second = report.default_path(partial=True, folder=tmp_path)
    second.write_text("{}")

    assert second.name == "2026-12-08-fce13f4-only-2.json"
    assert report.default_path(partial=True, folder=tmp_path).name.endswith("-only-3.json")
    assert report.default_path(folder=tmp_path).name == "2026-12-08-fce13f4.json"


def test_the_notes_say_whether_the_writeback_helper_took_the_bursts() -> None:
    helped = _report(writeback=BURSTY, writeback_flusher=True).text()
    unhelped = _report(writeback=BURSTY, writeback_flusher=None).text()
    tuned = _report(writeback={**BURSTY, "dirty_background_bytes": 64 << 20}).text()

    assert "writeback helper flushes its new pages every second" in helped
    assert "stalls of a few hundred milliseconds" not in helped
    assert "stalls of a few hundred milliseconds" in unhelped
    assert "bursts" not in tuned
