"""The ingest load generator, run as its own process:
`python -m benchmarks.ingest_loadgen JOB RESULT`.

It simulates devices posting SmartCitizen bodies over keep-alive HTTP/1.1 connections: request
`r` of this process belongs to its device `r % n`, as that device's `r // n`-th request, with
the timestamps of the grid in benchmarks/ingest_fleet.py, so no reading is ever posted twice.
Bodies are spliced from pre-encoded pieces (orjson-encoded `sensors` arrays, cached timestamp
strings), a few microseconds a request; each connection is a callback-driven asyncio protocol on
uvloop, with no task or future per request.

Two modes:
- `closed`: each connection sends its next request as soon as the previous is answered.
- `open`: requests are due at a fixed rate whether or not earlier ones were answered; a due
  request waits for a free connection if none is, and its latency is counted from when it was
  due, so a slow server cannot hide its queue (no coordinated omission).

The job (a JSON file) names the gateway, the devices and their tokens, the grid, the mode and
rate, the connections and the wall-clock windows. The result (a JSON file) has per window the
latencies of the requests due in it, their statuses, the readings and requests acknowledged
(200) in it, and this process's CPU seconds in it; and over the whole job the readings
acknowledged, the requests left unanswered (sent, no answer: perhaps staged) and never sent,
and the peak memory.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
import uvloop

from benchmarks import ingest_fleet, loadgen

_ENTRY_HEAD = b'{"recorded_at":"'
_ENTRY_MID = b'","sensors":'
_GRACE_S = 15.0  # after the last window, answers to requests still in flight are awaited


class _Window:
    def __init__(self, start: float, stop: float) -> None:
        self.start = start
        self.stop = stop
        self.latencies: list[float] = []
        self.statuses: collections.Counter[int] = collections.Counter()
        self.acked_readings = 0
        self.acked_requests = 0
        self.connection_errors = 0
        self.cpu = loadgen.CpuSpan()

    def result(self) -> dict[str, Any]:
        latencies = np.asarray(self.latencies, dtype=np.float32)
        return {
            "latencies": base64.b64encode(latencies.tobytes()).decode(),
            "statuses": {str(code): n for code, n in self.statuses.items()},
            "acked_readings": self.acked_readings,
            "acked_requests": self.acked_requests,
            "connection_errors": self.connection_errors,
            "cpu_s": self.cpu.seconds(),
        }


class _Bodies:
    """Request bytes of this process's devices, in turn."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.devices: list[tuple[int, str]] = [(int(d), str(t)) for d, t in job["devices"]]
        self.per_request = int(job["per_request"])
        self.base_s = int(job["base_us"]) // 1_000_000
        self.spacing_s = int(job["spacing_us"]) // 1_000_000
        self.blocks = ingest_fleet.sensor_blocks()
        host = f"127.0.0.1:{job['port']}"
        self.heads = [
            (
                f"POST /v0/devices/{device}/readings HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                "Content-Length: "
            ).encode()
            for device, token in self.devices
        ]
        self.stamps: list[bytes] = []
        self.readings = self.per_request * len(ingest_fleet.SENSOR_IDS)
        self.made = 0

    def _stamp(self, slot: int) -> bytes:
        while len(self.stamps) <= slot:
            moment = self.base_s + len(self.stamps) * self.spacing_s
            self.stamps.append(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment)).encode())
        return self.stamps[slot]

    def next(self) -> bytes:
        index, seq = divmod(self.made, len(self.devices))[::-1]
        self.made += 1
        first = seq * self.per_request
        blocks = self.blocks
        entries = [
            _ENTRY_HEAD
            + self._stamp(first + i)
            + _ENTRY_MID
            + blocks[(index + first + i) % len(blocks)]
            + b"}"
            for i in range(self.per_request)
        ]
        body = b'{"data":[' + b",".join(entries) + b"]}"
        return self.heads[index] + str(len(body)).encode() + b"\r\n\r\n" + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection; the generator hands it requests."""

    def __init__(self, generator: _Generator) -> None:
        self.generator = generator
        self.transport: asyncio.Transport | None = None
        self.head = bytearray()
        self.body_left = 0
        self.status = 0
        self.due = 0.0  # when the request in flight was due; 0.0 when idle
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.generator.idle(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.generator.lost(self)
        if not self.closed.done():
            self.closed.set_result(None)

    def send(self, due: float, request: bytes) -> None:
        assert self.transport is not None
        self.due = due
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        while data:
            if self.body_left:
                take = min(self.body_left, len(data))
                self.body_left -= take
                data = data[take:]
                if not self.body_left:
                    self._finish()
                continue
            self.head += data
            data = b""
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.head[:end]).lower()
            data = bytes(self.head[end + 4 :])
            self.head.clear()
            self.status = int(head[9:12])
            at = head.find(b"\r\ncontent-length:")
            if at < 0:
                raise RuntimeError("the gateway answered without Content-Length")
            stop = head.find(b"\r\n", at + 2)
            self.body_left = int(head[at + 17 : stop if stop >= 0 else None])
            if not self.body_left:
                self._finish()

    def _finish(self) -> None:
        due, self.due = self.due, 0.0
        self.generator.answered(self, due, self.status)


class _Generator:
    def __init__(self, job: dict[str, Any]) -> None:
        to_perf = time.perf_counter() - time.time()
        self.windows = [_Window(a + to_perf, b + to_perf) for a, b in job["windows"]]
        self.start = float(job["start"]) + to_perf
        self.end = self.windows[-1].stop
        self.open_loop = job["mode"] == "open"
        self.rate = float(job.get("rate") or 0.0)
        self.bodies = _Bodies(job)
        self.readings = self.bodies.readings
        self.free: collections.deque[_Connection] = collections.deque()
        self.waiting: collections.deque[float] = collections.deque()  # due times (open loop)
        self.issued = 0
        self.in_flight = 0
        self.acked_readings = 0
        self.acked_requests = 0
        self.unanswered = 0
        self.max_waiting = 0
        self.stopping = False

    # Scheduling ---------------------------------------------------------------------------

    def idle(self, connection: _Connection) -> None:
        now = time.perf_counter()
        if self.waiting:
            self._send(connection, self.waiting.popleft())
        elif not self.open_loop and self.start <= now < self.end and not self.stopping:
            self._send(connection, now)
        else:
            self.free.append(connection)

    def _send(self, connection: _Connection, due: float) -> None:
        self.in_flight += 1
        connection.send(due, self.bodies.next())

    def tick(self) -> None:
        """Open loop: issue the requests due by now."""
        now = time.perf_counter()
        if now >= self.end:
            return
        due_count = int((now - self.start) * self.rate) + 1
        while self.issued < due_count:
            due = self.start + self.issued / self.rate
            self.issued += 1
            if self.free:
                self._send(self.free.popleft(), due)
            else:
                self.waiting.append(due)
        self.max_waiting = max(self.max_waiting, len(self.waiting))

    def kick(self) -> None:
        """Closed loop: start every free connection at the start."""
        while self.free:
            self._send(self.free.popleft(), time.perf_counter())

    # Answers ------------------------------------------------------------------------------

    def answered(self, connection: _Connection, due: float, status: int) -> None:
        now = time.perf_counter()
        self.in_flight -= 1
        for window in self.windows:
            if window.start <= due < window.stop:
                window.latencies.append(now - due)
                window.statuses[status] += 1
                break
        if status == 200:
            self.acked_readings += self.readings
            self.acked_requests += 1
            for window in self.windows:
                if window.start <= now < window.stop:
                    window.acked_readings += self.readings
                    window.acked_requests += 1
                    break
        self.idle(connection)

    def lost(self, connection: _Connection) -> None:
        if connection in self.free:
            self.free.remove(connection)
        if connection.due:
            self.in_flight -= 1
            self.unanswered += 1  # sent, no answer: it may or may not have been staged
            connection.due = 0.0
        now = time.perf_counter()
        for window in self.windows:
            if window.start <= now < window.stop:
                window.connection_errors += 1


async def _keep_connected(host: str, port: int, generator: _Generator) -> None:
    loop = asyncio.get_running_loop()
    while not generator.stopping:
        try:
            _, connection = await loop.create_connection(lambda: _Connection(generator), host, port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        await connection.closed
        if not generator.stopping:
            await asyncio.sleep(0.01)


async def run(job: dict[str, Any]) -> dict[str, Any]:
    generator = _Generator(job)
    loop = asyncio.get_running_loop()
    for window in generator.windows:
        window.cpu.schedule(loop, window.start, window.stop)
    connectors = [
        asyncio.create_task(_keep_connected(job["host"], job["port"], generator))
        for _ in range(int(job["connections"]))
    ]
    await asyncio.sleep(max(0.0, generator.start - time.perf_counter()))
    if generator.open_loop:
        while time.perf_counter() < generator.end:
            generator.tick()
            await asyncio.sleep(0.001)
    else:
        generator.kick()
        await asyncio.sleep(max(0.0, generator.end - time.perf_counter()))
    generator.stopping = True
    never_sent = len(generator.waiting)
    generator.waiting.clear()
    deadline = time.perf_counter() + _GRACE_S
    while generator.in_flight > 0 and time.perf_counter() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    for connection in list(generator.free):
        if connection.transport is not None:
            connection.transport.close()
    unanswered_now = generator.in_flight
    for task in connectors:
        task.cancel()
    await asyncio.gather(*connectors, return_exceptions=True)
    return {
        "windows": [window.result() for window in generator.windows],
        "acked_readings": generator.acked_readings,
        "acked_requests": generator.acked_requests,
        "unanswered": generator.unanswered + unanswered_now,
        "never_sent": never_sent,
        "max_waiting": generator.max_waiting,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def decode_latencies(text: str) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.frombuffer(base64.b64decode(text), dtype=np.float32)


async def _run_and_save(job: dict[str, Any], path: Path) -> None:
    result = await run(job)
    # Written aside and renamed, so the driver never reads half a result; and before the event
    # loop is torn down, so nothing that happens then can lose it.
    aside = path.with_suffix(".partial")
    aside.write_text(json.dumps(result) + "\n")
    aside.rename(path)


def main() -> None:
    with open(sys.argv[1], "rb") as job_file:
        job = json.loads(job_file.read())
    uvloop.run(_run_and_save(job, Path(sys.argv[2])))


if __name__ == "__main__":
    main()
