"""PostgreSQL crash-stopped (`pg_ctl stop -m immediate`) under load, then started again.

While the database is down, every readings post is answered at once with 503 and Retry-After:
none hangs, none is a 500; reads through the query service are answered the same way. When it
is back, ingest and reads resume by themselves (no process is restarted), and in the end every
acknowledged reading is stored exactly once.

The database is a cluster of this test's own, made by the project's code as the embedded one is
(fsync and synchronous_commit on, TimescaleDB, migrations): the shared cluster serves everyone
else and must not be stopped. Rate limits are off: every post comes from one address, and what
is under test is the database going away, not a client's quota.
"""

from __future__ import annotations

import asyncio
import math
import time

import aiohttp
import pytest

from storage import config, demo, embedded
from storage import pool as storage_pool
from tests.faults import faults, ledger, load_support, sized
from tests.support import eventually

OUTAGES = sized(1, 3)
SENDERS = 8  # concurrent devices' connections
# Acknowledged requests before the first outage and after each recovery.
ACKS_BETWEEN = sized(150, 600)
# Requests answered while the database is down (each sender retries about once a second).
ANSWERS_WHILE_DOWN = sized(24, 80)
# Far above the gateway's bound on a database call (INGEST_DB_TIMEOUT_S, 5 s): a request that
# hangs shows as a timeout, not as a slow answer.
CLIENT_TIMEOUT_S = 30.0


@pytest.fixture
def cluster():
    """A cluster of this test's own; it needs the local PostgreSQL 15 and TimescaleDB that
    `make test` installs, even when DATABASE_URL names another server."""
    try:
        with load_support.private_cluster() as made:
            yield made
    except embedded.EmbeddedError as exc:
        pytest.fail(f"cannot make a database cluster for this test: {exc}", pytrace=False)


@pytest.mark.timeout(sized(150, 600))
async def test_a_database_crash_loses_nothing_and_ingest_resumes(cluster, tmp_path, fault_report):
    db = config.DatabaseSettings(dsn=cluster.dsn(), embedded=False, pool_min=1, pool_max=2)
    conn = await storage_pool.connect(db)
    try:
        fleet = await demo.seed(conn)
    finally:
        await conn.close()
    devices = [d for d in fleet.devices if d.kit_id == demo.SCK_2_1]
    platform = load_support.launch(
        cluster.dsn(), tmp_path / "run", {"RATE_LIMIT_ENABLED": "false"}, gateways=2, workers=2
    )
    try:
        book = ledger.Ledger()
        load = load_support.WatchedLoadGenerator(
            platform.base_url, devices, book, timeout_s=CLIENT_TIMEOUT_S
        )
        done = asyncio.Event()

        async def keep_loading() -> None:
            while not done.is_set():
                await load.run(duration_s=1.0, concurrency=SENDERS)

        loading = asyncio.create_task(keep_loading(), name="load")
        reads = _Reads(platform.base_url, devices[0].id)
        windows, recoveries = [], []
        try:
            await _acknowledged(load, ACKS_BETWEEN, since=time.monotonic())
            for _ in range(OUTAGES):
                window, recovery = await _outage(cluster, load, reads)
                windows.append(window)
                recoveries.append(recovery)
                await _acknowledged(load, ACKS_BETWEEN, since=time.monotonic())
        finally:
            done.set()
            await loading

        pool = await storage_pool.open(db)
        try:
            await faults.drained(pool, within_s=120)
            verdict = await book.verify(pool)
            durable = await pool.fetchrow(
                "SELECT current_setting('fsync') AS fsync,"
                " current_setting('synchronous_commit') AS sync"
            )
        finally:
            await storage_pool.close(pool, timeout=10)
        fault_report(faults=OUTAGES, verdict=verdict, recovery_s=max(recoveries))
        while_down = [a for start, end in windows for a in load.answers_between(start, end)]
        print(
            f"while down: {load_support.latency_summary(while_down, 503)}; "
            f"acknowledged: {load_support.latency_summary(load.answers, 200)}; "
            f"reads while down: {load_support.latency_summary(reads.while_down, 503)}; "
            f"recovery: {', '.join(f'{r:.1f} s' for r in recoveries)}"
        )

        assert durable is not None and tuple(durable) == ("on", "on"), "the cluster is not durable"
        assert load_support.dead(platform) == [], "a service process died"
        for start, end in windows:
            answered = load.answers_between(start, end)
            assert len(answered) >= ANSWERS_WHILE_DOWN
            wrong = [a for a in answered if a.status != 503 or not a.retry_after]
            assert wrong == [], f"while the database was down: {wrong[:5]}"
        assert len(reads.while_down) >= OUTAGES * len(_Reads.PATHS)
        wrong = load_support.misbehaving(reads.while_down, frozenset({503}))
        assert wrong == [], f"reads while the database was down: {wrong[:5]}"
        wrong = load_support.misbehaving(load.answers, frozenset({200, 503}))
        assert wrong == [], f"answers other than 200 and 503 with Retry-After: {wrong[:5]}"
        assert book.outcomes["unknown"] == 0, f"requests with no definite answer: {book.outcomes}"
        assert verdict.acknowledged > 0
        verdict.assert_clean()
    finally:
        platform.stop()


async def _outage(
    cluster: embedded.Cluster, load: load_support.WatchedLoadGenerator, reads: _Reads
) -> tuple[tuple[float, float], float]:
    """Crash-stop the database, keep it down while the load hits it (and read through the
    query service), start it again; returns the window it was down (monotonic times) and the
    seconds from when it accepted connections again to the next acknowledged post, or to reads
    being served again if that came later."""
    await asyncio.to_thread(cluster.stop, "immediate")
    down_at = time.monotonic()
    reads.while_down.extend(await reads.once())

    async def answered_while_down() -> bool:
        """The load got enough answers while the database was down."""
        return len(load.answers_between(down_at, math.inf)) >= ANSWERS_WHILE_DOWN

    await eventually(answered_while_down, within_s=CLIENT_TIMEOUT_S * 2)
    up_at = time.monotonic()
    await asyncio.to_thread(cluster.start)  # returns once it accepts connections
    back_at = time.monotonic()

    async def resumed() -> float:
        """A post was acknowledged after the database came back."""
        return load.ok_after(back_at) or 0.0

    acknowledged_at = await eventually(resumed, within_s=60)

    async def served() -> float:
        """Every read was answered 200 after the database came back."""
        answers = await reads.once()
        return answers[-1].answered_at if all(a.status == 200 for a in answers) else 0.0

    served_at = await eventually(served, within_s=60, interval_s=0.1)
    return (down_at, up_at), max(acknowledged_at, served_at) - back_at


async def _acknowledged(
    load: load_support.WatchedLoadGenerator, count: int, *, since: float
) -> None:
    """Wait until `count` requests sent after `since` were acknowledged."""

    async def enough() -> bool:
        """The load had enough requests acknowledged."""
        return sum(1 for a in load.answers_between(since, math.inf) if a.status == 200) >= count

    await eventually(enough, within_s=60)


class _Reads:
    """Reads through the query service: a device's document and a listing."""

    PATHS = ("/v0/devices/{id}", "/v0/devices?per_page=5")

    def __init__(self, base_url: str, device_id: int) -> None:
        self._device_id = device_id
        self._urls = [base_url + path.format(id=device_id) for path in self.PATHS]
        self.while_down: list[load_support.Answer] = []

    async def once(self) -> list[load_support.Answer]:
        """Each read made once, with what it got."""
        answers = []
        timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            for url in self._urls:
                sent = time.monotonic()
                try:
                    async with http.get(url) as response:
                        await response.read()
                        status, retry_after = response.status, response.headers.get("Retry-After")
                        error = None
                except (TimeoutError, aiohttp.ClientError) as exc:
                    status, retry_after, error = None, None, type(exc).__name__
                answers.append(
                    load_support.Answer(
                        self._device_id, sent, time.monotonic(), status, retry_after, error
                    )
                )
        return answers
