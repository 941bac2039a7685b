"""The query workloads: what each asks for, checking one answer, and timing them under load.

Each workload is a list of requests (random devices and sensors of the dataset, drawn with a
fixed seed) that the load generator's connections cycle through. Before it is timed, one of its
answers is fetched and checked (status, and the number of rows a realistic client gets: 1,440
raw minutes in a day, 365 days in a year, 3 x 720 hours in 30 days, every device on the map),
so a workload that silently answered errors or empty arrays cannot pass as fast.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from benchmarks import dataset, harness, loadgen, services

logger = logging.getLogger(__name__)

NAMES = (
    "device",
    "device_read",
    "readings_1d_raw",
    "readings_1y_1d",
    "readings_30d_1h_3",
    "world_map",
    "world_map_304",
)
CEILING = "http_empty"
_REQUESTS_PER_WORKLOAD = 2000
_SEED = 20240501


@dataclass(frozen=True, slots=True)
class LoadSettings:
    """How hard and how long each workload is driven."""

    connections: int = 16
    clients: int = 1  # load-generator processes sharing the connections
    warmup_s: float = 2.0
    duration_s: float = 6.0
    repeats: int = 3
    startup_s: float = 1.5  # for the load generator's Python, numpy and uvloop to start
    rate: float | None = (
        None  # requests/s in all, an open loop; None: each connection as fast as it can
    )


@dataclass(frozen=True)
class Workload:
    """Requests to time against one endpoint, the status they should get, and a target."""

    name: str
    title: str
    paths: list[str]
    expect: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    target: harness.Target | None = None
    rows: Callable[[Any], int] | None = None  # rows in one decoded answer
    expected_rows: int | None = None
    via_nginx: bool = False  # also timed through nginx
    alone: bool = False  # also timed with one connection: the latency without queueing
    # A latency target is judged at half the highest rate (an open loop over the same
    # connections), as ingest's is: at the highest rate a closed loop's latency is its queue.

    @property
    def latency_target(self) -> bool:
        return self.target is not None and self.target.metric != "rate"

    ceiling: str | None = "http_empty"


def workloads(data: dataset.Dataset) -> list[Workload]:
    """Every query workload on `data`, in the order they run."""
    rng = random.Random(_SEED)
    scale, end = data.scale, data.end
    sensors = dataset.SENSOR_IDS

    def series() -> tuple[int, int]:
        return rng.choice(data.series_devices), rng.choice(sensors)

    def day_paths() -> list[str]:
        paths = []
        for _ in range(_REQUESTS_PER_WORKLOAD):
            device, sensor = series()
            day = end - timedelta(days=rng.randrange(scale.minute_days) + 1)
            paths.append(
                f"/v0/devices/{device}/readings?sensor_id={sensor}&rollup=1m"
                f"&from={_iso(day)}&to={_iso(day + timedelta(days=1))}"
            )
        return paths

    def year_paths() -> list[str]:
        start = end - timedelta(days=365)
        return [
            "/v0/devices/{}/readings?sensor_id={}&rollup=1d&from={}&to={}".format(
                *series(), _iso(start), _iso(end)
            )
            for _ in range(_REQUESTS_PER_WORKLOAD)
        ]

    def month_paths() -> list[str]:
        start = end - timedelta(days=30)
        paths = []
        for _ in range(_REQUESTS_PER_WORKLOAD):
            device = rng.choice(data.series_devices)
            chosen = ",".join(str(s) for s in rng.sample(sensors, 3))
            paths.append(
                f"/v0/devices/{device}/readings?sensor_id={chosen}&rollup=1h"
                f"&from={_iso(start)}&to={_iso(end)}"
            )
        return paths

    device_paths = [
        f"/v0/devices/{rng.choice(data.map_devices)}" for _ in range(_REQUESTS_PER_WORKLOAD)
    ]
    browser = {"Accept-Encoding": "gzip, deflate, br"}
    world_map = "/v0/devices/world_map"
    return [
        Workload(
            "device",
            "device document",
            device_paths,
            target=harness.Target("p99_ms", 5.0, False, "p99 ≤ 5 ms"),
            rows=lambda body: len(body["data"]["sensors"]),
            expected_rows=len(sensors),
            via_nginx=True,
            alone=True,
        ),
        Workload(
            # The same documents read from the database each time (the query service keeps
            # documents in memory while it follows their changes, and no reading is stored
            # while the query workloads run: after its first pass, `device` is answered from
            # memory).
            "device_read",
            "device document, read (Cache-Control: no-cache)",
            device_paths,
            headers={"Cache-Control": "no-cache"},
            rows=lambda body: len(body["data"]["sensors"]),
            expected_rows=len(sensors),
        ),
        Workload(
            "readings_1d_raw",
            "1 day of raw readings (1m)",
            day_paths(),
            rows=lambda body: len(body["readings"]),
            expected_rows=1440,
        ),
        Workload(
            "readings_1y_1d",
            "1 year at 1d",
            year_paths(),
            target=harness.Target("p99_ms", 20.0, False, "p99 ≤ 20 ms"),
            rows=lambda body: len(body["readings"]),
            expected_rows=365,
            alone=True,
        ),
        Workload(
            "readings_30d_1h_3",
            "30 days at 1h, 3 sensors",
            month_paths(),
            rows=lambda body: sum(len(s["readings"]) for s in body["series"]),
            expected_rows=3 * 30 * 24,
        ),
        Workload(
            "world_map",
            f"world map, {scale.map_devices:,} devices (200, gzip)",
            [world_map],
            headers=browser,
            rows=len,
            expected_rows=scale.map_devices,
        ),
        Workload(
            "world_map_304",
            f"world map, {scale.map_devices:,} devices (304)",
            [world_map],
            expect=304,
            headers={**browser, "If-None-Match": "<etag>"},  # filled from a live answer
            target=harness.Target("rate", 10_000, True, "≥ 10,000 req/s"),
            via_nginx=True,
        ),
    ]


def ceiling_workload() -> Workload:
    """The bare HTTP stack's empty answer: the ceiling the query workloads are compared with."""
    return Workload(
        CEILING,
        "ceiling: aiohttp + uvloop, empty 200",
        ["/empty"],
        ceiling=None,
    )


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# Checking one answer --------------------------------------------------------------------------


def fetch(port: int, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """One request with the standard library: status, headers, body (gunzipped; the size on
    the wire is in the `X-Wire-Bytes` of the headers returned)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, found, body = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        status, found, body = exc.code, dict(exc.headers), exc.read()
    found["X-Wire-Bytes"] = str(len(body))
    if found.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    return status, found, body


def prepared(workload: Workload, port: int) -> tuple[Workload, dict[str, Any]]:
    """The workload ready to run against `port` (a live ETag where it needs one) and the size
    of one checked answer; raises AssertionError if the answer is not what it should be."""
    if workload.headers.get("If-None-Match") == "<etag>":
        plain = {k: v for k, v in workload.headers.items() if k != "If-None-Match"}
        status, headers, _ = fetch(port, workload.paths[0], plain)
        assert status == 200, f"{workload.name}: no snapshot to revalidate ({status})"
        workload = dataclasses.replace(
            workload, headers={**plain, "If-None-Match": headers["ETag"]}
        )
    status, headers, body = fetch(port, workload.paths[0], workload.headers)
    assert status == workload.expect, f"{workload.name}: {status} {body[:300]!r}"
    answer: dict[str, Any] = {"bytes": len(body)}
    if headers.get("Content-Encoding") == "gzip":
        answer["gzip_bytes"] = int(headers["X-Wire-Bytes"])
    if workload.rows is not None:
        rows = workload.rows(json.loads(body))
        if workload.expected_rows is not None:
            assert rows == workload.expected_rows, (
                f"{workload.name}: {rows} rows, expected {workload.expected_rows}"
            )
        answer["rows"] = rows
    return workload, answer


# Timing ---------------------------------------------------------------------------------------


# CPU seconds so far of each database backend serving the target, by process id; None when
# the database is not on this machine.
CpuProbe = Callable[[], dict[int, float] | None]


def run(
    workload: Workload,
    target: services.Process,
    settings: LoadSettings,
    *,
    via: str,
    database_cpu: CpuProbe,
    answer: dict[str, Any],
) -> harness.Result:
    """Time `workload` against `target`: `settings.repeats` windows back to back after a
    warm-up, each window a Run."""
    host_header = f"127.0.0.1:{target.port}"
    extra = "".join(f"{name}: {value}\r\n" for name, value in workload.headers.items())
    requests = [
        f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\n{extra}\r\n" for path in workload.paths
    ]
    first = time.time() + settings.startup_s + settings.warmup_s
    windows = [
        (first + i * settings.duration_s, first + (i + 1) * settings.duration_s)
        for i in range(settings.repeats)
    ]
    per_client = max(1, settings.connections // settings.clients)
    clients = []
    with tempfile.TemporaryDirectory(prefix="sensorium-bench-") as folder:
        for index in range(settings.clients):
            job = {
                "host": "127.0.0.1",
                "port": target.port,
                "requests": requests,
                "connections": per_client,
                "windows": windows,
                "seed": index * 7919,
                "rate": settings.rate / settings.clients if settings.rate else None,
            }
            path = os.path.join(folder, f"job-{index}.json")
            with open(path, "w") as job_file:
                json.dump(job, job_file)
            argv = [sys.executable, "-m", "benchmarks.loadgen", path, f"{path}.result"]
            clients.append(subprocess.Popen(argv, cwd=harness.ROOT))
        try:
            samples = _sample(windows, target, database_cpu)
            for client in clients:
                client.wait(timeout=120)
        finally:
            for client in clients:
                if client.poll() is None:
                    client.kill()
                    client.wait()
        for client in clients:
            if client.returncode != 0:
                raise RuntimeError(f"a load generator exited with {client.returncode}")
        per_window = []
        for index in range(settings.clients):
            with open(os.path.join(folder, f"job-{index}.json.result")) as result_file:
                per_window.append(json.load(result_file))
    runs = [
        _run(workload, [results[i] for results in per_window], windows[i], samples[i])
        for i in range(settings.repeats)
    ]
    judged = settings.rate is not None or not workload.latency_target
    return harness.Result(
        name=workload.name,
        title=workload.title,
        via=via,
        unit="requests/s",
        runs=runs,
        answer=answer,
        target=workload.target if judged else None,
        ceiling=workload.ceiling,
    )


def _sample(
    windows: list[tuple[float, float]], target: services.Process, database_cpu: CpuProbe
) -> list[tuple[float, float | None]]:
    """Per window, the cores the target and its database backends used."""
    samples = []
    for start, stop in windows:
        _sleep_until(start)
        target.check()
        service_0, database_0, at_0 = services.cpu_seconds(target.pids), database_cpu(), time.time()
        _sleep_until(stop)
        service_1, database_1, at_1 = services.cpu_seconds(target.pids), database_cpu(), time.time()
        span = max(at_1 - at_0, 1e-9)
        database = None
        if database_0 is not None and database_1 is not None:
            # Backends that left during the window are not counted; new ones count whole.
            used = sum(cpu - database_0.get(pid, 0.0) for pid, cpu in database_1.items())
            database = used / span
        samples.append(((service_1 - service_0) / span, database))
    return samples


def _sleep_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)


def _run(
    workload: Workload,
    results: list[dict[str, Any]],
    window: tuple[float, float],
    sample: tuple[float, float | None],
) -> harness.Run:
    latencies = np.concatenate([loadgen.decode_latencies(r["latencies"]) for r in results])
    statuses: dict[str, int] = {}
    for result in results:
        for code, n in result["statuses"].items():
            statuses[code] = statuses.get(code, 0) + n
    unexpected = sum(n for code, n in statuses.items() if int(code) != workload.expect)
    window_s = window[1] - window[0]
    return harness.Run(
        operations=len(latencies),
        window_s=window_s,
        p50_ms=harness.percentile_ms(latencies, 50),
        p99_ms=harness.percentile_ms(latencies, 99),
        errors=unexpected + sum(r["connection_errors"] for r in results),
        reconnects=sum(r["reconnects"] for r in results),
        statuses=statuses,
        body_bytes=sum(r["body_bytes"] for r in results),
        client_cpu=sum(r["cpu_s"] for r in results) / window_s,
        server_cpu=sample[0],
        database_cpu=sample[1],
    )
