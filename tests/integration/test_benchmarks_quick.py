"""`python -m benchmarks --quick` runs every query workload end to end, so they cannot rot: real
processes (the query service, nginx, the load generator) on a small dataset of its own. (The
ingest workloads have their own quick test.)"""

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

from benchmarks import harness
from benchmarks import run as bench_run
from core import settings as core_settings
from storage import config as storage_config
from storage import embedded, writeback

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = {
    "device",
    "device_read",
    "readings_1d_raw",
    "readings_1y_1d",
    "readings_30d_1h_3",
    "world_map",
    "world_map_304",
}


@pytest.fixture
def bench_database(server_dsn: str) -> Iterator[str]:
    """A name for the run's own benchmark database, dropped afterwards."""
    name = f"sensorium_bench_test_{secrets.token_hex(4)}"
    yield name
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.mark.timeout(180)
def test_quick_run_measures_every_workload(bench_database: str, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    docs = tmp_path / "performance.md"
    docs.write_text("# Performance\n\nBefore.\n")
    completed = subprocess.run(
        [
            *(sys.executable, "-m", "benchmarks", "--quick", "--database", bench_database),
            *("--only", ",".join(sorted(WORKLOADS)), "--out", str(out), "--docs", str(docs)),
            # The ingest workloads have a test of their own (test_benchmarks_ingest_quick.py).
            *("--only", ",".join(sorted(WORKLOADS))),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    result = json.loads(out.read_text())

    assert result["mode"] == "quick"
    assert result["machine"]["cores"] >= 1
    assert result["machine"]["postgresql"] and result["machine"]["timescaledb"]
    assert set(result["machine"]["writeback"]) == set(writeback.SETTINGS)
    # The embedded cluster runs the writeback helper where this machine's writeback bursts.
    embedded_db = storage_config.DatabaseSettings.from_env(core_settings.environ()).embedded
    bursts = writeback.bursts(writeback.read(), embedded.memory_bytes())
    assert result["machine"]["writeback_flusher"] is (bursts if embedded_db else None)
    assert result["dataset"]["name"] == "small"
    assert result["dataset"]["map_devices"] == 1000
    assert {w["name"] for w in result["workloads"]} == WORKLOADS
    assert {(w["name"], w["via"]) for w in result["workloads"]} == {
        *((name, "query") for name in WORKLOADS),
        ("device", "query, half rate"),
        ("readings_1y_1d", "query, half rate"),
        ("device", "query, 1 connection"),
        ("readings_1y_1d", "query, 1 connection"),
        ("device", "nginx"),
        ("world_map_304", "nginx"),
    }
    ceiling = result["ceilings"]["http_empty"]
    for workload in [ceiling, *result["workloads"]]:
        name = f"{workload['name']} via {workload['via']}"
        assert workload["errors"] == 0, name
        assert len(workload["runs"]) == bench_run.QUICK.repeats, name
        # A slow answer on a busy machine may outlast one short window, never the whole run.
        assert workload["operations"] > 0, name
        for run in workload["runs"]:
            if run["operations"]:
                assert 0 < run["p50_ms"] <= run["p99_ms"], name
            assert run["client_cpu"] >= 0 and run["server_cpu"] >= 0, name
        assert sum(run["server_cpu"] for run in workload["runs"]) > 0, name
        rate = workload["summary"]["rate"]
        assert 0 <= rate["min"] <= rate["median"] <= rate["max"] and rate["max"] > 0, name
    for workload in result["workloads"]:
        ratio = workload["ceiling_ratio"]
        assert ratio is not None and ratio["median"] > 0, workload["name"]
    by_name = {(w["name"], w["via"]): w for w in result["workloads"]}
    # Answers of realistic size were checked before timing.
    assert by_name["readings_1d_raw", "query"]["answer"]["rows"] == 1440
    assert by_name["readings_1y_1d", "query"]["answer"]["rows"] == 365
    assert by_name["readings_30d_1h_3", "query"]["answer"]["rows"] == 3 * 720
    assert by_name["world_map", "query"]["answer"]["rows"] == 1000
    assert by_name["world_map_304", "query"]["runs"][0]["statuses"] == {
        "304": by_name["world_map_304", "query"]["runs"][0]["operations"]
    }
    targets = {(w["name"], w["via"]): w["target"] for w in result["workloads"] if w["target"]}
    # Latency targets are judged at half the highest rate, the rate target at the highest.
    assert set(targets) == {
        ("device", "query, half rate"),
        ("readings_1y_1d", "query, half rate"),
        ("world_map_304", "query"),
        ("world_map_304", "nginx"),
    }
    assert all(isinstance(t["met"], bool) for t in targets.values())
    for name in ("device", "readings_1y_1d"):
        highest = by_name[name, "query"]["summary"]["rate"]["max"]
        half = by_name[name, "query, half rate"]
        # The open loop sent at half the best closed-loop window's rate (within what a short
        # window on a busy machine completes).
        assert 0 < half["summary"]["rate"]["median"] <= 0.6 * highest, name

    # The table is printed and kept in the docs file between its markers.
    assert "| device document | query |" in completed.stdout
    kept = docs.read_text()
    assert kept.startswith("# Performance\n\nBefore.\n")
    assert harness.DOCS_BEGIN in kept and "| 1 year at 1d | query |" in kept
