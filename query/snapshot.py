"""Snapshots: a JSON array held in memory as pre-encoded bytes (plain, and gzip once asked for)
with its validators, served without work per request, and the task that rebuilds it when told to.

A `Snapshot` is immutable; the `Refresher` swaps in a new one when a rebuild gives different
bytes, so a request reads one consistent snapshot and never waits for a rebuild.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import heapq
import io
import logging
import math
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import utils as email_utils
from operator import itemgetter

import xxhash
from aiohttp import web

from storage import errors
from storage import pool as storage_pool

logger = logging.getLogger(__name__)

CACHE_CONTROL = "public, no-cache"  # caches may keep it, but revalidate (a 304 costs nothing)
# Tells nginx in front how many seconds it may answer from its own copy (and is not passed on);
# it must come before Cache-Control, whose `no-cache` nginx 1.22 otherwise obeys.
PROXY_CACHE_HEADER = "X-Accel-Expires"
# A 20,000-device map (19.5 MiB): zlib at level 1 compresses it in ≈ 62 ms to ≈ 2.4 MiB (level 6
# takes five times as long for a tenth less), in a thread, letting go of the interpreter lock.
# ISA-L took ≈ 17 ms but gave 2.9 MiB: every client downloads the map again after each change,
# and sending a fifth more bytes cost more than compressing saves.
GZIP_LEVEL = 1
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 5.0

# One entry of the array: its key (a device id) and its encoded JSON (bytes, or a view into a
# snapshot's bytes).
Body = bytes | memoryview
Entry = tuple[int, Body]


class _Gzip:
    """A snapshot's gzip bytes once made, or their making under way."""

    __slots__ = ("data", "making")

    def __init__(self) -> None:
        self.data: bytes | None = None
        self.making: asyncio.Future[bytes] | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A JSON array as plain bytes (and gzip bytes on demand), the span of each keyed entry, and
    its headers."""

    plain: bytes
    etag: str  # strong, of the plain bytes; the gzip variant's is `gzip_etag`
    gzip_etag: str
    last_modified: datetime
    # The key of each entry and where it starts and ends in `plain`: three tuples of numbers
    # rather than a tuple per entry, which the garbage collector would count and walk (20,000
    # of them at each rebuild of the map).
    keys: tuple[int, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    headers: dict[str, str] = field(repr=False)
    gzip_headers: dict[str, str] = field(repr=False)
    not_modified_headers: dict[str, str] = field(repr=False)
    gzip_not_modified_headers: dict[str, str] = field(repr=False)
    _gzip: _Gzip = field(default_factory=_Gzip, repr=False, compare=False)

    @property
    def count(self) -> int:
        """How many entries the array holds."""
        return len(self.keys)

    @property
    def spans(self) -> Iterator[tuple[int, int, int]]:
        """The (key, start, end) of each entry in `plain`, in order."""
        return zip(self.keys, self.starts, self.ends, strict=True)

    async def gzipped(self) -> bytes:
        """The gzip bytes, compressed in a thread on the first call and kept for every later
        one (concurrent calls wait for the same compression).

        Made on demand, not with the snapshot: the map is made again at every change (every few
        seconds under a stream of readings), and compressing it at each costs ≈ 60 ms of a
        core, for nothing when nobody downloads it before the next change.
        """
        held = self._gzip
        if held.data is not None:
            return held.data
        if held.making is None:
            held.making = asyncio.ensure_future(
                asyncio.to_thread(gzip.compress, self.plain, compresslevel=GZIP_LEVEL, mtime=0)
            )
        making = held.making
        try:
            # Shielded: a request that goes away does not cancel the others' compression.
            data = await asyncio.shield(making)
        except BaseException:
            failed = making.done() and (making.cancelled() or making.exception() is not None)
            if failed and held.making is making:
                held.making = None  # the next call compresses again
            raise
        held.data = data
        return data


def encode(
    keys: Sequence[int],
    bodies: Sequence[Body],
    *,
    previous: Snapshot | None,
    now: datetime,
    proxy_cache_s: int = 0,
) -> Snapshot:
    """The snapshot of the array of `bodies` (encoded entries, keyed by `keys`); `previous`
    itself if its bytes are the same, so an unchanged rebuild keeps its ETag and Last-Modified.

    With `proxy_cache_s`, its answers let a proxy in front (nginx) keep them that many seconds
    and answer from its copy meanwhile; clients are still told to revalidate every time."""
    if len(keys) != len(bodies):
        raise ValueError(f"{len(keys)} keys for {len(bodies)} bodies")
    plain, starts, ends = _joined(bodies)
    # Any 128-bit hash of the bytes makes a strong tag; XXH3 takes ≈ 1 ms of a 21 MB map where
    # BLAKE2b took ≈ 22 ms.
    digest = xxhash.xxh3_128_hexdigest(plain)
    etag = f'"{digest}"'
    if previous is not None and previous.etag == etag:
        return previous
    gzip_etag = f'"{digest}-gzip"'  # another representation, so another strong tag
    last_modified = now.astimezone(UTC).replace(microsecond=0)
    validators = {
        **({PROXY_CACHE_HEADER: str(proxy_cache_s)} if proxy_cache_s > 0 else {}),
        "Last-Modified": email_utils.format_datetime(last_modified, usegmt=True),
        "Cache-Control": CACHE_CONTROL,
        "Vary": "Accept-Encoding",
    }
    return Snapshot(
        plain=plain,
        etag=etag,
        gzip_etag=gzip_etag,
        last_modified=last_modified,
        keys=tuple(keys),
        starts=tuple(starts),
        ends=tuple(ends),
        headers={"Content-Type": "application/json", "ETag": etag, **validators},
        gzip_headers={
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "ETag": gzip_etag,
            **validators,
        },
        not_modified_headers={"ETag": etag, **validators},
        gzip_not_modified_headers={"ETag": gzip_etag, **validators},
    )


def _joined(bodies: Sequence[Body]) -> tuple[bytes, list[int], list[int]]:
    """The JSON array of `bodies`, and where each starts and ends in it.

    Written a body at a time: `b",".join` of a 21 MB map copies it all in one call, which holds
    the interpreter lock (≈ 15 ms, and as much again for each `+` around it), a stall of every
    request in flight. Between writes, Python hands the lock to the event loop as often as it
    asks; and `getvalue` gives the buffer itself, not a copy.
    """
    size = 2 + sum(map(len, bodies)) + max(len(bodies) - 1, 0)  # brackets, bodies, commas
    buffer = io.BytesIO()
    # Sized at once, closing bracket first: a buffer that grows as it is written is copied
    # again at each step, and those copies hold the lock too. Sizing it zero-fills the memory
    # with the lock held: 16-21 ms for 21 MB in the first builds, 2-4.5 ms once glibc reuses
    # the pages of the buffers freed before (other memory was tried: see "What a rebuild still
    # stops the event loop for" in docs/performance.md).
    buffer.seek(size - 1)
    buffer.write(b"]")
    buffer.seek(0)
    write = buffer.write
    starts: list[int] = []
    ends: list[int] = []
    position = write(b"[")
    for index, body in enumerate(bodies):
        if index:
            position += write(b",")
        starts.append(position)
        position += write(body)
        ends.append(position)
    return buffer.getvalue(), starts, ends


async def respond(
    request: web.Request, snapshot: Snapshot, *, allow_gzip: bool = True
) -> web.Response:
    """The snapshot as a 200 (gzip if the client accepts it) or a 304 if the client has it."""
    asked = request.headers
    use_gzip = allow_gzip and accepts_gzip(asked.get("Accept-Encoding", ""))
    if _not_modified(asked.get("If-None-Match"), asked.get("If-Modified-Since"), snapshot):
        headers = snapshot.gzip_not_modified_headers if use_gzip else snapshot.not_modified_headers
        return web.Response(status=304, headers=headers)
    if use_gzip:
        return web.Response(body=await snapshot.gzipped(), headers=snapshot.gzip_headers)
    return web.Response(body=snapshot.plain, headers=snapshot.headers)


def merged(snapshot: Snapshot, entries: Sequence[Entry], *, removed: Collection[int] = ()) -> bytes:
    """The snapshot's array with `entries` added in key order, each replacing the snapshot's
    entry of the same key, and without the entries of `removed` keys."""
    if not entries and not removed:
        return snapshot.plain
    replaced = {key for key, _ in entries} | set(removed)
    view = memoryview(snapshot.plain)
    kept: Iterator[Entry] = (
        (key, view[start:end]) for key, start, end in snapshot.spans if key not in replaced
    )
    added = sorted(entries, key=itemgetter(0))
    ordered = heapq.merge(kept, added, key=itemgetter(0))
    return b"[" + b",".join(body for _, body in ordered) + b"]"


@functools.lru_cache(maxsize=256)  # clients send few distinct values
def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an `Accept-Encoding` value accepts gzip (explicitly or by `*`) with q > 0."""
    qualities: dict[str, float] = {}
    for part in accept_encoding.lower().split(","):
        coding, *parameters = part.split(";")
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        qualities[coding.strip()] = quality
    for coding in ("gzip", "x-gzip", "*"):
        if coding in qualities:
            return qualities[coding] > 0
    return False


def etag_matches(if_none_match: str, tags: Sequence[str]) -> bool:
    """Whether an `If-None-Match` value names one of `tags` (weakly compared) or is `*`."""
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag in tags:
            return True
    return False


def _not_modified(
    if_none_match: str | None, if_modified_since: str | None, snapshot: Snapshot
) -> bool:
    # Either variant's tag means the client holds this snapshot's content.
    if if_none_match is not None:
        return etag_matches(if_none_match, (snapshot.etag, snapshot.gzip_etag))
    if if_modified_since is None:
        return False
    try:
        since = email_utils.parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False
    return since.tzinfo is not None and snapshot.last_modified <= since


# build(previous, notified): the snapshot; `notified` is False when the rebuild is due by age
# alone (nothing was notified since the last build, so only what ages by itself can differ).
Build = Callable[[Snapshot | None, bool], Awaitable[Snapshot]]
Listen = Callable[[Callable[[], None], Callable[[], None]], Awaitable[storage_pool.Connection]]
Unlisten = Callable[[storage_pool.Connection], Awaitable[None]]


class Refresher:
    """Keeps `current` fresh: rebuilds it when the listener reports a change (debounced, at
    most once per `min_interval_s`, and spaced so that rebuilding takes at most `build_share`
    of the time: a build of 0.3 s waits 6 s for the next at 0.05), and at least every
    `max_age_s` (for what ages by itself, like a device's online status). Survives database
    outages and errors: it keeps the last snapshot, backs off, reconnects its listener and
    rebuilds. Anything else is a bug, which `run` raises."""

    def __init__(
        self,
        build: Build,
        listen: Listen,
        unlisten: Unlisten,
        *,
        debounce_s: float = 0.5,
        min_interval_s: float = 1.0,
        max_age_s: float = 30.0,
        build_timeout_s: float = 30.0,
        build_share: float = 1.0,
    ) -> None:
        self.current: Snapshot | None = None
        self.builds = 0  # rebuilds that succeeded (each may keep the same snapshot)
        self.failures = 0  # database outages met so far
        self.listens = 0  # listener connections opened (1 + reconnections)
        self.first_attempt = asyncio.Event()  # set once the first build succeeded or failed
        self.debounce_s = debounce_s
        self.min_interval_s = min_interval_s
        self.max_age_s = max_age_s
        self.build_timeout_s = build_timeout_s
        self.build_share = build_share
        self._build = build
        self._listen = listen
        self._unlisten = unlisten
        self._listener: storage_pool.Connection | None = None
        self._changed = asyncio.Event()
        self._backoff_s = FIRST_BACKOFF_S
        self._last_build = -math.inf
        self._last_duration = 0.0  # seconds the last successful build took

    async def run(self) -> None:
        """Refresh until cancelled. Raises what a bug raises (the caller stops the process)."""
        try:
            while True:
                try:
                    await self._subscribe()
                    while True:
                        notified = await self._await_change()
                        await self._rebuild(notified)
                except (errors.StorageError, TimeoutError) as exc:
                    # Keep serving the last snapshot whatever the database said; an error
                    # that is not an outage (a refused login, a missing table) is logged as one.
                    self.failures += 1
                    self.first_attempt.set()
                    outage = isinstance(exc, errors.StorageUnavailable | TimeoutError)
                    logger.log(
                        logging.WARNING if outage else logging.ERROR,
                        "snapshot not rebuilt, serving the last one; retrying in %.1fs: %s",
                        self._backoff_s,
                        exc,
                        extra={"action": "snapshot_unavailable" if outage else "snapshot_failed"},
                    )
                    await self._unsubscribe()
                    await asyncio.sleep(self._backoff_s)
                    self._backoff_s = min(self._backoff_s * 2, MAX_BACKOFF_S)
        finally:
            await self._unsubscribe()

    @property
    def interval_s(self) -> float:
        """The least time from the start of the last build to the start of the next."""
        return max(self.min_interval_s, self._last_duration / self.build_share)

    async def _subscribe(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        await self._unsubscribe()
        self._listener = await self._listen(self._changed.set, self._changed.set)
        self.listens += 1
        self._changed.set()  # anything may have changed while nobody listened

    async def _unsubscribe(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            await self._unlisten(listener)

    async def _await_change(self) -> bool:
        """Return when a rebuild is due: a change was reported (then wait `debounce_s` to
        gather the changes that follow) or the snapshot reached `max_age_s`; whether a change
        was reported."""
        loop = asyncio.get_running_loop()
        pause = self._last_build + self.interval_s - loop.time()
        if pause > 0:
            await asyncio.sleep(pause)
        if not self._changed.is_set():
            age_left = max(0.0, self._last_build + self.max_age_s - loop.time())
            try:
                await asyncio.wait_for(self._changed.wait(), age_left)
            except TimeoutError:
                pass  # due by age
            else:
                await asyncio.sleep(self.debounce_s)
        if self._listener is None or self._listener.is_closed():
            raise errors.StorageUnavailable("the LISTEN connection was lost")
        changed = self._changed.is_set()
        self._changed.clear()
        return changed

    async def _rebuild(self, notified: bool) -> None:
        loop = asyncio.get_running_loop()
        self._last_build = started = loop.time()
        async with asyncio.timeout(self.build_timeout_s):
            snapshot = await self._build(self.current, notified)
        self._last_duration = loop.time() - started
        changed = snapshot is not self.current
        first = self.current is None
        self.current = snapshot
        self.builds += 1
        self._backoff_s = FIRST_BACKOFF_S
        self.first_attempt.set()
        logger.log(
            logging.INFO if first else logging.DEBUG,
            "snapshot %s: %d entries, %d bytes in %.0f ms",
            "built" if changed else "unchanged",
            snapshot.count,
            len(snapshot.plain),
            (loop.time() - started) * 1000,
            extra={"action": "snapshot_built"},
        )
