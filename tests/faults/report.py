"""The fault tests' table: one row per test, printed at the end of the session and, in a full run
(`make test-faults`), kept in docs/reliability.md between marker comments."""

from __future__ import annotations

import datetime
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path

from benchmarks import harness

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "reliability.md"
DOCS_BEGIN = "<!-- faults:latest:begin (written by `make test-faults`) -->"
DOCS_END = "<!-- faults:latest:end -->"
# The order of docs/reliability.md's sections; a test of another module goes after these.
ORDER = (
    "test_worker_kill.py",
    "test_gateway_kill.py",
    "test_database_shutdown.py",
    "test_retry_storm.py",
    "test_overload.py",
    "test_noisy_device.py",
    "test_graceful_stop.py",
)
_HEADER = (
    "| test | faults | sent | acknowledged | stored | lost | duplicated | worst recovery (s) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|",
)


@dataclass(frozen=True, slots=True)
class Row:
    """What one fault test did and found."""

    test: str  # module::function
    faults: int  # faults injected (kills, stops, storms)
    sent: int  # distinct readings sent
    acknowledged: int  # of those, answered 2xx
    stored: int  # rows stored for the test's devices
    lost: int  # acknowledged and not stored
    duplicated: int  # stored more than once
    recovery_s: float | None  # worst time from a fault until the platform served or drained again

    def markdown(self) -> str:
        recovery = "-" if self.recovery_s is None else f"{self.recovery_s:.1f}"
        cells = [
            f"`{self.test}`",
            str(self.faults),
            f"{self.sent:,}",
            f"{self.acknowledged:,}",
            f"{self.stored:,}",
            str(self.lost),
            str(self.duplicated),
            recovery,
        ]
        return "| " + " | ".join(cells) + " |"


def table(rows: list[Row]) -> str:
    """The rows as a markdown table, in the order of ORDER."""
    ordered = sorted(rows, key=lambda row: _place(row.test))
    return "\n".join([*_HEADER, *(row.markdown() for row in ordered)])


def docs_block(rows: list[Row], mode: str, path: Path = DOCS) -> str:
    """The text kept between the markers: when, where and how, then the table.

    Rows of tests that did not run this time are kept from the table already there, so a run
    of some tests updates their rows only.
    """
    kept = {line.split("|")[1].strip(): line for line in _current_rows(path)}
    for row in rows:
        kept[f"`{row.test}`"] = row.markdown()
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.system()} {platform.machine()}"
    return "\n".join(
        [
            f"Last run: {when}, commit {_commit()}, {machine}, {mode} version.",
            "",
            *_HEADER,
            *(kept[name] for name in sorted(kept, key=lambda name: _place(name.strip("`")))),
        ]
    )


def update_docs(text: str, path: Path = DOCS) -> None:
    """Put `text` between the markers in `path` (appended if they are absent)."""
    harness.update_docs(path, text, begin=DOCS_BEGIN, end=DOCS_END)


def _place(test: str) -> tuple[int, str]:
    module = test.partition("::")[0]
    return (ORDER.index(module) if module in ORDER else len(ORDER), test)


def _current_rows(path: Path) -> list[str]:
    current = path.read_text() if path.exists() else ""
    if DOCS_BEGIN not in current or DOCS_END not in current:
        return []
    block = current.partition(DOCS_BEGIN)[2].partition(DOCS_END)[0]
    return [line for line in block.splitlines() if line.startswith("| `")]


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()
