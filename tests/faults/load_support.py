"""Shared by the database, overload and noisy-device fault tests: a load generator that also keeps
every answer it got (status, Retry-After, when, how long), a private database cluster that a
test may crash, the platform on any database, more SCK 2.1 devices, and a process's peak memory."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from core import tokens
from scripts import launcher
from storage import demo, embedded, migrate
from storage.pool import Connection
from tests.faults import ledger

_DATABASE_VARIABLES = {"DATABASE_URL", "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE"}


@dataclass(frozen=True, slots=True)
class Answer:
    """One request of a load generator: what came back (or the error instead), and when.

    `sent_at` and `answered_at` are time.monotonic(); `status` is None when no answer came
    (`error` names the exception: a timeout, a refused or cut connection).
    """

    device_id: int
    sent_at: float
    answered_at: float
    status: int | None
    retry_after: str | None
    error: str | None = None

    @property
    def latency_s(self) -> float:
        return self.answered_at - self.sent_at


class WatchedLoadGenerator(ledger.LoadGenerator):
    """ledger.LoadGenerator that also keeps an `Answer` for every request it makes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answers: list[Answer] = []

    async def attempt(
        self, http: aiohttp.ClientSession, device: ledger.Device, batch: ledger.Batch
    ) -> tuple[str, float | None]:
        outcome, retry_after, _ = await self.attempt_answered(http, device, batch)
        return outcome, retry_after

    async def attempt_answered(
        self, http: aiohttp.ClientSession, device: ledger.Device, batch: ledger.Batch
    ) -> tuple[str, float | None, Answer]:
        """`attempt`, and the answer it got."""
        seen: list[Answer] = []
        watched = _Recorder(http, device.id, seen)
        try:
            outcome, retry_after = await super().attempt(watched, device, batch)  # type: ignore[arg-type]  # it only posts
        finally:
            self.answers.extend(seen)
        return outcome, retry_after, seen[-1]

    def answers_between(self, start: float, end: float) -> list[Answer]:
        """The requests sent at or after `start` and answered (or failed) by `end`."""
        return [a for a in self.answers if a.sent_at >= start and a.answered_at <= end]


class _Recorder:
    """Stands in for the session in LoadGenerator.attempt: its `post` notes each answer."""

    def __init__(self, http: aiohttp.ClientSession, device_id: int, into: list[Answer]) -> None:
        self._http, self._device_id, self._into = http, device_id, into

    def post(self, url: str, **kwargs: Any) -> _RecordedPost:
        return _RecordedPost(self._http.post(url, **kwargs), self._device_id, self._into)


class _RecordedPost:
    def __init__(self, request: Any, device_id: int, into: list[Answer]) -> None:
        self._request, self._device_id, self._into = request, device_id, into

    async def __aenter__(self) -> aiohttp.ClientResponse:
        sent = time.monotonic()
        try:
            response: aiohttp.ClientResponse = await self._request.__aenter__()
        except BaseException as exc:
            self._into.append(
                Answer(self._device_id, sent, time.monotonic(), None, None, type(exc).__name__)
            )
            raise
        retry_after = response.headers.get("Retry-After")
        self._into.append(
            Answer(self._device_id, sent, time.monotonic(), response.status, retry_after)
        )
        return response

    async def __aexit__(self, *exc: Any) -> None:
        await self._request.__aexit__(*exc)


def misbehaving(answers: Sequence[Answer], allowed: frozenset[int]) -> list[Answer]:
    """The answers that break the backpressure contract: no answer at all (a timeout, a cut
    connection), a status outside `allowed`, or a 429/503 without a Retry-After."""
    return [
        a
        for a in answers
        if a.status not in allowed or (a.status in (429, 503) and not a.retry_after)
    ]


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0-100, nearest rank) of `values`; nan when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def latency_summary(answers: Sequence[Answer], status: int) -> str:
    """`p50 / p99 / max` in milliseconds of the answers with `status`, and their count."""
    values = [a.latency_s * 1000 for a in answers if a.status == status]
    if not values:
        return f"{status}: none"
    return (
        f"{status}: {len(values):,} answers, p50 {percentile(values, 50):.0f} ms, "
        f"p99 {percentile(values, 99):.0f} ms, max {max(values):.0f} ms"
    )


def session_from(address: str, timeout_s: float) -> aiohttp.ClientSession:
    """A client session whose connections leave from the local `address` (any of 127.0.0.0/8
    on Linux), so that each simulated device has an address of its own, as in the field."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        connector=aiohttp.TCPConnector(local_addr=(address, 0)),
    )


@contextlib.contextmanager
def private_cluster() -> Iterator[embedded.Cluster]:
    """A cluster of its own, made as the embedded one is (durable, TimescaleDB, migrated), on a
    free port, that a test may stop and crash; stopped and removed afterwards.

    Its directory is under the system's temporary directory rather than pytest's, which only
    its owner may enter: as root the server runs as the postgres user.
    """
    root = Path(tempfile.mkdtemp(prefix="sensorium-faults-"))
    cluster = embedded.Cluster(root=root, port=launcher.free_port())
    try:
        cluster.ensure_running()
        migrate.apply(cluster.dsn())
        yield cluster
    finally:
        try:
            cluster.stop("fast")
        finally:
            shutil.rmtree(root, ignore_errors=True)


def launch(
    database_url: str, state_dir: Path, env: Mapping[str, str] | None = None, **layout: int
) -> launcher.Platform:
    """The platform (as `make run` starts it) on `database_url`, on free ports; the caller
    stops it. `env` adds to (or overrides) this process's environment."""
    base = {k: v for k, v in os.environ.items() if k not in _DATABASE_VARIABLES}
    base.setdefault("WORKERS_POLL_INTERVAL_S", "1")
    base.update(env or {})
    chosen = launcher.Layout(
        port=launcher.free_port(),
        gateway_base_port=launcher.free_port(int(layout.get("gateways", 2))),
        query_base_port=launcher.free_port(int(layout.get("queries", 1))),
        state_dir=state_dir,
        **layout,
    )
    platform = launcher.Platform(chosen, base, database_url)
    platform.start()
    return platform


def dead(platform: launcher.Platform) -> list[str]:
    """The service processes that are not running."""
    return [p.name for group in platform.processes.values() for p in group if not p.running()]


# No MAC address: these devices post SmartCitizen bodies, never to the legacy /add.
_ADD_DEVICES = """
INSERT INTO devices (owner_id, name, kit_id, latitude, longitude, exposure, device_token_hash)
SELECT $1, $2 || ' ' || i, $3, 41.4, 2.15, 'outdoor', h
  FROM unnest($4::bytea[]) WITH ORDINALITY AS t(h, i)
 ORDER BY i
RETURNING id, device_token_hash
"""


async def add_devices(
    conn: Connection, owner_id: int, count: int, *, name: str = "Fault test device"
) -> list[demo.DemoDevice]:
    """`count` new SCK 2.1 devices of `owner_id`, with their plain tokens."""
    plain = [tokens.new_token() for _ in range(count)]
    hashes = [tokens.hash_token(t) for t in plain]
    rows = await conn.fetch(_ADD_DEVICES, owner_id, name, demo.SCK_2_1, hashes)
    ids = {bytes(row["device_token_hash"]): row["id"] for row in rows}
    return [
        demo.DemoDevice(ids[h], f"{name} {i + 1}", demo.SCK_2_1, "", token)
        for i, (h, token) in enumerate(zip(hashes, plain, strict=True))
    ]


def peak_rss_mib(pid: int) -> float:
    """The most resident memory process `pid` has used so far (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")
