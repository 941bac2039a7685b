"""Shared by the tests: waiting for a condition with a deadline, never sleeping blind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T]],
    *,
    within_s: float = 30.0,
    interval_s: float = 0.02,
    what: str | None = None,
) -> T:
    """Poll the async `check` until it returns something truthy, or fail after `within_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            described = what or (check.__doc__ or "the condition").strip()
            raise AssertionError(f"{described} did not happen within {within_s}s")
        await asyncio.sleep(interval_s)


def until(check: Callable[[], T], *, within_s: float = 15.0, what: str = "the condition") -> T:
    """Poll `check` until it returns something truthy, or fail after `within_s` (for tests
    without an event loop)."""
    deadline = time.monotonic() + within_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {within_s}s")
        time.sleep(0.02)
