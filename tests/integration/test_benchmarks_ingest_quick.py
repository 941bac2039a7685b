"""`python -m benchmarks --quick --only ingest` runs every ingest workload end to end, so the
ingest benchmarks cannot rot: the COPY ceiling, real gateways, workers and query service as
processes, the load generator, the probe, and the final count of what was stored."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from benchmarks import ceiling, ingest_load

ROOT = Path(__file__).resolve().parents[2]
END_TO_END = {"ingest_100", "ingest_100_half", "ingest_100_half_lag", "ingest_500"}


@pytest.fixture
def bench_database(server_dsn: str) -> Iterator[str]:
    """A name for the run's own benchmark databases, dropped afterwards."""
    name = f"sensorium_bench_test_{secrets.token_hex(4)}"
    yield name
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        for database in (name, f"{name}_ingest"):
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )


@pytest.mark.timeout(240)
def test_quick_run_measures_every_ingest_workload(bench_database: str, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    argv = [sys.executable, "-m", "benchmarks", "--quick", "--only", "ingest"]
    argv += ["--database", bench_database, "--out", str(out), "--no-docs"]
    completed = subprocess.run(
        argv,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    result = json.loads(out.read_text())

    copy = result["ceilings"][ceiling.NAME]
    assert copy["unit"] == "readings/s"
    workloads = {w["name"]: w for w in result["workloads"] if w["name"] in ingest_load.NAMES}
    assert set(workloads) == END_TO_END
    for workload in [copy, *workloads.values()]:
        name = workload["name"]
        assert workload["errors"] == 0, name
        assert len(workload["runs"]) == ingest_load.QUICK.windows, name
        for run in workload["runs"]:
            assert run["operations"] > 0, name
            assert 0 < run["p50_ms"] <= run["p99_ms"], name
            if name != "ingest_100_half_lag":  # its CPU is that of ingest_100_half's run
                assert run["client_cpu"] > 0 and run["server_cpu"] > 0, name
        rate = workload["summary"]["rate"]
        assert 0 < rate["min"] <= rate["median"] <= rate["max"], name
    for name in ("ingest_100", "ingest_100_half", "ingest_500"):
        ratio = workloads[name]["ceiling_ratio"]
        assert ratio is not None and ratio["median"] > 0, name
        assert workloads[name]["unit"] == "readings/s"
    targets = {name: w["target"] for name, w in workloads.items() if w["target"]}
    assert set(targets) == END_TO_END
    assert all(isinstance(t["met"], bool) for t in targets.values())

    ingest = result["ingest"]
    # Every acknowledged reading was stored exactly once, probes included.
    assert ingest["acknowledged"] > 0
    assert ingest["lost"] == 0
    assert ingest["stored"] >= ingest["acknowledged"]
    assert ingest["stored"] - ingest["acknowledged"] <= 500 * ingest["unanswered"]
    for name in ("ingest_100", "ingest_100_half", "ingest_500"):
        run = ingest["runs"][name]
        assert run["acked_readings_per_s"] > 0 and run["stored_readings_per_s"] > 0, name
        assert 0 < run["ack_p50_ms"] <= run["ack_p99_ms"], name
        assert run["probes"] > 0, name
        assert 0 < run["lag_p50_ms"] <= run["lag_p99_ms"], name
        assert run["backlog_start"] >= 0 and run["backlog_end"] >= 0, name
        for component in ("gateways", "workers", "postgresql", "load generator"):
            assert run["cpu_s_per_million"][component] > 0, (name, component)
        # A stored reading's row and index entry alone take more WAL than this.
        assert run["wal_bytes_per_reading"] > 40, name
        assert run["wal_fpi_per_million"] >= 0, name
    assert ingest["ceiling_wal"]["wal_bytes_per_reading"] > 40
    assert ingest["ceiling_wal"]["wal_fpi_per_million"] >= 0
    assert ingest["runs"]["ingest_500"]["readings_per_request"] == 500
    peaks = ingest["peak_rss_mib"]
    assert all(peaks[name] > 0 for name in ("gateway-1", "worker-1", "load generator"))

    # The ingest table is printed with the main one.
    assert "| ceiling: binary COPY into readings, 2 connections |" in completed.stdout
    assert "| ingest_100 |" in completed.stdout
    assert "| ceiling (COPY) |" in completed.stdout
