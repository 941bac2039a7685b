"""Shared by the worker tests: reading times, and waiting for a condition without sleeping blind."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

# 2024-01-01T00:00:00Z in microseconds since the Unix epoch.
T0 = 1_704_067_200_000_000
MINUTE = 60_000_000


async def eventually(
    check: Callable[[], Awaitable[T]], *, within_s: float = 20.0, what: str = "the condition"
) -> T:
    """Poll the async `check` until it returns something truthy, or fail after `within_s`."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} did not happen within {within_s}s")
        await asyncio.sleep(0.02)
