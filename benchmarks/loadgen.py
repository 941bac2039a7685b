"""A small HTTP/1.1 load generator, run as its own process: `python -m benchmarks.loadgen`.

It reads a job (a JSON file named on the command line: where to connect, the requests to cycle
through, how many keep-alive connections, and the wall-clock windows to measure, back to back
after a warm-up), runs each connection as a
callback-driven asyncio protocol on uvloop (the next request is written as soon as the previous
answer is complete, with no task or future per request), and writes one JSON line with, per
window, the latencies of the requests that completed inside it, their statuses and
body bytes, failed connections, and the CPU time this process spent in it. A callback per
request costs a few microseconds, so on a shared 2-core machine the server keeps most of a core.

With a `rate` (requests/s for the whole job) the load is an open loop instead: each connection
sends its requests on a fixed schedule (`connections / rate` seconds apart, the connections'
schedules evenly staggered), and a request's latency is counted from when it was due, not from
when its connection was free to send it, so a server that falls behind cannot hide its queue.

Answers are delimited by Content-Length or chunked encoding (a 304 has no body); bodies are
counted, not kept.
"""

from __future__ import annotations

import asyncio
import base64
import json
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import uvloop

_ANSWER_TIMEOUT_S = 60.0


class _Window:
    """One measured window in perf_counter time, and what was seen inside it."""

    def __init__(self, start: float, stop: float) -> None:
        self.start = start
        self.stop = stop
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.body_bytes = 0
        self.connection_errors = 0
        self.reconnects = 0
        self.cpu = CpuSpan()

    def result(self) -> dict[str, Any]:
        latencies = np.asarray(self.latencies, dtype=np.float32)
        return {
            "latencies": base64.b64encode(latencies.tobytes()).decode(),
            "statuses": {str(code): n for code, n in self.statuses.items()},
            "body_bytes": self.body_bytes,
            "connection_errors": self.connection_errors,
            "reconnects": self.reconnects,
            "cpu_s": self.cpu.seconds(),
        }


class CpuSpan:
    """This process's CPU seconds between two moments of a window, sampled by loop callbacks.

    A timer may not have fired when the job ends (the connections stop at the window's end by
    perf_counter, the loop's timers run on its own clock), so `seconds` closes an open span
    with the time used so far, and a span never opened used none."""

    def __init__(self) -> None:
        self.at_start: float | None = None
        self.at_stop: float | None = None

    def schedule(self, loop: asyncio.AbstractEventLoop, start: float, stop: float) -> None:
        """Sample at `start` and `stop` (perf_counter times)."""
        loop.call_later(max(0.0, start - time.perf_counter()), self._start)
        loop.call_later(max(0.0, stop - time.perf_counter()), self._stop)

    def _start(self) -> None:
        self.at_start = _cpu_seconds()

    def _stop(self) -> None:
        if self.at_start is not None:
            self.at_stop = _cpu_seconds()

    def seconds(self) -> float:
        if self.at_start is None:
            return 0.0
        return (self.at_stop if self.at_stop is not None else _cpu_seconds()) - self.at_start


class _Windows:
    """The windows of a job, back to back after a warm-up; requests outside them are not kept."""

    def __init__(self, windows: list[_Window]) -> None:
        self.windows = windows
        self.end = windows[-1].stop

    def record(self, sent_at: float, now: float, status: int, body_size: int) -> None:
        """Count an answer in the window it completed in (the rate is completions a second),
        with its whole latency, even if it was sent before the window opened."""
        for window in self.windows:
            if window.start <= now <= window.stop:
                window.latencies.append(now - sent_at)
                window.statuses[status] += 1
                window.body_bytes += body_size
                return

    def connection_error(self, now: float) -> None:
        for window in self.windows:
            if window.start <= now <= window.stop:
                window.connection_errors += 1

    def reconnected(self, now: float) -> None:
        for window in self.windows:
            if window.start <= now <= window.stop:
                window.reconnects += 1


class _Schedule:
    """When one connection's requests are due, in perf_counter time, for an open loop."""

    def __init__(self, first: float, interval: float) -> None:
        self.due = first
        self.interval = interval

    def take(self) -> float:
        """The due time of the request being sent now; the next one is due an interval later."""
        due = self.due
        self.due += self.interval
        return due


class _Client(asyncio.Protocol):
    """One keep-alive connection sending `requests` in turn until the window closes."""

    def __init__(
        self, requests: list[bytes], offset: int, windows: _Windows, schedule: _Schedule | None
    ) -> None:
        self.requests = requests
        self.schedule = schedule
        self.index = offset
        self.windows = windows
        # How the connection ended: "finished" (the windows are over), "closed" (the server
        # said `Connection: close` with an answer, as nginx does after keepalive_requests), or
        # "lost" (closed with an answer outstanding).
        self.done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.closing = False
        self.transport: asyncio.Transport | None = None
        self.head = bytearray()
        self.body_left = 0
        self.body_size = 0
        self.chunked = False
        self.status = 0
        self.sent_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are asyncio.Transport in all but their class.
        self.transport = cast(asyncio.Transport, transport)
        self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result("lost")

    def _send(self) -> None:
        assert self.transport is not None
        request = self.requests[self.index % len(self.requests)]
        self.index += 1
        if self.schedule is None:
            self.sent_at = time.perf_counter()
        else:
            self.sent_at = self.schedule.take()
        self.transport.write(request)

    def _next(self) -> None:
        """Send the next request now, or when the schedule says it is due."""
        if self.schedule is not None:
            wait = self.schedule.due - time.perf_counter()
            if wait > 0:
                asyncio.get_running_loop().call_later(wait, self._send)
                return
        self._send()

    def data_received(self, data: bytes) -> None:
        while data:
            if self.body_left:
                take = min(self.body_left, len(data))
                self.body_left -= take
                data = data[take:]
                if not self.body_left and not self.chunked:
                    self._finish()
                continue
            self.head += data
            data = b""
            if self.chunked:
                end = self.head.find(b"\r\n")
                if end < 0:
                    return
                size = int(bytes(self.head[:end]).split(b";")[0], 16)
                data = bytes(self.head[end + 2 :])
                self.head.clear()
                self.body_size += size
                if size == 0:
                    self.chunked = False  # then the CRLF that ends the body (no trailers)
                self.body_left = size + 2
                continue
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.head[:end]).lower()
            data = bytes(self.head[end + 4 :])
            self.head.clear()
            if self._start_body(head):
                self._finish()

    def _start_body(self, head: bytes) -> bool:
        """Read an answer's status and how its body is delimited; True if it has no body."""
        self.status = int(head[9:12])
        self.body_size = 0
        self.closing = b"\r\nconnection: close" in head
        if self.status in (204, 304) or self.status < 200:
            return True
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            end = head.find(b"\r\n", at + 2)
            self.body_left = self.body_size = int(head[at + 17 : end if end >= 0 else None])
            return self.body_left == 0
        if b"\r\ntransfer-encoding: chunked" in head:
            self.chunked = True
            return False
        return True

    def _finish(self) -> None:
        now = time.perf_counter()
        self.windows.record(self.sent_at, now, self.status, self.body_size)
        if now < self.windows.end and not self.closing:
            self._next()
            return
        if not self.done.done():
            self.done.set_result("closed" if self.closing else "finished")
        assert self.transport is not None
        self.transport.close()


async def _connection(
    host: str,
    port: int,
    requests: list[bytes],
    offset: int,
    windows: _Windows,
    schedule: _Schedule | None,
) -> None:
    loop = asyncio.get_running_loop()
    while time.perf_counter() < windows.end:
        client = _Client(requests, offset, windows, schedule)
        try:
            await loop.create_connection(_factory(client), host, port)
        except OSError:
            windows.connection_error(time.perf_counter())
            await asyncio.sleep(0.05)
            continue
        # A request answered slower than this is lost, not waited for forever.
        timeout = max(0.0, windows.end - time.perf_counter()) + _ANSWER_TIMEOUT_S
        try:
            outcome = await asyncio.wait_for(asyncio.shield(client.done), timeout)
        except TimeoutError:
            outcome = "lost"
            if client.transport is not None:
                client.transport.abort()
        if outcome == "finished":
            return
        if outcome == "closed":
            windows.reconnected(time.perf_counter())
        else:
            windows.connection_error(time.perf_counter())
        offset = client.index


def _factory(client: _Client) -> Callable[[], _Client]:
    return lambda: client


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run(job: dict[str, Any]) -> list[dict[str, Any]]:
    """Run `job` (see the module docstring); one result per window."""
    # Windows are given in wall-clock time, so several client processes measure together.
    to_perf = time.perf_counter() - time.time()
    windows = _Windows([_Window(start + to_perf, stop + to_perf) for start, stop in job["windows"]])
    requests = [request.encode("latin-1") for request in job["requests"]]
    loop = asyncio.get_running_loop()
    for window in windows.windows:
        window.cpu.schedule(loop, window.start, window.stop)
    connections = int(job["connections"])
    stride = max(1, len(requests) // connections)
    schedules: list[_Schedule | None] = [None] * connections
    if job.get("rate"):
        interval = connections / float(job["rate"])
        now = time.perf_counter()
        schedules = [
            _Schedule(now + interval * i / connections, interval) for i in range(connections)
        ]
    await asyncio.gather(
        *(
            _connection(
                job["host"], job["port"], requests, i * stride + job["seed"], windows, schedules[i]
            )
            for i in range(connections)
        )
    )
    return [window.result() for window in windows.windows]


def decode_latencies(text: str) -> np.ndarray[Any, np.dtype[np.float32]]:
    """The latencies (seconds) of a result's `latencies` field."""
    return np.frombuffer(base64.b64decode(text), dtype=np.float32)


def main() -> None:
    """`python -m benchmarks.loadgen JOB RESULT`: run the job file, write the result file."""
    with open(sys.argv[1], "rb") as job_file:
        job = json.loads(job_file.read())
    results = uvloop.run(run(job))
    with open(sys.argv[2], "w") as result_file:
        json.dump(results, result_file)


if __name__ == "__main__":
    main()
