"""Fixtures of the fault tests: the platform launcher and demo fleet of the acceptance tests, a
ledger, and `fault_report` to record a test's row of the table printed at the end."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from storage import demo
from tests.acceptance.conftest import fleet, start_platform
from tests.faults import FULL, ledger, report

__all__ = ["fault_ledger", "fault_report", "fleet", "sck21", "start_platform"]

_ROWS: list[report.Row] = []

Record = Callable[..., report.Row]


@pytest.fixture
def fault_ledger() -> ledger.Ledger:
    """An empty ledger for this test."""
    return ledger.Ledger()


@pytest.fixture
def sck21(fleet):
    """The demo fleet's SCK 2.1 devices (their readings are stored as sent)."""
    devices = [d for d in fleet.devices if d.kit_id == demo.SCK_2_1]
    assert devices, "the demo fleet has no SCK 2.1 device"
    return devices


@pytest.fixture
def fault_report(request: pytest.FixtureRequest) -> Record:
    """`fault_report(faults=3, verdict=v, recovery_s=1.2)` records this test's row of the table.

    Record it before asserting the verdict clean, so a failing run still shows what it found.
    """

    def record(
        *, faults: int, verdict: ledger.Verdict, recovery_s: float | None = None
    ) -> report.Row:
        row = report.Row(
            test=f"{request.path.name}::{request.node.name}",
            faults=faults,
            sent=verdict.sent,
            acknowledged=verdict.acknowledged,
            stored=verdict.stored,
            lost=verdict.lost,
            duplicated=verdict.duplicated,
            recovery_s=recovery_s,
        )
        _ROWS[:] = [r for r in _ROWS if r.test != row.test]
        _ROWS.append(row)
        return row

    return record


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    if not _ROWS:
        return
    mode = "full" if FULL else "short"
    terminalreporter.write_sep("=", f"fault injection ({mode} version)")
    terminalreporter.write_line(report.table(_ROWS))
    if FULL and os.environ.get("SENSORIUM_FAULTS_DOCS") != "0":
        report.update_docs(report.docs_block(_ROWS, mode))
        terminalreporter.write_line(f"table written to {report.DOCS.relative_to(report.ROOT)}")
