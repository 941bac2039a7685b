"""The ingest ceiling: the benchmark's readings written by binary COPY straight into the
`readings` hypertable (with its unique index), over two connections, from this process.

No HTTP, no staging, no calibration, no rollups or latest values: only the storage of rows, so
no ingest pipeline on this machine can store readings faster. Rows come from the same grid the
load generator posts (benchmarks/ingest_fleet.py), 10,000 to a COPY (100 requests of 10 x 10),
each COPY built by storage/packing.py's `readings_copy_body` (as the workers build theirs) and
committed on its own. A COPY counts in the window it finished in; its latency is the p50/p99.
The hypertable is emptied afterwards, so the end-to-end runs start from the same state.
"""

from __future__ import annotations

import asyncio
import resource
import time
from dataclasses import dataclass, field

import asyncpg
import numpy as np
import psycopg

from benchmarks import harness, ingest_fleet, ingest_services
from storage import packing

NAME = "copy_readings"
CONNECTIONS = 2
REQUESTS_PER_COPY = 100  # 10,000 readings of 10 x 10
_COLUMNS = ("time", "device_id", "sensor_id", "raw_value", "value")


@dataclass
class _Window:
    start: float
    stop: float
    rows: int = 0
    body_bytes: int = 0
    latencies: list[float] = field(default_factory=list)


async def _writer(
    dsn: str, grid: ingest_fleet.Grid, counter: list[int], windows: list[_Window], end: float
) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        while time.time() < end:
            first = counter[0]
            counter[0] += REQUESTS_PER_COPY
            times, device_ids, sensor_ids, values = grid.rows(first, REQUESTS_PER_COPY)
            body = packing.readings_copy_body(times, device_ids, sensor_ids, values, values)
            started = time.time()
            await conn.copy_to_table(
                "readings",
                source=memoryview(body),  # type: ignore[arg-type]  # asyncpg takes bytes as a file name
                columns=_COLUMNS,
                format="binary",
            )
            now = time.time()
            for window in windows:
                if window.start <= now < window.stop:
                    window.rows += len(times)
                    window.body_bytes += len(body)
                    window.latencies.append(now - started)
    finally:
        await conn.close()


def measure(
    fleet: ingest_fleet.Fleet,
    postgres: ingest_services.Postgres | None,
    *,
    warmup_s: float,
    duration_s: float,
    repeats: int,
) -> tuple[harness.Result, dict[str, float]]:
    """Time the COPY ceiling: `repeats` windows of `duration_s` after `warmup_s`; the readings
    written are deleted afterwards. Also returns the cluster's WAL over the windows per reading
    written (`wal_bytes_per_reading`, `wal_fpi_per_million`), when `postgres` is given."""
    grid = ingest_fleet.Grid(fleet.devices, 10, ingest_fleet.base_us(-30))
    first = time.time() + 0.5 + warmup_s
    windows = [
        _Window(first + i * duration_s, first + (i + 1) * duration_s) for i in range(repeats)
    ]
    samples: list[tuple[float, float, float | None]] = []
    wal: list[dict[str, float]] = []  # at the first window's start and the last one's end

    async def main() -> None:
        counter = [0]
        end = windows[-1].stop
        writers = [
            asyncio.create_task(_writer(fleet.dsn, grid, counter, windows, end))
            for _ in range(CONNECTIONS)
        ]
        for i, window in enumerate(windows):
            await asyncio.sleep(max(0.0, window.start - time.time()))
            before = (_own_cpu(), postgres.cpu() if postgres else None, time.time())
            if postgres and i == 0:
                wal.append(postgres.wal())
            await asyncio.sleep(max(0.0, window.stop - time.time()))
            after = (_own_cpu(), postgres.cpu() if postgres else None, time.time())
            if postgres and i == len(windows) - 1:
                wal.append(postgres.wal())
            span = after[2] - before[2]
            database = (
                None if before[1] is None or after[1] is None else (after[1] - before[1]) / span
            )
            samples.append(((after[0] - before[0]) / span, span, database))
        await asyncio.gather(*writers)

    asyncio.run(main())
    with psycopg.connect(fleet.dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE readings")
    runs = []
    for window, (client_cpu, _, database_cpu) in zip(windows, samples, strict=True):
        latencies = np.asarray(window.latencies)
        runs.append(
            harness.Run(
                operations=window.rows,
                window_s=window.stop - window.start,
                p50_ms=harness.percentile_ms(latencies, 50),
                p99_ms=harness.percentile_ms(latencies, 99),
                errors=0,
                statuses={},
                body_bytes=window.body_bytes,
                client_cpu=client_cpu,
                server_cpu=database_cpu or 0.0,
                database_cpu=database_cpu,
            )
        )
    written = sum(window.rows for window in windows)
    per_reading = {}
    if len(wal) == 2 and written:
        per_reading = {
            "wal_bytes_per_reading": (wal[1]["wal_bytes"] - wal[0]["wal_bytes"]) / written,
            "wal_fpi_per_million": (wal[1]["wal_fpi"] - wal[0]["wal_fpi"]) / written * 1e6,
        }
    result = harness.Result(
        name=NAME,
        title="ceiling: binary COPY into readings, 2 connections",
        via="PostgreSQL",
        unit="readings/s",
        runs=runs,
        answer={},
        notes=[
            f"{REQUESTS_PER_COPY * grid.readings_per_request:,} readings per COPY, each its own "
            "transaction; p50/p99 are per COPY; service CPU is the database's",
        ],
    )
    return result, per_reading


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
