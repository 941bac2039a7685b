"""What every benchmark shares: repeated runs summarised as median with min-max, percentiles,
targets, ceilings and ratios to them, the machine, and the result document and its table.

A workload is run several times; each run gives a `Run` (requests or readings per second,
latency percentiles, errors, CPU of the client, the service and the database). A `Result`
summarises the runs of one workload: every figure as the median over the runs with the min and
max beside it. A ceiling is a `Result` too, measured in the same invocation (the bare HTTP stack
for the query workloads, the raw COPY rate for ingest), and each workload that names one is also
given as a ratio to it. `Report` gathers the results with the machine and dataset into the JSON
document written to benchmarks/results/ and the table printed and kept in docs/performance.md.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from storage import embedded, writeback

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
DOCS = ROOT / "docs" / "performance.md"
DOCS_BEGIN = "<!-- bench:latest:begin (written by `make bench`) -->"
DOCS_END = "<!-- bench:latest:end -->"
SCHEMA = 1


# One run ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    """One timed run of a workload."""

    operations: int  # requests (or readings) completed inside the window
    window_s: float
    p50_ms: float
    p99_ms: float
    errors: int  # unexpected statuses and failed connections
    statuses: dict[str, int]
    body_bytes: int
    client_cpu: float  # cores used by the load generator(s) during the window
    server_cpu: float  # cores used by the measured service process(es)
    database_cpu: float | None  # cores used by the service's database backends, when local
    reconnects: int = 0  # connections the server closed with `Connection: close`, reopened

    @property
    def rate(self) -> float:
        return self.operations / self.window_s if self.window_s > 0 else 0.0


def percentile_ms(latencies_s: npt.NDArray[np.floating[Any]], q: float) -> float:
    """The `q`th percentile (0-100) of latencies given in seconds, in milliseconds."""
    if len(latencies_s) == 0:
        return 0.0
    return float(np.percentile(latencies_s, q)) * 1000.0


# Summaries -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spread:
    """The median of repeated measurements with their min and max."""

    median: float
    min: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            return cls(0.0, 0.0, 0.0)
        return cls(float(statistics.median(values)), float(min(values)), float(max(values)))

    def scaled(self, factor: float) -> Spread:
        return Spread(self.median * factor, self.min * factor, self.max * factor)

    def text(self, digits: int = 2) -> str:
        """`median (min-max)`, or the median alone when all runs agree at this precision."""
        fmt = _number(digits)
        low, mid, high = fmt(self.min), fmt(self.median), fmt(self.max)
        return mid if low == high else f"{mid} ({low}-{high})"


def _number(digits: int) -> Any:
    def fmt(value: float) -> str:
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:.0f}"
        return f"{value:.{digits}f}"

    return fmt


@dataclass(frozen=True, slots=True)
class Target:
    """A figure a workload should reach: `metric` (rate, p50_ms or p99_ms) at most or at least
    `limit`, judged on the median over runs."""

    metric: str
    limit: float
    at_least: bool
    text: str  # as the requirement says it: "p99 ≤ 5 ms"

    def met(self, summary: dict[str, Spread]) -> bool:
        value = summary[self.metric].median
        return value >= self.limit if self.at_least else value <= self.limit


@dataclass
class Result:
    """A workload's runs and their summary."""

    name: str
    title: str
    via: str  # what the client talked to: "query" (the service itself), "nginx", ...
    unit: str  # of the rate: "requests/s", "readings/s"
    runs: list[Run]
    answer: dict[str, Any] = field(default_factory=dict)  # size of one answer: rows, bytes
    target: Target | None = None
    ceiling: str | None = None  # the name of the ceiling result its rate is compared with
    notes: list[str] = field(default_factory=list)
    # Why the target is missed whatever its figure says: a final ingest run that did not hold
    # stored its readings while its backlog grew, which is no sustained rate.
    unmet: str | None = None

    def target_met(self) -> bool | None:
        """Whether the target is met (its figure, and no `unmet`); None without a target."""
        if self.target is None:
            return None
        return self.unmet is None and self.target.met(self.summary())

    def summary(self) -> dict[str, Spread]:
        runs = self.runs
        summary = {
            "rate": Spread.of([r.rate for r in runs]),
            "p50_ms": Spread.of([r.p50_ms for r in runs]),
            "p99_ms": Spread.of([r.p99_ms for r in runs]),
            "client_cpu": Spread.of([r.client_cpu for r in runs]),
            "server_cpu": Spread.of([r.server_cpu for r in runs]),
        }
        # CPU per operation depends much less than rates do on what else the machine runs.
        summary["server_us_per_op"] = Spread.of(
            [1e6 * r.server_cpu / r.rate for r in runs if r.rate > 0]
        )
        database = [r.database_cpu for r in runs if r.database_cpu is not None]
        if database:
            summary["database_cpu"] = Spread.of(database)
            summary["database_us_per_op"] = Spread.of(
                [1e6 * r.database_cpu / r.rate for r in runs if r.database_cpu and r.rate > 0]
            )
        return summary

    @property
    def errors(self) -> int:
        return sum(r.errors for r in self.runs)

    @property
    def operations(self) -> int:
        return sum(r.operations for r in self.runs)

    def ratio(self, ceilings: dict[str, Result]) -> Spread | None:
        """The rate over the ceiling's median rate, per run, as a spread."""
        ceiling = ceilings.get(self.ceiling or "")
        if ceiling is None:
            return None
        top = ceiling.summary()["rate"].median
        if top <= 0:
            return None
        return Spread.of([r.rate / top for r in self.runs])

    def as_dict(self, ceilings: dict[str, Result]) -> dict[str, Any]:
        summary = self.summary()
        ratio = self.ratio(ceilings)
        return {
            "name": self.name,
            "title": self.title,
            "via": self.via,
            "unit": self.unit,
            "answer": self.answer,
            "summary": {key: asdict(value) for key, value in summary.items()},
            "ceiling": self.ceiling,
            "ceiling_ratio": None if ratio is None else asdict(ratio),
            "target": None
            if self.target is None
            else {**asdict(self.target), "met": self.target_met(), "unmet": self.unmet},
            "errors": self.errors,
            "operations": self.operations,
            "notes": self.notes,
            "runs": [{**asdict(run), "rate": run.rate} for run in self.runs],
        }


# The machine -----------------------------------------------------------------------------------


def machine_facts(
    database_versions: dict[str, str], *, flusher: bool | None = None
) -> dict[str, Any]:
    """Cores, memory, CPU model, OS, Python and the database's versions and settings;
    `flusher`: whether the embedded cluster's writeback helper runs (None: another server)."""
    memory = embedded.memory_bytes()
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(memory / 2**30, 1),
        "cpu_model": _cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "writeback": writeback.read(),
        "writeback_flusher": flusher,
        **database_versions,
    }


def _writeback_note(settings: writeback.Writeback | None, flusher: bool | None) -> str:
    """The note under the machine line of a machine whose writeback makes bursts."""
    if flusher:
        return (
            f"- The kernel would write dirty data back in bursts ({writeback.describe(settings)})"
            ": the embedded cluster's writeback helper flushes its new pages every second "
            "instead (storage/flusher.py)."
        )
    return (
        "- **The kernel writes dirty data back in bursts** "
        f"({writeback.describe(settings)}): ingest's acknowledgement latencies include "
        "stalls of a few hundred milliseconds when it does (README, Operations)."
    )


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return found.group(1).strip() if found else platform.processor() or "unknown"


def commit() -> tuple[str, bool]:
    """The checkout's short commit and whether tracked files differ from it."""
    try:
        short = _git("rev-parse", "--short", "HEAD")
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return short, dirty


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


# The report ------------------------------------------------------------------------------------


@dataclass
class Report:
    """One invocation's results, with the machine and dataset they were measured on."""

    mode: str
    started_at: datetime
    machine: dict[str, Any]
    dataset: dict[str, Any]
    settings: dict[str, Any]
    commit: str = "unknown"
    dirty: bool = False
    ceilings: dict[str, Result] = field(default_factory=dict)
    results: list[Result] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)  # workloads that could not run
    extra: dict[str, Any] = field(default_factory=dict)  # profiles, notes

    def document(self) -> dict[str, Any]:
        finished = datetime.now(UTC)
        return {
            "schema": SCHEMA,
            "mode": self.mode,
            "commit": self.commit,
            "dirty": self.dirty,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(finished),
            "duration_s": round((finished - self.started_at).total_seconds(), 1),
            "machine": self.machine,
            "dataset": self.dataset,
            "settings": self.settings,
            "ceilings": {
                name: result.as_dict(self.ceilings) for name, result in self.ceilings.items()
            },
            "workloads": [result.as_dict(self.ceilings) for result in self.results],
            "failures": self.failures,
            **self.extra,
        }

    def default_path(self, *, partial: bool = False, folder: Path = RESULTS_DIR) -> Path:
        """`<date>-<commit>[-<mode>][-only].json` in `folder` (`-only`: a run of some
        workloads), numbered `-2`, `-3`, ... where that name is taken: a result is never
        overwritten."""
        suffix = ("" if self.mode == "default" else f"-{self.mode}") + ("-only" if partial else "")
        stem = f"{self.started_at:%Y-%m-%d}-{self.commit}{suffix}"
        path, number = folder / f"{stem}.json", 2
        while path.exists():
            path, number = folder / f"{stem}-{number}.json", number + 1
        return path

    def table(self) -> str:
        """The results as a Markdown table (readable as plain text too)."""
        lines = [
            "| workload | via | answer | rate (median, min-max) | x ceiling | p50 ms | p99 ms "
            "| target | client CPU | service CPU | db CPU | service / db CPU µs per op "
            "| errors |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for result in [*self.ceilings.values(), *self.results]:
            lines.append(self._row(result))
        return "\n".join(lines)

    def _row(self, result: Result) -> str:
        summary = result.summary()
        ratio = result.ratio(self.ceilings)
        is_ceiling = result.name in self.ceilings
        if result.target is None:
            target = "ceiling" if is_ceiling else "-"
        else:
            verdict = "pass" if result.target_met() else "**miss**"
            if result.unmet is not None:
                verdict += f" ({result.unmet})"
            target = f"{result.target.text}: {verdict}"
        database = summary.get("database_cpu")
        unit = result.unit.replace("requests/s", "req/s")
        return (
            f"| {result.title} | {result.via} | {_answer(result.answer)} "
            f"| {summary['rate'].text(0)} {unit} "
            f"| {'-' if ratio is None else ratio.text(2)} "
            f"| {summary['p50_ms'].text(2)} | {summary['p99_ms'].text(2)} | {target} "
            f"| {summary['client_cpu'].text(2)} | {summary['server_cpu'].text(2)} "
            f"| {'-' if database is None else database.text(2)} "
            f"| {_per_op(summary)} | {result.errors} |"
        )

    def machine_line(self) -> str:
        m = self.machine
        return (
            f"{m['cores']} cores ({m['cpu_model']}), {m['memory_gib']} GiB, {m['os']}, "
            f"Python {m['python']}, PostgreSQL {m.get('postgresql', '?')}, TimescaleDB "
            f"{m.get('timescaledb', '?')} (shared_buffers {m.get('shared_buffers', '?')}); "
            f"{writeback.describe(m.get('writeback'))}; "
            f"load average at start {m['load_average_at_start']}"
        )

    def text(self) -> str:
        """The table with what it was measured on, as printed and kept in the docs."""
        s = self.settings
        dirty = " (with uncommitted changes)" if self.dirty else ""
        load = self.machine["load_average_at_start"][0]
        notes = (
            [
                f"- **The machine was busy**: load average {load} at the start on "
                f"{self.machine['cores']} cores, so rates and latencies are lower and noisier "
                "than on a quiet machine; CPU per operation is the steadier figure."
            ]
            if load > 0.5 * (self.machine["cores"] or 1)
            else []
        )
        settings = self.machine.get("writeback")
        if writeback.bursts(settings, self.machine["memory_gib"] * 2**30):
            notes.append(_writeback_note(settings, self.machine.get("writeback_flusher")))
        return "\n".join(
            [
                f"Measured {self.started_at:%Y-%m-%d %H:%M} UTC at commit `{self.commit}`{dirty}, "
                f"`{self.mode}` mode.",
                "",
                f"- Machine: {self.machine_line()}.",
                f"- Dataset ({self.dataset.get('name')}): {self.dataset.get('description')}",
                f"- Load: {s['connections']} concurrent keep-alive connections from "
                f"{s['clients']} load-generator process(es); each workload "
                f"{s['repeats']} runs of {s['duration_s']} s after {s['warmup_s']} s of warm-up. "
                "Figures are medians over the runs with (min-max); CPU is in cores "
                "(1.00 = one core busy), and per operation in CPU microseconds.",
                *notes,
                "",
                self.table(),
                *(
                    f"\n**{f['workload']} ({f['via']}) did not run:** {f['error']}"
                    for f in self.failures
                ),
            ]
        )


def _answer(answer: dict[str, Any]) -> str:
    parts = []
    if "rows" in answer:
        parts.append(f"{answer['rows']:,} rows")
    if "bytes" in answer:
        parts.append(_size(answer["bytes"]))
    if "gzip_bytes" in answer:
        parts.append(f"{_size(answer['gzip_bytes'])} gzipped")
    return ", ".join(parts) or "-"


def _per_op(summary: dict[str, Spread]) -> str:
    service = summary["server_us_per_op"].median
    database = summary.get("database_us_per_op")
    return f"{service:,.0f} / " + ("-" if database is None else f"{database.median:,.0f}")


def _size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 2**20:,.1f} MiB"
    return f"{size / 1024:,.1f} KiB" if size >= 1024 else f"{size} B"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def update_docs(path: Path, text: str, *, begin: str = DOCS_BEGIN, end: str = DOCS_END) -> None:
    """Put `text` between the markers `begin` and `end` (by default, those of the latest results)
    in `path` (appended if absent)."""
    block = f"{begin}\n{text}\n{end}"
    current = path.read_text() if path.exists() else ""
    if begin in current and end in current:
        head, _, rest = current.partition(begin)
        _, _, tail = rest.partition(end)
        path.write_text(head + block + tail)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(current + ("\n" if current else "") + block + "\n")
