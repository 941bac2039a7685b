"""The TTL cache: expiry, size bound, shared loads."""

from __future__ import annotations

import asyncio

import pytest

from core import cache


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


async def test_values_are_kept_for_the_ttl_then_reloaded():
    clock = Clock()
    ttl = cache.TtlCache(10, 100, clock)
    loads = []

    async def load():
        loads.append(clock.now)
        return len(loads)

    assert await ttl.get("a", load) == 1
    clock.now = 9.9
    assert await ttl.get("a", load) == 1
    clock.now = 10.1
    assert await ttl.get("a", load) == 2
    assert loads == [0.0, 10.1]


async def test_none_is_cached():
    ttl = cache.TtlCache(10, 100, Clock())
    calls = []

    async def load():
        calls.append(1)

    assert await ttl.get(1, load) is None
    assert await ttl.get(1, load) is None
    assert calls == [1]


async def test_the_oldest_entries_go_first():
    ttl = cache.TtlCache(10, 2, Clock())
    for key in "abc":
        ttl.put(key, key)
    assert len(ttl) == 2
    assert await ttl.get("c", lambda: asyncio.sleep(0, "reloaded")) == "c"
    assert await ttl.get("a", lambda: asyncio.sleep(0, "reloaded")) == "reloaded"


async def test_concurrent_misses_share_one_load():
    ttl = cache.TtlCache(10, 100, Clock())
    gate = asyncio.Event()
    calls = []

    async def load():
        calls.append(1)
        await gate.wait()
        return "v"

    waiters = [asyncio.create_task(ttl.get("k", load)) for _ in range(5)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiters) == ["v"] * 5
    assert calls == [1]


async def test_a_failed_load_fails_its_waiters_and_is_not_cached():
    ttl = cache.TtlCache(10, 100, Clock())
    gate = asyncio.Event()

    async def failing():
        await gate.wait()
        raise LookupError("down")

    waiters = [asyncio.create_task(ttl.get("k", failing)) for _ in range(3)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert [type(result) for result in results] == [LookupError] * 3
    with pytest.raises(LookupError):
        await ttl.get("k", failing)  # gate still set: fails again, nothing was cached
    assert len(ttl) == 0


async def test_discarded_values_are_loaded_again():
    ttl = cache.TtlCache(10, 100, Clock())
    loads = []

    async def load():
        loads.append(1)
        return len(loads)

    assert await ttl.get("a", load) == 1
    assert await ttl.get("b", load) == 2
    ttl.discard("a")
    assert await ttl.get("a", load) == 3
    assert await ttl.get("b", load) == 2
    ttl.discard_where(lambda value: value == 2)
    assert await ttl.get("b", load) == 4
    ttl.clear()
    assert len(ttl) == 0


async def test_a_load_overlapping_an_invalidation_is_not_kept():
    ttl = cache.TtlCache(10, 100, Clock())
    release = asyncio.Event()
    loads = []

    async def slow_load():
        loads.append("slow")
        await release.wait()
        return "read before the change"

    async def load():
        loads.append("fresh")
        return "read after the change"

    first = asyncio.create_task(ttl.get("a", slow_load))
    await asyncio.sleep(0)
    ttl.discard("a")
    # A caller after the change does not share the load that may have read the old value.
    assert await ttl.get("a", load) == "read after the change"
    release.set()
    assert await first == "read before the change"
    assert await ttl.get("a", load) == "read after the change"
    assert loads == ["slow", "fresh"]


async def test_a_new_ttl_applies_to_values_loaded_after_it():
    clock = Clock()
    ttl = cache.TtlCache(300, 100, clock)

    async def load():
        return clock.now

    assert await ttl.get("long", load) == 0.0
    ttl.ttl_s = 10
    assert await ttl.get("short", load) == 0.0
    clock.now = 11
    assert await ttl.get("long", load) == 0.0
    assert await ttl.get("short", load) == 11
