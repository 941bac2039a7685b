"""The ingest workloads: the COPY ceiling, then thousands of simulated devices posting to the
real gateways, with the real workers storing what they acknowledged, at the highest rate the
platform sustains and at half of it.

What is measured (benchmarks/ingest_services.py starts the processes):
- 2 gateways (`python -m ingest`) sharing one port with INGEST_REUSE_PORT, no proxy; 2 workers
  (`python -m workers`); a query service for the probe's reads. Rate limits off.
- Devices post SmartCitizen bodies of 10 timestamps x 10 sensors (and, as the official client
  does when catching up, 50 x 10 = 500 readings) over keep-alive connections from a load
  generator of its own (benchmarks/ingest_loadgen.py), whose CPU is measured too.

Finding the highest sustained rate: a short closed-loop run (each connection posts as soon as
answered) gives what the gateways acknowledge and the workers store when both are saturated;
open-loop runs at fixed request rates then look for the highest rate at which the staging
backlog does not grow (its slope over the run below 2 % of the rate, at least 97 % of the offered
readings acknowledged, no error); the final run at that rate lasts 30 s (3 windows of 10 s) and
is repeated lower if it does not hold. Readings stored in a window are those acknowledged minus
the growth of the backlog. A probe device posts one reading with a unique value every 0.25 s
during the final runs, and the time from its acknowledgement until the query service's
`GET /v0/devices/:id` shows the value is the acknowledgement→queryable lag.

At the end the gateways stop, the workers empty the staging table, and the readings stored are
counted: every acknowledged reading must be there exactly once (`lost` is 0).
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import psycopg

from benchmarks import ceiling, harness, ingest_fleet, ingest_loadgen, ingest_services

logger = logging.getLogger(__name__)

NAMES = ("copy_readings", "ingest_100", "ingest_100_half", "ingest_100_half_lag", "ingest_500")
TARGET_SHARE = 0.25  # end-to-end stored readings/s at least this share of the ceiling
_SUSTAINED_SLOPE = 0.02  # backlog growth per second, as a share of the rate, still "stable"
_SUSTAINED_ACKED = 0.97  # share of the offered readings that must be acknowledged
_MAX_QUEUE_S = 0.5  # requests due but not sent (no free connection), in seconds of the rate
_PROBE_PERIOD_S = 0.25
_BRACKET = 1.05  # screening stops once a rate that held and one that did not are this close
_COMPONENTS = (
    "gateways",
    "workers",
    "postgresql",
    "postgresql for gateways",
    "postgresql for workers",
    "query",
    "load generator",
)
_PROBE_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class IngestSettings:
    """How large and how long the ingest runs are."""

    # Up to 1,000 requests/s each device posts at most every 10 s: many devices, each posting
    # rarely, as real kits do (once a minute).
    devices: int = 10_000
    gateways: int = 2
    workers: int = 2
    clients: int = 1  # load-generator processes
    connections: int = 256  # keep-alive connections over all load-generator processes
    warmup_s: float = 2.0
    saturation_s: float = 5.0  # the closed-loop run
    screen_s: float = 6.0  # each open-loop screening run
    screens: int = 6  # open-loop screening runs, at most
    window_s: float = 10.0  # the final runs: `windows` windows of this length
    windows: int = 3
    retries: int = 2  # final runs repeated lower when they did not hold
    ceiling_warmup_s: float = 1.0
    ceiling_s: float = 4.0
    ceiling_repeats: int = 3
    drain_timeout_s: float = 120.0
    budget_s: float = 420.0  # the end-to-end runs stop screening and retrying past this


DEFAULT = IngestSettings()
QUICK = IngestSettings(
    devices=300,
    connections=32,
    warmup_s=0.5,
    saturation_s=1.5,
    screen_s=1.5,
    screens=1,
    window_s=1.5,
    windows=2,
    retries=0,
    ceiling_warmup_s=0.3,
    ceiling_s=0.6,
    ceiling_repeats=2,
    budget_s=60.0,
)


def selected(only: set[str]) -> set[str]:
    """The ingest workloads `--only` asks for (`ingest` names them all)."""
    if not only or "ingest" in only:
        return set(NAMES)
    chosen = only & set(NAMES)
    if chosen:
        chosen.add(ceiling.NAME)  # every ingest rate is given as a ratio to it
    if "ingest_100_half_lag" in chosen or "ingest_100_half" in chosen:
        chosen |= {"ingest_100_half", "ingest_100_half_lag", "ingest_100"}
    return chosen


# One timed step ---------------------------------------------------------------------------


@dataclass
class Step:
    """One load-generator run and what was sampled around it."""

    mode: str
    per_request: int
    rate: float | None  # requests/s offered (open loop)
    windows: list[tuple[float, float]]
    outputs: list[dict[str, Any]]
    backlog: list[tuple[float, int]]  # (time, staged readings)
    cpu: list[dict[str, float]]  # at each window boundary: component -> CPU seconds
    probes: list[tuple[float, float, float | None]] = field(default_factory=list)
    probe_failures: int = 0

    @property
    def readings_per_request(self) -> int:
        return self.per_request * len(ingest_fleet.SENSOR_IDS)

    @property
    def span(self) -> tuple[float, float]:
        return self.windows[0][0], self.windows[-1][1]

    def acked(self, i: int) -> int:
        return sum(out["windows"][i]["acked_readings"] for out in self.outputs)

    def backlog_at(self, moment: float) -> int:
        return min(self.backlog, key=lambda sample: abs(sample[0] - moment))[1]

    def stored(self, i: int) -> int:
        start, stop = self.windows[i]
        return self.acked(i) - (self.backlog_at(stop) - self.backlog_at(start))

    def slope(self) -> float:
        """Backlog growth over the windows, readings per second (least squares)."""
        start, stop = self.span
        inside = [(t, n) for t, n in self.backlog if start - 0.01 <= t <= stop + 0.01]
        if len(inside) < 3:
            return 0.0
        times, counts = np.array(inside, dtype=np.float64).T
        return float(np.polyfit(times - times[0], counts, 1)[0])

    def acked_rate(self) -> float:
        start, stop = self.span
        return sum(self.acked(i) for i in range(len(self.windows))) / (stop - start)

    def stored_rate(self) -> float:
        start, stop = self.span
        return sum(self.stored(i) for i in range(len(self.windows))) / (stop - start)

    def errors(self) -> int:
        """Answers other than 200, failed connections, and requests never answered."""
        total = 0
        for out in self.outputs:
            total += out["unanswered"]
            for window in out["windows"]:
                total += window["connection_errors"]
                total += sum(n for code, n in window["statuses"].items() if code != "200")
        return total

    def error_kinds(self) -> str:
        kinds: dict[str, int] = {}
        for out in self.outputs:
            kinds["unanswered"] = kinds.get("unanswered", 0) + out["unanswered"]
            for window in out["windows"]:
                kinds["connection errors"] = (
                    kinds.get("connection errors", 0) + window["connection_errors"]
                )
                for code, n in window["statuses"].items():
                    if code != "200":
                        kinds[f"status {code}"] = kinds.get(f"status {code}", 0) + n
        return ", ".join(f"{name}: {n}" for name, n in kinds.items() if n)

    def sustained(self) -> tuple[bool, str]:
        """Whether the platform kept up, and why not."""
        rate = self.acked_rate()
        if self.errors():
            return False, f"{self.errors()} errors ({self.error_kinds()})"
        if self.rate is not None:
            offered = self.rate * self.readings_per_request
            if rate < _SUSTAINED_ACKED * offered:
                return False, f"acknowledged {rate:,.0f} of {offered:,.0f} readings/s offered"
            waiting = self.waiting()
            if waiting > max(10.0, self.rate * _MAX_QUEUE_S):
                return False, f"{waiting:,} requests queued in the load generator: gateways behind"
        slope = self.slope()
        if slope > max(_SUSTAINED_SLOPE * rate, 1000.0):
            return False, f"backlog grew {slope:,.0f} readings/s"
        return True, f"backlog slope {slope:,.0f} readings/s"

    def waiting(self) -> int:
        """The most requests due and not yet sent, for want of a free connection."""
        return sum(max(out["max_waiting"], out["never_sent"]) for out in self.outputs)

    def all_acked(self) -> int:
        return sum(out["acked_readings"] for out in self.outputs)


class _Probe(threading.Thread):
    """Posts one reading with a unique, increasing value every _PROBE_PERIOD_S and polls the
    device document meanwhile: a probe is queryable once the document shows its value or a
    later one (the latest reading only moves forward). Samples are (due time, acknowledgement
    latency, ack→queryable lag or None when it never showed)."""

    counter = 0

    def __init__(
        self, fleet: ingest_fleet.Fleet, gateway: int, query: int, span: tuple[float, float]
    ) -> None:
        super().__init__(daemon=True)
        self.fleet = fleet
        self.gateway = gateway
        self.query = query
        self.span = span
        self.samples: list[tuple[float, float, float | None]] = []
        self.acked = 0
        self.failures = 0
        self.headers = {
            "Authorization": f"Bearer {fleet.probe_token}",
            "Content-Type": "application/json",
        }
        self.path = f"/v0/devices/{fleet.probe_id}"
        self.post = http.client.HTTPConnection("127.0.0.1", gateway, timeout=30)
        self.get = http.client.HTTPConnection("127.0.0.1", query, timeout=30)
        self.last_us = 0

    def run(self) -> None:
        # (due, value, acknowledged at, acknowledgement latency), oldest first
        outstanding: list[tuple[float, float, float, float]] = []
        due = self.span[0]
        _sleep_until(due)
        while due < self.span[1] or outstanding:
            if due < self.span[1] and time.time() >= due:
                posted = self._post()
                if posted is not None:
                    outstanding.append((due, *posted))
                due += _PROBE_PERIOD_S
            if outstanding:
                shown = self._shown()
                now = time.perf_counter()
                while outstanding and (
                    (shown is not None and outstanding[0][1] <= shown)
                    or now - outstanding[0][2] > _PROBE_TIMEOUT_S
                ):
                    first_due, value, acked, latency = outstanding.pop(0)
                    visible = shown is not None and value <= shown
                    self.samples.append((first_due, latency, now - acked if visible else None))
                oldest = now - outstanding[0][2] if outstanding else 1.0
                pause = 0.005 if oldest < 0.1 else 0.02
            else:
                pause = max(0.0, due - time.time())
            if due < self.span[1]:
                pause = min(pause, max(0.0, due - time.time()))
            time.sleep(pause)

    def _post(self) -> tuple[float, float, float] | None:
        """Post the next probe reading: (value, acknowledged at, latency), None if refused."""
        _Probe.counter += 1
        value = 100_000.0 + _Probe.counter
        self.last_us = max(time.time_ns() // 1000, self.last_us + 1000)
        stamp = datetime.fromtimestamp(self.last_us / 1e6, UTC).isoformat()
        reading = {"id": ingest_fleet.PROBE_SENSOR, "value": value}
        body = orjson.dumps({"data": [{"recorded_at": stamp, "sensors": [reading]}]})
        started = time.perf_counter()
        try:
            self.post.request("POST", f"{self.path}/readings", body=body, headers=self.headers)
            answer = self.post.getresponse()
            answer.read()
        except (OSError, http.client.HTTPException):
            self.failures += 1
            self.post.close()
            return None
        acked = time.perf_counter()
        if answer.status != 200:
            self.failures += 1
            return None
        self.acked += 1
        return value, acked, acked - started

    def _shown(self) -> float | None:
        """The probe sensor's latest value in the device document."""
        try:
            self.get.request("GET", self.path)
            document = orjson.loads(self.get.getresponse().read())
        except (OSError, http.client.HTTPException, orjson.JSONDecodeError):
            self.get.close()
            return None
        for sensor in document.get("data", {}).get("sensors", []):
            if sensor.get("id") == ingest_fleet.PROBE_SENSOR:
                value = sensor.get("value")
                return float(value) if isinstance(value, int | float) else None
        return None


def _sleep_until(moment: float) -> None:
    delay = moment - time.time()
    if delay > 0:
        time.sleep(delay)


class Bench:
    """The running ingest benchmark: the fleet, the processes, and every step so far."""

    def __init__(
        self,
        fleet: ingest_fleet.Fleet,
        platform: ingest_services.Platform,
        postgres: ingest_services.Postgres | None,
        settings: IngestSettings,
    ) -> None:
        self.fleet = fleet
        self.platform = platform
        self.postgres = postgres
        self.settings = settings
        self.conn = psycopg.connect(fleet.dsn, autocommit=True)
        self.streams = 0  # each step posts on a grid of its own
        self.acked = 0  # readings acknowledged over every step, probes included
        self.unanswered = 0
        self.loadgen_rss: float = 0.0

    def close(self) -> None:
        self.conn.close()

    def backlog(self) -> int:
        row = self.conn.execute(
            "SELECT coalesce(sum(n_readings), 0)::bigint FROM ingest_batches"
        ).fetchone()
        return int(row[0]) if row else 0

    def drain(self, *, below: int = 0) -> None:
        """Wait until the staging backlog is at most `below` readings."""
        deadline = time.monotonic() + self.settings.drain_timeout_s
        while self.backlog() > below:
            self.platform.check()
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not empty the staging table in time")
            time.sleep(0.2)

    def cpu(self, loadgens: list[int]) -> dict[str, float]:
        figures = {
            "gateways": ingest_services.cpu_seconds(
                [pid for p in self.platform.gateways for pid in ingest_services.tree(p.popen.pid)]
            ),
            "workers": ingest_services.cpu_seconds(
                [pid for p in self.platform.workers for pid in ingest_services.tree(p.popen.pid)]
            ),
            "query": ingest_services.cpu_seconds(
                ingest_services.tree(self.platform.query.popen.pid)
            ),
            "load generator": ingest_services.cpu_seconds(loadgens),
            "at": time.time(),
        }
        if self.postgres is not None:
            figures["postgresql"] = self.postgres.cpu()
            clients = {
                "postgresql for gateways": [p.popen.pid for p in self.platform.gateways],
                "postgresql for workers": [p.popen.pid for p in self.platform.workers],
            }
            figures.update(self.postgres.cpu_by_client(clients))
            figures.update(self.postgres.wal())
        return figures

    def step(
        self,
        per_request: int,
        *,
        mode: str,
        rate: float | None,
        windows: int,
        window_s: float,
        probe: bool = False,
    ) -> Step:
        """Run the load generator(s) once: warm-up, then `windows` windows of `window_s`."""
        s = self.settings
        self.streams += 1
        startup_s = 1.5
        start = time.time() + startup_s
        first = start + s.warmup_s
        spans = [(first + i * window_s, first + (i + 1) * window_s) for i in range(windows)]
        devices = [(i + 1, token) for i, token in enumerate(self.fleet.tokens)]
        clients = []
        with tempfile.TemporaryDirectory(prefix="sensorium-ingest-") as folder:
            for c in range(s.clients):
                job = {
                    "host": "127.0.0.1",
                    "port": self.platform.gateway_port,
                    "devices": devices[c :: s.clients],
                    "per_request": per_request,
                    "base_us": ingest_fleet.base_us(self.streams) + c,
                    "spacing_us": ingest_fleet.SPACING_US,
                    "mode": mode,
                    "rate": None if rate is None else rate / s.clients,
                    "connections": max(1, s.connections // s.clients),
                    "start": start,
                    "windows": spans,
                }
                path = os.path.join(folder, f"job-{c}.json")
                with open(path, "w") as job_file:
                    json.dump(job, job_file)
                clients.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "benchmarks.ingest_loadgen", path, path + ".out"],
                        cwd=harness.ROOT,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                    )
                )
            prober = None
            if probe:
                span = (spans[0][0], spans[-1][1])
                prober = _Probe(
                    self.fleet, self.platform.gateway_port, self.platform.query.port, span
                )
                prober.start()
            try:
                backlog, cpu = self._sample(spans, [c.pid for c in clients])
                errors = [c.communicate(timeout=120)[1] for c in clients]
            finally:
                for client in clients:
                    if client.poll() is None:
                        client.kill()
                        client.wait()
            if prober is not None:
                prober.join(_PROBE_TIMEOUT_S + 5)
            results = []
            for c, (client, error) in enumerate(zip(clients, errors, strict=True)):
                saved = os.path.join(folder, f"job-{c}.json.out")
                text = error.decode(errors="replace")[-2000:]
                if not os.path.exists(saved):
                    raise RuntimeError(
                        f"the ingest load generator failed ({client.returncode}): {text}"
                    )
                if client.returncode != 0:
                    logger.warning(
                        "the ingest load generator exited with %s after saving its result: %s",
                        client.returncode,
                        text,
                    )
                with open(saved) as result_file:
                    results.append(json.load(result_file))
        result = Step(mode, per_request, rate, spans, results, backlog, cpu)
        if prober is not None:
            result.probes = prober.samples
            result.probe_failures = prober.failures
            self.acked += prober.acked
        self.acked += result.all_acked()
        self.unanswered += sum(out["unanswered"] for out in results)
        self.loadgen_rss = max([self.loadgen_rss, *(out["peak_rss_mib"] for out in results)])
        self.platform.check()
        return result

    def _sample(
        self, spans: list[tuple[float, float]], loadgens: list[int]
    ) -> tuple[list[tuple[float, int]], list[dict[str, float]]]:
        """The backlog every 0.5 s (and at each window boundary) and CPU at the boundaries."""
        boundaries = [spans[0][0], *(stop for _, stop in spans)]
        moments = sorted({*boundaries, *np.arange(spans[0][0] - 1.0, spans[-1][1], 0.5).tolist()})
        backlog: list[tuple[float, int]] = []
        cpu: list[dict[str, float]] = []
        for moment in moments:
            _sleep_until(moment)
            if moment in boundaries:
                loadgen_pids = [pid for pid in loadgens if os.path.exists(f"/proc/{pid}")]
                cpu.append(self.cpu(loadgen_pids))
            backlog.append((time.time(), self.backlog()))
        return backlog, cpu


# Finding the highest sustained rate ---------------------------------------------------------


def sustained_runs(bench: Bench, per_request: int, deadline: float) -> tuple[Step, list[str]]:
    """The final run at the highest sustained rate found, and how it was found.

    A closed-loop run saturates everything: the gateways acknowledge more than the workers
    store and the backlog grows. Open-loop screening runs start at the rate the workers stored
    then and go 20 % higher while the platform holds; when one does not hold, the next is lower
    (95 % of what it kept up with, stored when the backlog grew, acknowledged when the gateways
    fell behind) until one holds. Once a rate that held and a higher one that did not are both
    known, the screens try the rate between them while they are more than 5 % apart. Screening
    stops after `screens` runs, or before a screen that would leave too little time before
    `deadline` (time.monotonic()) for the final run. The final run is at the highest rate that
    held, and is repeated lower the same way if it does not hold over its whole length, while
    time is left.
    """
    s = bench.settings
    story = []
    saturation = bench.step(
        per_request, mode="closed", rate=None, windows=1, window_s=s.saturation_s
    )
    acked, stored = saturation.acked_rate(), saturation.stored_rate()
    story.append(
        f"closed loop, {s.connections} connections: {acked:,.0f} readings/s acknowledged, "
        f"{stored:,.0f} stored"
    )
    bench.drain(below=_small_backlog(per_request))
    readings = per_request * len(ingest_fleet.SENSOR_IDS)
    final_s = s.windows * s.window_s + s.warmup_s + 5.0
    screen_s = s.screen_s + s.warmup_s + 5.0
    best: float | None = None  # the highest rate that held
    failed: float | None = None  # the lowest rate above `best` that did not
    rate = max(min(acked, stored), 1000.0) / readings
    for screen in range(s.screens):
        if screen > 0 and time.monotonic() + screen_s + final_s > deadline:
            break
        step = bench.step(per_request, mode="open", rate=rate, windows=1, window_s=s.screen_s)
        ok, why = step.sustained()
        story.append(f"{rate * readings:,.0f}/s for {s.screen_s:.0f} s: {'held' if ok else why}")
        bench.drain(below=_small_backlog(per_request))
        if ok:
            best = rate if best is None else max(best, rate)
        elif failed is None or rate < failed:
            failed = rate
        if best is not None and failed is not None and failed > best:
            if failed <= best * _BRACKET:
                break
            rate = math.sqrt(best * failed)
        elif ok:
            rate *= 1.20
        else:
            rate = _lower(step, rate)
    chosen = best if best is not None else rate
    final = None
    for attempt in range(s.retries + 1):
        final = bench.step(
            per_request,
            mode="open",
            rate=chosen,
            windows=s.windows,
            window_s=s.window_s,
            probe=True,
        )
        ok, why = final.sustained()
        story.append(
            f"final {chosen * readings:,.0f}/s for {s.windows * s.window_s:.0f} s: "
            f"{'held' if ok else 'did not hold'} ({why})"
        )
        bench.drain(below=_small_backlog(per_request))
        if ok or attempt == s.retries or time.monotonic() + final_s > deadline:
            break
        chosen = _lower(final, chosen)
    assert final is not None
    return final, story


def _lower(step: Step, rate: float) -> float:
    """A lower request rate to try after `step` at `rate` did not hold."""
    kept = min(step.acked_rate(), step.stored_rate()) / step.readings_per_request
    return min(0.95 * kept, 0.9 * rate) if kept > 0 else 0.5 * rate


def _small_backlog(per_request: int) -> int:
    return 2000 * per_request  # a claim or two


# Results ----------------------------------------------------------------------------------


def _runs(
    step: Step, latencies: list[np.ndarray[Any, Any]], operations: list[int]
) -> list[harness.Run]:
    runs = []
    for i, (start, stop) in enumerate(step.windows):
        window_s = stop - start
        statuses: dict[str, int] = {}
        errors = 0
        client_cpu = 0.0
        for out in step.outputs:
            window = out["windows"][i]
            for code, n in window["statuses"].items():
                statuses[code] = statuses.get(code, 0) + n
            errors += window["connection_errors"]
            errors += sum(n for code, n in window["statuses"].items() if code != "200")
            client_cpu += window["cpu_s"]
        before, after = step.cpu[i], step.cpu[i + 1]
        span = after["at"] - before["at"]
        database = (
            (after["postgresql"] - before["postgresql"]) / span if "postgresql" in after else None
        )
        runs.append(
            harness.Run(
                operations=operations[i],
                window_s=window_s,
                p50_ms=harness.percentile_ms(latencies[i], 50),
                p99_ms=harness.percentile_ms(latencies[i], 99),
                errors=errors,
                statuses=statuses,
                body_bytes=0,
                client_cpu=client_cpu / window_s,
                server_cpu=(
                    after["gateways"] + after["workers"] - before["gateways"] - before["workers"]
                )
                / span,
                database_cpu=database,
            )
        )
    return runs


def _ack_latencies(step: Step) -> list[np.ndarray[Any, Any]]:
    return [
        np.concatenate(
            [
                ingest_loadgen.decode_latencies(out["windows"][i]["latencies"])
                for out in step.outputs
            ]
        )
        for i in range(len(step.windows))
    ]


def ingest_result(
    name: str, title: str, step: Step, target: harness.Target | None
) -> harness.Result:
    operations = [step.stored(i) for i in range(len(step.windows))]
    result = harness.Result(
        name=name,
        title=title,
        via=_via(step),
        unit="readings/s",
        runs=_runs(step, _ack_latencies(step), operations),
        answer={},
        target=target,
        ceiling=ceiling.NAME,
    )
    result.notes.append(
        "rate: readings stored (acknowledged minus the growth of the staging backlog); "
        "p50/p99: acknowledgement latency of a request, from when it was due; service CPU: "
        "gateways and workers; db CPU: the benchmark database's backends and the WAL writer, "
        "checkpointer and background writer"
    )
    return result


def search_result(name: str, title: str, final: Step, target: harness.Target) -> harness.Result:
    """The result of a search's final run. Its stored rate meets `target` only if the run held:
    a run whose backlog grew stored readings at a rate the platform could not keep."""
    result = ingest_result(name, title, final, target)
    held, why = final.sustained()
    if not held:
        result.unmet = f"its final run did not hold: {why}"
    return result


def lag_result(name: str, title: str, step: Step, target: harness.Target) -> harness.Result:
    """The probe's ack→queryable lag as a result of its own: its rate is probes per second."""
    per_window: list[np.ndarray[Any, Any]] = []
    counts = []
    for start, stop in step.windows:
        lags = [lag for due, _, lag in step.probes if start <= due < stop and lag is not None]
        per_window.append(np.asarray(lags, dtype=np.float64))
        counts.append(len(lags))
    runs = _runs(step, per_window, counts)
    missing = sum(1 for _, _, lag in step.probes if lag is None) + step.probe_failures
    result = harness.Result(
        name=name,
        title=title,
        via=_via(step),
        unit="probes/s",
        # CPU belongs to the run's readings, given in the row of the same run; per probe it
        # would mean nothing.
        runs=[
            dataclasses.replace(
                run, errors=0, statuses={}, client_cpu=0.0, server_cpu=0.0, database_cpu=None
            )
            for run in runs
        ],
        answer={},
        target=target,
        ceiling=None,
    )
    result.notes.append(
        "p50/p99: from a probe reading's acknowledgement until GET /v0/devices/:id shows its "
        f"value, polled every 5-20 ms; CPU is in the row of the same run; {missing} probes "
        "refused or never shown within "
        f"{_PROBE_TIMEOUT_S:.0f} s"
    )
    if missing:
        result.runs[-1] = dataclasses.replace(result.runs[-1], errors=missing)
    return result


def _via(step: Step) -> str:
    return "2 gateways + 2 workers"


def step_summary(step: Step, bench: Bench) -> dict[str, Any]:
    """The figures of a final run that the table has no column for."""
    start, stop = step.span
    acked, stored = step.acked_rate(), step.stored_rate()
    cpu = {}
    first, last = step.cpu[0], step.cpu[-1]
    acked_total = sum(step.acked(i) for i in range(len(step.windows)))
    stored_total = sum(step.stored(i) for i in range(len(step.windows)))
    for component in _COMPONENTS:
        if component in first and component in last:
            per = acked_total if "gateways" in component or "load" in component else stored_total
            cpu[component] = (last[component] - first[component]) / max(per, 1) * 1e6
    wal = {}
    for figure in ("wal_bytes", "wal_fpi"):
        if figure in first and figure in last:
            wal[figure] = (last[figure] - first[figure]) / max(stored_total, 1)
    lags = [lag for _, _, lag in step.probes if lag is not None]
    probe_acks = [ack for _, ack, _ in step.probes]
    ok, why = step.sustained()
    return {
        "mode": step.mode,
        "readings_per_request": step.readings_per_request,
        "offered_readings_per_s": None
        if step.rate is None
        else step.rate * step.readings_per_request,
        "acked_readings_per_s": acked,
        "stored_readings_per_s": stored,
        "backlog_start": step.backlog_at(start),
        "backlog_end": step.backlog_at(stop),
        "backlog_max": max(n for t, n in step.backlog if start <= t <= stop + 0.01),
        "backlog_slope_per_s": step.slope(),
        "sustained": ok,
        "sustained_why": why,
        "ack_p50_ms": harness.percentile_ms(np.concatenate(_ack_latencies(step)), 50),
        "ack_p99_ms": harness.percentile_ms(np.concatenate(_ack_latencies(step)), 99),
        "lag_p50_ms": harness.percentile_ms(np.asarray(lags), 50),
        "lag_p99_ms": harness.percentile_ms(np.asarray(lags), 99),
        "probes": len(step.probes),
        "probe_ack_p50_ms": harness.percentile_ms(np.asarray(probe_acks), 50),
        "cpu_s_per_million": cpu,
        # The whole cluster's WAL over the windows, per reading stored: bytes, and full-page
        # images (written after each checkpoint, as a page's first change)
        "wal_bytes_per_reading": wal.get("wal_bytes"),
        "wal_fpi_per_million": None if "wal_fpi" not in wal else wal["wal_fpi"] * 1e6,
        "errors": step.errors(),
        "max_waiting_requests": max(out["max_waiting"] for out in step.outputs),
    }


# The whole ingest part ----------------------------------------------------------------------


@dataclass
class Outcome:
    """The ingest part's results, for the report."""

    ceiling: harness.Result | None = None
    results: list[harness.Result] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def measure(
    server_dsn: str,
    database: str,
    *,
    quick: bool,
    chosen: set[str],
    is_local: bool,
    sustain_s: float | None = None,
) -> Outcome:
    """Make the fleet, time the ceiling and the chosen end-to-end workloads, check nothing was
    lost, and drop the database. `sustain_s` makes the final runs that long (in windows of
    `window_s`) instead of 30 s, with time for each of their retries: a long run at the highest
    rate that held for seconds often does not hold for minutes."""
    settings = QUICK if quick else DEFAULT
    if sustain_s:
        windows = max(1, math.ceil(sustain_s / settings.window_s))
        longer = (windows - settings.windows) * settings.window_s
        settings = dataclasses.replace(
            settings,
            windows=windows,
            budget_s=settings.budget_s + (1 + settings.retries) * longer,
        )
    outcome = Outcome()
    with ingest_fleet.exclusive(server_dsn, database):
        logger.info("making the ingest fleet: %d devices in %s", settings.devices, database)
        fleet = ingest_fleet.make(server_dsn, database, settings.devices)
        try:
            postgres = ingest_services.Postgres(fleet.dsn, database) if is_local else None
            logger.info("timing %s", ceiling.NAME)
            outcome.ceiling, ceiling_wal = ceiling.measure(
                fleet,
                postgres,
                warmup_s=settings.ceiling_warmup_s,
                duration_s=settings.ceiling_s,
                repeats=settings.ceiling_repeats,
            )
            top = outcome.ceiling.summary()["rate"].median
            variants = [v for v in (10, 50) if f"ingest_{v * 10}" in chosen]
            if variants:
                _end_to_end(fleet, postgres, settings, variants, chosen, top, outcome)
                outcome.extra["ceiling_wal"] = ceiling_wal
        finally:
            ingest_fleet.drop(server_dsn, database)
    return outcome


def _end_to_end(
    fleet: ingest_fleet.Fleet,
    postgres: ingest_services.Postgres | None,
    settings: IngestSettings,
    variants: list[int],
    chosen: set[str],
    top: float,
    outcome: Outcome,
) -> None:
    deadline = time.monotonic() + settings.budget_s
    platform = ingest_services.start(
        fleet.dsn, gateways=settings.gateways, workers=settings.workers
    )
    bench = Bench(fleet, platform, postgres, settings)
    runs: dict[str, Any] = {}
    try:
        for per_request in variants:
            readings = per_request * len(ingest_fleet.SENSOR_IDS)
            name = f"ingest_{readings}"
            logger.info("timing %s: looking for the highest sustained rate", name)
            final, story = sustained_runs(bench, per_request, deadline)
            target = harness.Target(
                "rate",
                TARGET_SHARE * top,
                True,
                f"≥ {TARGET_SHARE:.0%} of ceiling ({TARGET_SHARE * top:,.0f}/s)",
            )
            result = search_result(
                name,
                f"ingest, {per_request}x10 readings per request, highest sustained rate",
                final,
                target,
            )
            result.notes.extend(story)
            outcome.results.append(result)
            runs[name] = step_summary(final, bench)
            runs[name]["search"] = story
            if per_request == 10 and "ingest_100_half" in chosen:
                # Half the final run's rate, or of what it kept up with when it did not hold.
                offered = final.rate or 1.0
                kept = min(final.acked_rate(), final.stored_rate()) / final.readings_per_request
                half = (offered if final.sustained()[0] else min(offered, kept)) / 2
                logger.info("timing ingest_100_half at %.0f requests/s", half)
                step = bench.step(
                    per_request,
                    mode="open",
                    rate=half,
                    windows=settings.windows,
                    window_s=settings.window_s,
                    probe=True,
                )
                bench.drain(below=_small_backlog(per_request))
                outcome.results.append(
                    ingest_result(
                        "ingest_100_half",
                        "ingest, 10x10 per request, half the highest sustained rate",
                        step,
                        harness.Target("p99_ms", 50.0, False, "ack p99 ≤ 50 ms"),
                    )
                )
                outcome.results.append(
                    lag_result(
                        "ingest_100_half_lag",
                        "ack→queryable lag, half the highest sustained rate",
                        step,
                        harness.Target("p99_ms", 1000.0, False, "p99 ≤ 1 s"),
                    )
                )
                runs["ingest_100_half"] = step_summary(step, bench)
        peaks = _peaks(platform, postgres, bench)
        lost, stored_total = _settle(bench)
    finally:
        bench.close()
        platform.stop()
    outcome.extra = {
        "layout": {
            "gateways": settings.gateways,
            "workers": settings.workers,
            "load_generators": settings.clients,
            "connections": settings.connections,
            "devices": fleet.devices,
            "via": "gateways sharing one port (INGEST_REUSE_PORT), no nginx",
        },
        "runs": runs,
        "peak_rss_mib": peaks,
        "acknowledged": bench.acked,
        "stored": stored_total,
        "lost": lost,
        "unanswered": bench.unanswered,
    }
    if lost and outcome.results:
        last = outcome.results[-1]
        last.runs[-1] = dataclasses.replace(last.runs[-1], errors=last.runs[-1].errors + abs(lost))
        last.notes.append(f"{lost} acknowledged readings were not stored")


def _peaks(
    platform: ingest_services.Platform,
    postgres: ingest_services.Postgres | None,
    bench: Bench,
) -> dict[str, float | None]:
    peaks: dict[str, float | None] = {
        process.name.removeprefix("ingest-"): ingest_services.peak_rss_mib(process.popen.pid)
        for process in platform.all()
    }
    peaks["load generator"] = bench.loadgen_rss
    if postgres is not None:
        peaks["postgresql backend (largest)"] = postgres.peak_backend_rss_mib()
    return peaks


def _settle(bench: Bench) -> tuple[int, int]:
    """Stop the gateways, let the workers empty staging, and compare what was stored with what
    was acknowledged: (acknowledged but not stored, stored)."""
    bench.platform.stop_gateways()
    bench.drain()
    row = bench.conn.execute("SELECT count(*) FROM readings").fetchone()
    stored = int(row[0]) if row else 0
    dead = bench.conn.execute("SELECT count(*) FROM dead_letters").fetchone()
    if dead and dead[0]:
        logger.warning("%d batches went to dead_letters", dead[0])
    # A request sent but never answered may have been staged: it can only add readings.
    return max(0, bench.acked - stored), stored


def add_to(
    report: harness.Report,
    server_dsn: str,
    database: str,
    *,
    quick: bool,
    only: set[str],
    is_local: bool,
    sustain_s: float | None = None,
) -> None:
    """Measure the ingest workloads `only` selects (all when empty) in a database of their own
    named after the benchmark database, and add them to `report` (`extra["ingest"]`)."""
    chosen = selected(only)
    if not chosen:
        return
    try:
        outcome = measure(
            server_dsn,
            f"{database}_ingest",
            quick=quick,
            chosen=chosen,
            is_local=is_local,
            sustain_s=sustain_s,
        )
    except Exception as exc:  # reported with the query workloads' results, not lost with them
        logger.exception("the ingest workloads failed")
        report.failures.append({"workload": "ingest", "via": "gateways", "error": str(exc)})
        return
    if outcome.ceiling is not None:
        report.ceilings[outcome.ceiling.name] = outcome.ceiling
    report.results.extend(outcome.results)
    report.extra["ingest"] = outcome.extra


def text(extra: dict[str, Any]) -> str:
    """The ingest figures the main table has no columns for."""
    if not extra or "runs" not in extra:
        return ""
    layout = extra["layout"]
    lines = [
        "",
        "",
        f"Ingest: {layout['devices']:,} devices over {layout['connections']} keep-alive "
        f"connections from {layout['load_generators']} load-generator process(es) to "
        f"{layout['gateways']} gateways sharing one port (INGEST_REUSE_PORT, no nginx) and "
        f"{layout['workers']} workers; rate limits off.",
        "",
        "| run | offered/s | acked/s | stored/s | backlog start → end (max) | ack p50/p99 ms "
        "| ack→queryable p50/p99 ms | CPU s per M readings: gateways / workers / PostgreSQL "
        "(for gateways + for workers) / load gen | WAL bytes per reading (full-page images per "
        "M readings) | sustained |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in extra["runs"].items():
        cpu = run["cpu_s_per_million"]
        offered = run["offered_readings_per_s"]
        lines.append(
            f"| {name} | {'closed' if offered is None else f'{offered:,.0f}'} "
            f"| {run['acked_readings_per_s']:,.0f} | {run['stored_readings_per_s']:,.0f} "
            f"| {run['backlog_start']:,} → {run['backlog_end']:,} ({run['backlog_max']:,}) "
            f"| {run['ack_p50_ms']:.1f} / {run['ack_p99_ms']:.1f} "
            f"| {run['lag_p50_ms']:.0f} / {run['lag_p99_ms']:.0f} "
            f"| {_cpu(cpu, 'gateways')} / {_cpu(cpu, 'workers')} / {_cpu(cpu, 'postgresql')} "
            f"({_cpu(cpu, 'postgresql for gateways')} + {_cpu(cpu, 'postgresql for workers')}) / "
            f"{_cpu(cpu, 'load generator')} | {_wal(run)} "
            f"| {'yes' if run['sustained'] else 'no'}: {run['sustained_why']} |"
        )
    peaks = ", ".join(
        f"{name} {size:,.0f}" for name, size in extra["peak_rss_mib"].items() if size is not None
    )
    if extra.get("ceiling_wal"):
        lines.append(f"| ceiling (COPY) | | | | | | | | {_wal(extra['ceiling_wal'])} | |")
    lines += [
        "",
        f"Peak RSS (MiB): {peaks}.",
        f"Acknowledged {extra['acknowledged']:,} readings, stored {extra['stored']:,}, "
        f"lost {extra['lost']:,} ({extra['unanswered']} requests left unanswered).",
    ]
    for name, run in extra["runs"].items():
        if run.get("search"):
            lines.append(f"- {name}: " + "; ".join(run["search"]) + ".")
    return "\n".join(lines)


def _cpu(cpu: dict[str, float], name: str) -> str:
    return f"{cpu[name]:.1f}" if name in cpu else "-"


def _wal(run: dict[str, Any]) -> str:
    if run.get("wal_bytes_per_reading") is None:
        return "-"
    return f"{run['wal_bytes_per_reading']:.0f} ({run['wal_fpi_per_million']:,.0f})"
