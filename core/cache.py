"""A small in-process cache with a time to live, a size bound and one load per missing key."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Values kept for `ttl_s` seconds, at most `max_entries` of them (the oldest go first).

    Concurrent misses of one key share a single load, so a cold cache under load costs one
    query per key, not one per request. Results of None (not found) are cached too.

    `ttl_s` may be changed at any time; it applies to values loaded from then on. A value whose
    load overlapped an invalidation (`discard`, `discard_where`, `clear`) is returned to its
    callers but not cached: it may have been read before the change it would hide.
    """

    def __init__(
        self, ttl_s: float, max_entries: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self._invalidations = 0  # bumped by every discard: loads that overlap one are not kept
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}
        self._loading: dict[K, asyncio.Future[V]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The cached value of `key`, or what `load()` returns (then cached); `load` errors pass."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        pending = self._loading.get(key)
        if pending is not None:
            return await pending
        pending = asyncio.get_running_loop().create_future()
        self._loading[key] = pending
        ttl_s, invalidations = self.ttl_s, self._invalidations
        try:
            value = await load()
        except asyncio.CancelledError:
            pending.cancel()
            raise
        except BaseException as exc:
            pending.set_exception(exc)
            pending.exception()  # the waiters (if any) re-raise it; none is not an error
            raise
        finally:
            if self._loading.get(key) is pending:
                del self._loading[key]
        pending.set_result(value)
        if invalidations == self._invalidations:
            self.put(key, value, min(ttl_s, self.ttl_s))
        return value

    def put(self, key: K, value: V, ttl_s: float | None = None) -> None:
        """Cache `value` under `key` for `ttl_s` (default: the time to live)."""
        self._entries.pop(key, None)
        while len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (self._clock() + (self.ttl_s if ttl_s is None else ttl_s), value)

    def discard(self, key: K) -> None:
        """Forget the value of `key`, if any (loads in progress are not kept)."""
        self._invalidations += 1
        self._entries.pop(key, None)
        self._loading.pop(key, None)  # callers from now on load afresh

    def discard_where(self, predicate: Callable[[V], bool]) -> None:
        """Forget every value for which `predicate` holds (loads in progress are not kept)."""
        self._invalidations += 1
        for key in [k for k, (_, v) in self._entries.items() if predicate(v)]:
            del self._entries[key]
        self._loading.clear()

    def clear(self) -> None:
        """Forget every value (loads in progress are not kept)."""
        self._invalidations += 1
        self._entries.clear()
        self._loading.clear()
