"""A noisy device: one device posting at 100 times its quota beside many that keep to theirs.

The noisy device gets 429 with Retry-After for what is over its quota, and what was refused is
not stored; every request of every other device is acknowledged (none gets a 429) and stored.

Each device posts from a loopback address of its own (127.x.y.z), as devices in the field have
addresses of their own, so the per-address ceiling is each device's own too. The quota is
lowered (INGEST_DEVICE_RATE_LIMIT_*) to keep the run short; the others post at a quarter of it,
so that even if nginx sent all of one device's posts to the same gateway (each enforces its
share) it would stay under.
"""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from tests.faults import faults, ledger, load_support, sized

DURATION_S = sized(15.0, 60.0)
NORMAL_DEVICES = sized(30, 100)
QUOTA_PER_MIN = 120
QUOTA_BURST = 10
GATEWAYS = 2
NORMAL_PERIOD_S = 4 * 60 / QUOTA_PER_MIN  # a quarter of the quota
NOISY_RATE_PER_S = 100 * QUOTA_PER_MIN / 60  # a hundred times it
NOISY_SENDERS = 4
READINGS = 100  # per request
CLIENT_TIMEOUT_S = 30.0
SETTINGS = {
    "INGEST_DEVICE_RATE_LIMIT_PER_MIN": str(QUOTA_PER_MIN),
    "INGEST_DEVICE_RATE_LIMIT_BURST": str(QUOTA_BURST),
}


@pytest.mark.timeout(sized(120, 300))
async def test_a_noisy_device_is_refused_and_the_others_are_unaffected(
    start_platform, fleet, db_pool, fault_report, monkeypatch
):
    for name, value in SETTINGS.items():
        monkeypatch.setenv(name, value)
    owner_id = await db_pool.fetchval(
        "SELECT owner_id FROM devices WHERE id = $1", fleet.devices[0].id
    )
    normal_devices = await load_support.add_devices(db_pool, owner_id, NORMAL_DEVICES)
    (noisy_device,) = await load_support.add_devices(db_pool, owner_id, 1, name="Noisy device")
    platform = start_platform(gateways=GATEWAYS, workers=1, queries=1)
    book = ledger.Ledger()
    normal = load_support.WatchedLoadGenerator(
        platform.base_url, normal_devices, book, timeout_s=CLIENT_TIMEOUT_S
    )
    noisy = load_support.WatchedLoadGenerator(
        platform.base_url, [noisy_device], book, timeout_s=CLIENT_TIMEOUT_S
    )
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.5
    end = start + DURATION_S

    async def keep_to_quota(index: int, device: ledger.Device) -> None:
        address = f"127.1.{index // 200}.{1 + index % 200}"
        async with load_support.session_from(address, CLIENT_TIMEOUT_S) as http:
            at = start + NORMAL_PERIOD_S * index / NORMAL_DEVICES
            while at < end:
                await asyncio.sleep(max(0.0, at - loop.time()))
                batch = book.new_batch(device.id, READINGS)
                await normal.send(http, device, batch, give_up=end + 60)
                at += NORMAL_PERIOD_S

    slots = (start + k / NOISY_RATE_PER_S for k in itertools.count())

    async def flood() -> None:
        async with load_support.session_from("127.2.0.1", CLIENT_TIMEOUT_S) as http:
            for at in slots:
                if at >= end:
                    return
                await asyncio.sleep(max(0.0, at - loop.time()))
                batch = book.new_batch(noisy_device.id, READINGS)
                outcome, _, answer = await noisy.attempt_answered(http, noisy_device, batch)
                # A 429 is answered before the body is read: none of it may be stored.
                refused = answer.status == 429
                book.record(batch, "ok" if outcome == "ok" else "fail" if refused else "unknown")

    flooded_from = time.monotonic()
    await asyncio.gather(
        *(keep_to_quota(i, d) for i, d in enumerate(normal_devices)),
        *(flood() for _ in range(NOISY_SENDERS)),
    )
    flooded_s = time.monotonic() - flooded_from

    await faults.drained(db_pool, within_s=60)
    verdict = await book.verify(db_pool)
    fault_report(faults=1, verdict=verdict)
    noisy_statuses = {s: sum(a.status == s for a in noisy.answers) for s in (200, 429)}
    print(
        f"normal devices: {len(normal.answers):,} posts, {dict(normal.statuses)}; "
        f"{load_support.latency_summary(normal.answers, 200)}; "
        f"noisy device: {len(noisy.answers):,} posts in {flooded_s:.1f} s, {noisy_statuses}; "
        f"{load_support.latency_summary(noisy.answers, 429)}"
    )

    wrong = [a for a in normal.answers if a.status != 200]
    assert wrong == [], f"a device keeping to its quota was not acknowledged: {wrong[:5]}"
    posts = NORMAL_DEVICES * int(DURATION_S / NORMAL_PERIOD_S)
    assert len(normal.answers) >= posts
    assert load_support.misbehaving(noisy.answers, frozenset({200, 429})) == []
    assert noisy_statuses[429] > 0
    # At most what the quota allows over the run: each gateway enforces its share (rounded
    # up), a burst and then one post per interval (one more for where the run's ends fall).
    share = -(-QUOTA_BURST // GATEWAYS) + 1 + QUOTA_PER_MIN / GATEWAYS / 60 * flooded_s
    allowed = GATEWAYS * share
    assert 0 < noisy_statuses[200] <= allowed
    verdict.assert_clean()
