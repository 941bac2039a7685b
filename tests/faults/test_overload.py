"""Overload: three times the platform's capacity, offered by devices that retry as told.

First the capacity is measured: the requests per second one gateway and one worker store for a
closed loop of devices. Then three times that is offered, open loop, for longer. Every
answer must be one the platform promises (2xx, or 429/503 with Retry-After, never a 500 or a
timeout), the gateway's memory must stay bounded, and nothing acknowledged may be lost. How
long answers took goes to the report, not into assertions.

The worker takes one staged batch per transaction (WORKERS_MAX_BATCHES_PER_CLAIM=1), which
makes storing, not the gateway, the platform's limit, as when the database is what runs out:
the load generator runs in this test's process on the same machine, and could not offer three
times what a gateway acknowledges. So the gateway acknowledges until the staging backlog
reaches its bound, lowered here (INGEST_MAX_BACKLOG_READINGS) so that a short run reaches it as
a long one would the default, and then refuses the excess with 503: that refusal is under test.
Rate limits are off: every device posts from one address, and the per-address ceiling would
refuse the load before the platform had to.
"""

from __future__ import annotations

import asyncio
import math
import os
import time

import asyncpg
import pytest

from tests.faults import faults, ledger, load_support, sized

MEASURE_S = sized(4.0, 10.0)
# The first moments of the measurement fill the staging backlog up to its bound at the gateway's
# pace: the capacity is what is stored after them. Not what is acknowledged: once the backlog is
# full, the senders spend most of their time waiting out a Retry-After, and a worker slow at
# first (a fresh platform, a slow machine) can keep them waiting for the whole window.
SETTLE_S = 1.5
OVERLOAD_S = sized(10.0, 60.0)
FACTOR = 3
MEASURE_SENDERS = 16
CLIENT_TIMEOUT_S = 30.0
# Generous: a gateway idles at about 60 MiB.
GATEWAY_PEAK_MIB = 400.0
SETTINGS = {
    "RATE_LIMIT_ENABLED": "false",
    "WORKERS_MAX_BATCHES_PER_CLAIM": "1",
    "INGEST_MAX_BACKLOG_READINGS": "20000",
}


@pytest.mark.timeout(sized(150, 400))
async def test_three_times_capacity_is_refused_politely_and_loses_nothing(
    start_platform, sck21, db_pool, fault_report, monkeypatch
):
    for name, value in SETTINGS.items():
        monkeypatch.setenv(name, value)
    platform = start_platform(gateways=1, workers=1, queries=1)
    (gateway_pid,) = platform.pids("gateway")
    book = ledger.Ledger()

    measure = load_support.WatchedLoadGenerator(
        platform.base_url, sck21, book, timeout_s=CLIENT_TIMEOUT_S
    )
    started = time.monotonic()
    settled = asyncio.create_task(_staged_after(db_pool, SETTLE_S), name="staged-at-settle")
    await measure.run(duration_s=MEASURE_S, concurrency=MEASURE_SENDERS)
    staged_then, settled_at = await settled
    staged_now, ended = await faults.staged(db_pool), time.monotonic()
    acknowledged = sum(a.status == 200 for a in measure.answers_between(settled_at, ended))
    # Stored: acknowledged, less what the backlog grew by (and more what it shrank by).
    capacity = (acknowledged - (staged_now - staged_then)) / (ended - settled_at)
    assert capacity > 0, f"nothing was stored after {SETTLE_S} s: {dict(measure.statuses)}"

    overload = load_support.WatchedLoadGenerator(
        platform.base_url, sck21, book, timeout_s=CLIENT_TIMEOUT_S
    )
    # Enough senders that the offered rate holds while most of them wait out a Retry-After.
    senders = max(MEASURE_SENDERS, math.ceil(FACTOR * capacity * 1.5))
    started = time.monotonic()
    await overload.run(duration_s=OVERLOAD_S, concurrency=senders, rate_per_s=FACTOR * capacity)
    offered = overload.answers_between(started, started + OVERLOAD_S)
    peak_mib = load_support.peak_rss_mib(gateway_pid)

    drain_s = await faults.drained(db_pool, within_s=180)
    verdict = await book.verify(db_pool)
    fault_report(faults=1, verdict=verdict, recovery_s=drain_s)
    print(
        f"capacity {capacity:.0f} requests/s; offered {FACTOR}x: "
        f"{len(offered) / OVERLOAD_S:.0f} requests/s sent, "
        f"{sum(a.status == 200 for a in offered) / OVERLOAD_S:.0f}/s acknowledged; "
        f"{load_support.latency_summary(overload.answers, 200)}; "
        f"{load_support.latency_summary(overload.answers, 503)}; "
        f"{load_support.latency_summary(overload.answers, 429)}; "
        f"statuses {dict(overload.statuses)}; gateway peak {peak_mib:.0f} MiB; "
        f"drained in {drain_s:.1f} s; pid {os.getpid()}"
    )

    allowed = frozenset({200, 429, 503})
    for phase in (measure, overload):
        wrong = load_support.misbehaving(phase.answers, allowed)
        assert wrong == [], f"answers other than 2xx, or 429/503 with Retry-After: {wrong[:5]}"
    assert book.outcomes["unknown"] == 0, f"requests with no definite answer: {book.outcomes}"
    assert load_support.dead(platform) == [], "a service process died"
    assert peak_mib < GATEWAY_PEAK_MIB
    assert verdict.acknowledged > 0
    verdict.assert_clean()


async def _staged_after(pool: asyncpg.Pool, delay_s: float) -> tuple[int, float]:
    """The batches in staging `delay_s` from now, and when they were counted."""
    await asyncio.sleep(delay_s)
    return await faults.staged(pool), time.monotonic()
