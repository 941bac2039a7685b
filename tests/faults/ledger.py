"""The oracle of the fault tests: a load generator that writes down every reading it sends and
what became of it, and a check of that ledger against the database.

A reading's outcome is `ok` once a request carrying it was answered 2xx, `fail` when every
request carrying it was refused for good (a 4xx other than 429), and `unknown` when no answer
says either way (a timeout, a cut or refused connection, a 5xx other than 503, or a 503/429 that
was still being retried when the run ended). Like a device, the generator re-sends a batch whose
outcome is not definite, byte for byte, after the Retry-After the server asked for (capped, with
a little jitter) or after a short back-off. `Ledger.verify` then holds the platform to its
promise: every acknowledged reading is stored, none twice, an unknown one at most once, each
with the value that was sent.

The readings are those of SCK 2.1 kits (storage.demo): their sensors' calibrated values have no
equation, so the stored value is the value sent. Each device's readings are at distinct times
(a per-device counter of steps one second apart, each step one reading per sensor), so a
duplicate in the database can only be the platform's doing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import aiohttp
import asyncpg
import orjson

SENSORS = (10, 53, 55, 56, 58, 87, 88, 89, 112, 113)  # SCK 2.1: calibrated values, no equations
DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RANK = {"fail": 0, "unknown": 1, "ok": 2}  # what a reading sent several times ends up as


class Device(Protocol):
    """What the generator needs of a device (storage.demo.DemoDevice has it)."""

    @property
    def id(self) -> int: ...

    @property
    def token(self) -> str: ...


def micros(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Step:
    """One moment of one device: a reading of each of the first `len(values)` SENSORS."""

    device_id: int
    time_us: int
    values: tuple[float, ...]

    def entry(self) -> dict[str, object]:
        """The step as an entry of a readings body's `data` list."""
        moment = _EPOCH + timedelta(microseconds=self.time_us)
        sensors = [{"id": s, "value": v} for s, v in zip(SENSORS, self.values, strict=False)]
        return {"recorded_at": moment.isoformat(), "sensors": sensors}


@dataclass(frozen=True, slots=True)
class Batch:
    """The readings of one request: steps of one device, sent again unchanged when retried."""

    device_id: int
    steps: tuple[Step, ...]
    body: bytes

    @property
    def readings(self) -> int:
        return sum(len(step.values) for step in self.steps)


def batch_of(device_id: int, steps: Sequence[Step]) -> Batch:
    """A batch carrying `steps` (each of `device_id`), with its JSON body made once."""
    body = orjson.dumps({"data": [step.entry() for step in steps]})
    return Batch(device_id, tuple(steps), body)


@dataclass
class Verdict:
    """What the database holds, measured against the ledger."""

    sent: int  # distinct readings sent
    acknowledged: int  # distinct readings with an ok outcome
    stored: int  # rows in readings for the ledger's devices
    lost: int  # ok readings not stored
    duplicated: int  # (device, sensor, time) stored more than once
    mismatched: int  # stored value != calibrated sent value
    unexpected: int  # stored rows never sent (or sent only in requests refused for good)
    examples: list[str] = field(default_factory=list)  # a few of the problems, for the message

    def assert_clean(self) -> None:
        """Raise AssertionError, saying what is wrong, unless nothing was lost, duplicated,
        changed or invented."""
        problems = {
            "lost": self.lost,
            "duplicated": self.duplicated,
            "mismatched": self.mismatched,
            "unexpected": self.unexpected,
        }
        bad = {name: count for name, count in problems.items() if count}
        if bad:
            raise AssertionError(
                f"the database breaks the ledger: {bad} ({self.sent} readings sent, "
                f"{self.acknowledged} acknowledged, {self.stored} stored); for example: "
                + "; ".join(self.examples)
            )


class Ledger:
    """Every reading sent, by step, with the best outcome any request carrying it had."""

    def __init__(self) -> None:
        self.outcomes: collections.Counter[str] = collections.Counter()
        self._steps: dict[tuple[int, int], Step] = {}
        self._outcome: dict[tuple[int, int], str] = {}
        self._next_step: dict[int, int] = collections.defaultdict(int)

    @property
    def device_ids(self) -> list[int]:
        return sorted({device_id for device_id, _ in self._steps})

    def new_steps(
        self, device_id: int, count: int, *, start: datetime = DEFAULT_START, readings: int = 0
    ) -> list[Step]:
        """`count` steps of `device_id` at times no step of it used before, one second apart
        from `start`; the last has only `readings % len(SENSORS)` readings when that is not 0."""
        steps = []
        origin = micros(start)
        for n in range(count):
            while True:
                index = self._next_step[device_id]
                self._next_step[device_id] += 1
                time_us = origin + index * 1_000_000
                if (device_id, time_us) not in self._steps:
                    break
            width = len(SENSORS)
            if n == count - 1 and readings % width:
                width = readings % width
            # Distinct values, exact in JSON and in double precision.
            values = tuple(float(index) + (i + 1) / 64 for i in range(width))
            step = Step(device_id, time_us, values)
            self._steps[device_id, time_us] = step
            steps.append(step)
        return steps

    def new_batch(self, device_id: int, readings: int, *, start: datetime = DEFAULT_START) -> Batch:
        """A batch of `readings` new readings of `device_id`."""
        count = -(-readings // len(SENSORS))
        return batch_of(device_id, self.new_steps(device_id, count, start=start, readings=readings))

    def record(self, batch: Batch, outcome: str) -> None:
        """Note what a request carrying `batch` ended as: `ok`, `fail` or `unknown`.

        A reading keeps the best outcome of the requests that carried it: ok, then unknown,
        then fail (a reading refused once and sent again may yet be stored).
        """
        for step in batch.steps:
            key = (step.device_id, step.time_us)
            previous = self._outcome.get(key)
            if previous is None or _RANK[outcome] > _RANK[previous]:
                self._outcome[key] = outcome

    def counts(self) -> collections.Counter[str]:
        """Distinct readings by outcome (readings sent but not yet recorded are `unknown`)."""
        counts: collections.Counter[str] = collections.Counter()
        for key, step in self._steps.items():
            counts[self._outcome.get(key, "unknown")] += len(step.values)
        return counts

    async def verify(self, pool: asyncpg.Pool) -> Verdict:
        """Compare the readings stored for the ledger's devices with what was sent."""
        rows = await pool.fetch(
            "SELECT device_id, sensor_id, time, value FROM readings WHERE device_id = ANY($1)",
            self.device_ids,
        )
        return self.judge((r["device_id"], r["sensor_id"], r["time"], r["value"]) for r in rows)

    def judge(self, rows: Iterable[tuple[int, int, datetime, float | None]]) -> Verdict:
        """The verdict on these stored rows (device_id, sensor_id, time, value)."""
        column = {sensor: i for i, sensor in enumerate(SENSORS)}
        seen: collections.Counter[tuple[int, int, int]] = collections.Counter()
        examples: list[str] = []
        stored = mismatched = unexpected = 0

        def example(text: str) -> None:
            if len(examples) < 5:
                examples.append(text)

        for device_id, sensor_id, moment, value in rows:
            stored += 1
            time_us = micros(moment)
            key = (device_id, sensor_id, time_us)
            seen[key] += 1
            if seen[key] > 1:
                continue
            step = self._steps.get((device_id, time_us))
            i = column.get(sensor_id)
            if (
                step is None
                or i is None
                or i >= len(step.values)
                or self._outcome.get((device_id, time_us)) == "fail"
            ):
                unexpected += 1
                example(f"unexpected {key} = {value}")
            elif value != step.values[i]:
                mismatched += 1
                example(f"{key} stored {value}, sent {step.values[i]}")
        duplicated = sum(1 for n in seen.values() if n > 1)
        for key in (k for k, n in seen.items() if n > 1):
            example(f"{key} stored {seen[key]} times")
        sent = acknowledged = lost = 0
        for (device_id, time_us), step in self._steps.items():
            sent += len(step.values)
            if self._outcome.get((device_id, time_us)) != "ok":
                continue
            acknowledged += len(step.values)
            for sensor_id in SENSORS[: len(step.values)]:
                if (device_id, sensor_id, time_us) not in seen:
                    lost += 1
                    example(f"lost ({device_id}, {sensor_id}, {time_us})")
        return Verdict(
            sent, acknowledged, stored, lost, duplicated, mismatched, unexpected, examples
        )


class LoadGenerator:
    """Posts new batches of readings for `devices`, retrying as a device does, into `ledger`."""

    def __init__(
        self,
        base_url: str,
        devices: Sequence[Device],
        ledger: Ledger,
        *,
        readings_per_request: int = 100,
        timeout_s: float = 5.0,
        start: datetime | None = None,
        max_retry_after_s: float = 5.0,
        max_backoff_s: float = 1.0,
    ) -> None:
        if not devices:
            raise ValueError("the load generator needs at least one device")
        self.base_url = base_url.rstrip("/")
        self.devices = list(devices)
        self.ledger = ledger
        self.readings_per_request = readings_per_request
        self.timeout_s = timeout_s
        self.start = start or DEFAULT_START
        self.max_retry_after_s = max_retry_after_s
        self.max_backoff_s = max_backoff_s  # between retries after no answer (doubling from 50 ms)
        self.statuses: collections.Counter[int] = collections.Counter()
        self.requests = 0  # attempts made, retries included
        self.accepted = 0  # readings the 2xx answers said were accepted
        self.rejected: list[dict[str, object]] = []  # readings the 2xx answers said were not
        self._latencies: list[float] = []
        self._acknowledged: list[tuple[float, float]] = []  # (sent, answered) of every 2xx
        self._next_slot = 0.0
        self._stop_new = math.inf  # loop time after which no new batch is sent
        self._retry_for_s = 60.0
        self._random = random.Random(1)

    def latencies(self) -> list[float]:
        """Seconds each request answered 2xx took (for overload tests)."""
        return list(self._latencies)

    def ok_after(self, moment: float) -> float | None:
        """When (time.monotonic()) the first request sent after `moment` to be answered 2xx
        was answered, or None."""
        return next((answered for sent, answered in self._acknowledged if sent > moment), None)

    async def run(
        self,
        *,
        duration_s: float,
        concurrency: int,
        rate_per_s: float | None = None,
        retry_for_s: float = 60.0,
    ) -> None:
        """Post new batches for `duration_s` (or until `stop()`), at most `rate_per_s`
        requests/s if given, from `concurrency` senders; then keep retrying each sender's
        unfinished batch until it has a definite outcome or `retry_for_s` more seconds have
        passed (it then stays unknown)."""
        loop = asyncio.get_running_loop()
        self._stop_new = loop.time() + duration_s
        self._retry_for_s = retry_for_s
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
            senders = [
                self._sender(http, self.devices[i % len(self.devices)], rate_per_s)
                for i in range(concurrency)
            ]
            await asyncio.gather(*senders)

    def stop(self) -> None:
        """Send no new batches from now on (`run` still finishes the unfinished ones)."""
        self._stop_new = min(self._stop_new, asyncio.get_running_loop().time())

    async def _sender(
        self, http: aiohttp.ClientSession, device: Device, rate_per_s: float | None
    ) -> None:
        loop = asyncio.get_running_loop()
        while loop.time() < self._stop_new:
            batch = self.ledger.new_batch(device.id, self.readings_per_request, start=self.start)
            await self.send(http, device, batch, rate_per_s=rate_per_s)

    async def send(
        self,
        http: aiohttp.ClientSession,
        device: Device,
        batch: Batch,
        *,
        give_up: float | None = None,
        rate_per_s: float | None = None,
    ) -> str:
        """Post `batch` until it has a definite outcome or the loop time `give_up` passes
        (default: the end of `run`'s retries); records and returns the outcome."""
        loop = asyncio.get_running_loop()
        backoff = 0.05
        while True:
            if rate_per_s:
                await self._pace(rate_per_s)
            outcome, retry_after = await self.attempt(http, device, batch)
            if outcome in ("ok", "fail"):
                self.ledger.record(batch, outcome)
                return outcome
            if retry_after is None:
                delay = backoff
                backoff = min(backoff * 2, self.max_backoff_s)
            else:
                delay = min(retry_after, self.max_retry_after_s)
            delay *= 1 + self._random.random() * 0.2
            deadline = self._stop_new + self._retry_for_s if give_up is None else give_up
            if loop.time() + delay > deadline:
                self.ledger.record(batch, "unknown")
                return "unknown"
            await asyncio.sleep(delay)

    async def attempt(
        self, http: aiohttp.ClientSession, device: Device, batch: Batch
    ) -> tuple[str, float | None]:
        """Post `batch` once: its outcome (`ok`, `fail`, or `retry` when it should be sent
        again) and the Retry-After asked for, if any. Counted in `ledger.outcomes`."""
        url = f"{self.base_url}/v0/devices/{device.id}/readings"
        headers = {"Authorization": f"Bearer {device.token}", "Content-Type": "application/json"}
        self.requests += 1
        sent = time.monotonic()
        try:
            async with http.post(url, data=batch.body, headers=headers) as response:
                answer = await response.read()
                status = response.status
                retry_after = _seconds(response.headers.get("Retry-After"))
        except (TimeoutError, aiohttp.ClientError, OSError):
            self.ledger.outcomes["unknown"] += 1
            return "retry", None
        answered = time.monotonic()
        self.statuses[status] += 1
        if 200 <= status < 300:
            self.ledger.outcomes["ok"] += 1
            self._latencies.append(answered - sent)
            self._acknowledged.append((sent, answered))
            document = orjson.loads(answer)
            self.accepted += document["accepted"]
            self.rejected.extend(document["rejected"])
            return "ok", None
        self.ledger.outcomes[str(status)] += 1
        if 400 <= status < 500 and status != 429:
            self.ledger.outcomes["fail"] += 1
            return "fail", None
        if status not in (429, 503):  # 500, 502, 504: it may or may not have been staged
            self.ledger.outcomes["unknown"] += 1
        return "retry", retry_after

    async def _pace(self, rate_per_s: float) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        slot = max(now, self._next_slot)
        self._next_slot = slot + 1 / rate_per_s
        if slot > now:
            await asyncio.sleep(slot - now)


def _seconds(header: str | None) -> float | None:
    if header is None:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(header))
    return None
