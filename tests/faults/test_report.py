"""The fault tests' table: rows in the documents' order, and a run updates only its own rows."""

from __future__ import annotations

from tests.faults import report


def _row(test: str, lost: int = 0) -> report.Row:
    return report.Row(test, 1, 100, 90, 90, lost, 0, 1.5)


def test_rows_follow_the_order_of_the_sections():
    text = report.table([_row("test_graceful_stop.py::b"), _row("test_worker_kill.py::a")])
    lines = text.splitlines()
    assert "test_worker_kill.py::a" in lines[2]
    assert "test_graceful_stop.py::b" in lines[3]
    assert lines[2].endswith("| 90 | 0 | 0 | 1.5 |")


def test_a_run_replaces_its_rows_and_keeps_the_others(tmp_path):
    page = tmp_path / "reliability.md"
    page.write_text(f"# Title\n\n{report.DOCS_BEGIN}\nold\n{report.DOCS_END}\n\nAfter.\n")
    first = [_row("test_worker_kill.py::a", lost=5), _row("test_retry_storm.py::c")]
    report.update_docs(report.docs_block(first, "full", page), page)
    report.update_docs(report.docs_block([_row("test_worker_kill.py::a")], "full", page), page)
    text = page.read_text()
    assert text.startswith("# Title\n") and text.endswith("\nAfter.\n")
    assert "old" not in text
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    assert [r.split("|")[1].strip() for r in rows] == [
        "`test_worker_kill.py::a`",
        "`test_retry_storm.py::c`",
    ]
    assert "| 5 |" not in rows[0]
