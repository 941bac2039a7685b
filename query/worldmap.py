"""The world map: every public device on one page, served from a snapshot kept fresh in the
background (`query/snapshot.py`), and the signed-in user's fresh variant with their own devices.

The snapshot is rebuilt when the database notifies that devices, their owners, kits or latest
readings changed (debounced), and at least every `MAX_AGE_S` so online statuses age. A rebuild
after a change reads only the devices written since the last read (all of them after a deletion
or a reconnection), one due by age reads nothing. A request only picks prepared bytes and
headers: it never reads the database and never waits for a build.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson
from aiohttp import web

from core import credentials as request_credentials
from core import errors
from query import auth, documents, geo, snapshot, state
from storage import errors as storage_errors
from storage import pool as storage_pool
from storage import worldmap as storage_worldmap

logger = logging.getLogger(__name__)

routes = web.RouteTableDef()

refresher_key = web.AppKey("worldmap_refresher", snapshot.Refresher)
# What to do if the refresher dies (default: SIGTERM, which run_app turns into a clean stop).
fatal_key: web.AppKey[Callable[[], None]] = web.AppKey("worldmap_fatal")

DEBOUNCE_S = 0.5  # after a change, wait this long for the changes that come with it
MIN_INTERVAL_S = 1.0  # at most one rebuild a second
# ... and rebuilding at most a twentieth of the time: under a steady stream of readings a
# 20,000-device map (0.3-0.5 s a build) would otherwise take a third of a core.
BUILD_SHARE = 0.05
MAX_AGE_S = 30.0  # rebuild at least this often, so statuses turn offline without a change
BUILD_TIMEOUT_S = 30.0
LISTEN_TIMEOUT_S = 10.0
START_WAIT_S = 45.0  # start-up waits this long for the first build before serving 503s
RETRY_AFTER_S = 2
# A snapshot's rows were read at most a build's timeout before its Last-Modified (which is
# rounded down to the second).
SNAPSHOT_READ_MARGIN = timedelta(seconds=BUILD_TIMEOUT_S + 1)
# Timestamps as documents.timestamp writes them, encoded by orjson (asyncpg gives UTC datetimes):
# much faster than formatting each one in Python.
_ENCODING = orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS | orjson.OPT_NAIVE_UTC
# Devices rarely move, and a geohash costs half as much as the rest of an entry: remember them.
_geohash = functools.lru_cache(maxsize=1 << 17)(geo.geohash)


# Documents ------------------------------------------------------------------------------------


def map_entry(
    device: Mapping[str, Any], *, now: datetime, online_window: timedelta, precise: bool
) -> dict[str, Any]:
    """One device of the map: the v0 reference's fields and the current API's (timestamps as
    UTC datetimes, encoded with `_ENCODING`)."""
    precise = precise or bool(device["precise_location"])
    latitude = geo.public_coordinate(device["latitude"], precise)
    longitude = geo.public_coordinate(device["longitude"], precise)
    status = documents.status(device, now, online_window)
    return {
        "id": device["id"],
        "name": device["name"],
        "description": device["description"],
        "owner_id": device["owner_id"],
        "owner_username": device["owner_username"],
        "latitude": latitude,
        "longitude": longitude,
        "city": device["city"],
        "country_code": device["country_code"],
        "kit_id": device["kit_id"],
        "status": status,
        "exposure": device["exposure"],
        "data": _data(device),
        "added_at": device["created_at"],
        "state": documents.state(device),
        "system_tags": documents.system_tags(device, status, now),
        "user_tags": _json(device["user_tags"]),
        "last_reading_at": device["last_reading_at"],
        "location": {
            "exposure": device["exposure"],
            "elevation": device["elevation"],
            "latitude": latitude,
            "longitude": longitude,
            "geohash": (
                None if latitude is None or longitude is None else _geohash(latitude, longitude)
            ),
            "city": device["city"],
            "country_code": device["country_code"],
            "country": None,
        },
        # documents' hardware block, shared with the device document.
        "hardware": documents.hardware(device),
    }


def _data(device: Mapping[str, Any]) -> dict[str, Any]:
    """The v0 `data`: when it was recorded and stored, then `<sensor_id>` and `<sensor_id>_raw`."""
    data: dict[str, Any] = {
        "recorded_at": device["last_reading_at"],
        "added_at": device["last_posted_at"],
        "calibrated_at": device["last_posted_at"],
    }
    if device["sensor_ids"] is not None:
        for sensor_id, value, raw_value in zip(
            orjson.loads(device["sensor_ids"]),
            orjson.loads(device["values"]),
            orjson.loads(device["raw_values"]),
            strict=True,
        ):
            key, raw_key = _data_keys(sensor_id)
            data[key] = value
            data[raw_key] = raw_value
    return data


def _json(encoded: str | None) -> orjson.Fragment | None:
    """An array column of a row (JSON text, see storage.worldmap.Row), written as it is."""
    return None if encoded is None else orjson.Fragment(encoded)


@functools.lru_cache(maxsize=4096)
def _data_keys(sensor_id: int) -> tuple[str, str]:
    return str(sensor_id), f"{sensor_id}_raw"


def encoded_entries(
    devices: Sequence[Mapping[str, Any]],
    *,
    now: datetime,
    online_window: timedelta,
    precise: bool = False,
) -> list[snapshot.Entry]:
    """Each device's map entry, encoded, keyed by its id."""
    return [
        (device["id"], _encoded(device, now=now, online_window=online_window, precise=precise))
        for device in devices
    ]


def _encoded(
    device: Mapping[str, Any], *, now: datetime, online_window: timedelta, precise: bool
) -> bytes:
    entry = map_entry(device, now=now, online_window=online_window, precise=precise)
    return orjson.dumps(entry, option=_ENCODING)


class _Made(NamedTuple):
    """What a build made: the snapshot and, per device in it, its row, its age (`_age`), and
    its encoded entry (flat dicts of strings, bytes and rows, which hold no lists: the garbage
    collector tracks none of them, see storage.worldmap.Row), in id order; when each device's
    age changes next (`next_due`), also as a heap of (POSIX time, device id) that may hold
    stale entries; the horizon of the read its rows are up to date with (None: unknown); and
    `dropped`, set once the containers are being emptied (`_retire`)."""

    built: snapshot.Snapshot | None
    rows: dict[int, storage_worldmap.Row]
    aged: dict[int, str]
    bodies: dict[int, bytes]
    next_due: dict[int, float]
    due: list[tuple[float, int]]
    horizon: int | None
    dropped: threading.Event


def _nothing_made() -> _Made:
    return _Made(None, {}, {}, {}, {}, [], None, threading.Event())


class MapBuilder:
    """Builds the public map's snapshots, encoding again only the devices whose row, status or
    `new` tag changed since the snapshot it built last (a rebuild usually finds a few).

    Three ways: `build` from every row (a full read), `changed` from the rows of the devices
    written since the last read, and `aged` from no read at all. The last two change what the
    last build made in place, and give None when they cannot (then read all and `build`).
    """

    def __init__(self, online_window: timedelta, *, proxy_cache_s: int = 0) -> None:
        self.online_window = online_window
        self.proxy_cache_s = proxy_cache_s  # see snapshot.encode
        # Replaced whole, and the one replaced is emptied (`_retire`): a build abandoned by a
        # timeout, still running in its thread when the next one starts, then finds entries
        # missing and encodes them again.
        self._made = _nothing_made()

    @property
    def rows(self) -> list[storage_worldmap.Row]:
        """The rows of the snapshot built last, by id."""
        return list(self._made.rows.values())

    @property
    def horizon(self) -> int | None:
        """The horizon of the read the last build's rows are up to date with (None if unknown):
        what to read the changes since, for `changed`."""
        return self._made.horizon

    def build(
        self,
        devices: list[storage_worldmap.Row],
        previous: snapshot.Snapshot | None,
        *,
        now: datetime,
        horizon: int | None = None,
    ) -> snapshot.Snapshot:
        """The map of `devices` (rows of storage.worldmap.public_devices, by id, read with
        `horizon`); `previous` itself if nothing it shows changed.

        Takes `devices` over: the list is emptied, and the rows no longer needed (the previous
        build's, or these if nothing changed) are dropped here a row at a time (`_drop`).
        Notes when each device's age changes next, for `aged`.
        """
        made = self._made
        # Reuse entries only if they are those of `previous` (a build may finish unused).
        fresh = previous is None or previous is not made.built
        known = _nothing_made() if fresh else made
        rows, aged, bodies, changed = self._entries(devices, known, now)
        changed = changed or previous is None or len(devices) != previous.count
        if not changed and previous is not None:
            # `previous` is what `made` built, and its rows are these: up to date with `horizon`.
            if self._made is made:
                self._made = made._replace(horizon=horizon)
            _drop(devices, rows, aged, bodies)
            return previous
        built = self._encode(bodies, previous, now)
        next_due = {
            key: when for key, row in rows.items() if (when := self._due(row, now)) is not None
        }
        due = _due_heap(next_due)
        self._made = _Made(built, rows, aged, bodies, next_due, due, horizon, threading.Event())
        _drop(devices)
        _retire(made)
        return built

    def changed(
        self,
        changes: storage_worldmap.Changes,
        since: int,
        previous: snapshot.Snapshot,
        *,
        now: datetime,
    ) -> snapshot.Snapshot | None:
        """The map at `now` after `changes` (storage.worldmap.changed_devices since `since`,
        the horizon the last build's rows are up to date with): `previous` itself if nothing it
        shows changed, and only the devices read and those whose age changed are encoded
        again. None if `previous` is not the snapshot built last or its rows are not up to date
        with `since` (then read all and `build`).

        A rebuild after a change costs only this: reading the devices written since the last
        read, a few after a post, rather than every device.
        """
        made = self._made
        if previous is not made.built or made.horizon != since:
            return None
        try:
            changed = self._apply(made, changes, now)
            changed = self._age_due(made, now) or changed
        except (KeyError, IndexError):
            return None  # emptied meanwhile (see `aged`)
        return self._publish(made, changed, previous, changes.horizon, now)

    def aged(self, previous: snapshot.Snapshot, *, now: datetime) -> snapshot.Snapshot | None:
        """The map of the last build's rows at `now`: `previous` itself unless a device's age
        changed since, and then only those devices are encoded again. None if `previous` is
        not the snapshot built last (then the rows must be read and built again).

        A rebuild due by age alone (nothing was notified) costs only this: looking at the
        devices whose status or `new` tag was due to change, rather than at all of them.
        """
        made = self._made
        if previous is not made.built:
            return None
        try:
            changed = self._age_due(made, now)
        except (KeyError, IndexError):
            # Emptied meanwhile by a build that was abandoned by its timeout and has just
            # finished (`_retire`): read and build again.
            return None
        return self._publish(made, changed, previous, made.horizon, now)

    def _encode(
        self, bodies: dict[int, bytes], previous: snapshot.Snapshot | None, now: datetime
    ) -> snapshot.Snapshot:
        """The snapshot of `bodies` (encoded entries by id, in id order)."""
        return snapshot.encode(
            list(bodies),
            list(bodies.values()),
            previous=previous,
            now=now,
            proxy_cache_s=self.proxy_cache_s,
        )

    def _publish(
        self,
        made: _Made,
        changed: bool,
        previous: snapshot.Snapshot,
        horizon: int | None,
        now: datetime,
    ) -> snapshot.Snapshot | None:
        """The snapshot of `made`, changed in place (`previous` if nothing changed), noted as
        the last built with its rows up to date with `horizon`; None if `made` was emptied
        meanwhile by a build abandoned by its timeout."""
        built = previous
        if changed:
            built = self._encode(made.bodies, previous, now)
        if made.dropped.is_set():
            return None
        if self._made is made:
            self._made = made._replace(built=built, horizon=horizon)
        return built

    def _apply(self, made: _Made, changes: storage_worldmap.Changes, now: datetime) -> bool:
        """Bring `made` up to date with `changes`, in place; whether any entry changed. A
        device no longer shown leaves; a new one goes in id order."""
        changed = False
        for key in changes.hidden:
            if key in made.rows:
                del made.rows[key], made.aged[key], made.bodies[key]
                made.next_due.pop(key, None)
                changed = True
        unordered = False
        last = next(reversed(made.bodies), None)
        for row in changes.rows:
            key = row["id"]
            age = _age(row, now, self.online_window)
            if made.rows.get(key) == row and made.aged[key] == age:
                continue
            if key not in made.bodies and last is not None and key < last:
                unordered = True  # shown again, or a lower id: sorted below
            made.rows[key] = row
            made.aged[key] = age
            made.bodies[key] = _encoded(
                row, now=now, online_window=self.online_window, precise=False
            )
            self._note_due(made, key, self._due(row, now))
            last = key if last is None or key > last else last
            changed = True
        if unordered:
            _reorder(made.rows)
            _reorder(made.bodies)
        return changed

    def _age_due(self, made: _Made, now: datetime) -> bool:
        """Bring `made`'s devices whose age was due to change by `now` up to date, in place;
        whether any entry changed."""
        changed = False
        moment = now.timestamp()
        while made.due and made.due[0][0] <= moment:
            when, key = heapq.heappop(made.due)
            if made.next_due.get(key) != when:
                continue  # stale: the device changed or left since this was noted
            row = made.rows[key]
            self._note_due(made, key, self._due(row, now))
            age = _age(row, now, self.online_window)
            if made.aged[key] != age:
                made.aged[key] = age
                made.bodies[key] = _encoded(
                    row, now=now, online_window=self.online_window, precise=False
                )
                changed = True
        return changed

    @staticmethod
    def _note_due(made: _Made, key: int, when: float | None) -> None:
        """Note when device `key`'s age changes next (None: never). The heap keeps the times
        noted before as stale entries, skipped when they come up; once they outnumber the
        devices, it is made again from `next_due`."""
        if when is None:
            made.next_due.pop(key, None)
        elif made.next_due.get(key) != when:
            made.next_due[key] = when
            heapq.heappush(made.due, (when, key))
        if len(made.due) > 2 * len(made.next_due) + 1024:
            made.due[:] = _due_heap(made.next_due)

    def _due(self, device: storage_worldmap.Row, now: datetime) -> float | None:
        """When the device's age (`_age`) changes next after `now`, as a POSIX time; None if
        it never will: it turns offline `online_window` after it last posted, and loses its
        `new` tag a week after it was made."""
        last = documents.last_seen(device)
        changes = (
            last + self.online_window if last is not None else None,
            device["created_at"] + documents.NEW_DEVICE_AGE,
        )
        later = [moment for moment in changes if moment is not None and moment > now]
        return min(later).timestamp() if later else None  # a POSIX time after now: never 0

    def _entries(
        self, devices: list[storage_worldmap.Row], known: _Made, now: datetime
    ) -> tuple[dict[int, storage_worldmap.Row], dict[int, str], dict[int, bytes], bool]:
        """Each device's row, age, and encoded entry (from `known` where its row and age are
        the same); and whether any entry differs from `known`'s."""
        rows: dict[int, storage_worldmap.Row] = {}
        aged: dict[int, str] = {}
        bodies: dict[int, bytes] = {}
        changed = False
        for device in devices:
            key = device["id"]
            age = _age(device, now, self.online_window)
            # Read with `get`: a build abandoned by a timeout may find `known` emptied by `_drop`
            # in the build that followed it, and then encodes again.
            body = known.bodies.get(key)
            row = known.rows.get(key)
            if body is not None and (row is device or row == device) and known.aged.get(key) == age:
                bodies[key] = body
            else:
                bodies[key] = _encoded(
                    device, now=now, online_window=self.online_window, precise=False
                )
                changed = True
            rows[key] = device
            aged[key] = age
        return rows, aged, bodies, changed


def _age(device: storage_worldmap.Row, now: datetime, online_window: timedelta) -> str:
    """What of an entry changes with time alone: its status, and `+new` in its first week."""
    status = documents.status(device, now, online_window)
    return status + "+new" if now - device["created_at"] < documents.NEW_DEVICE_AGE else status


def _due_heap(next_due: dict[int, float]) -> list[tuple[float, int]]:
    """The heap of (POSIX time, device id) of `next_due`, with no stale entries."""
    due = [(when, key) for key, when in next_due.items()]
    heapq.heapify(due)
    return due


def _reorder(container: dict[int, Any]) -> None:
    """Put `container`'s items in key order, in place."""
    ordered = sorted(container.items())
    container.clear()
    container.update(ordered)


def _retire(made: _Made) -> None:
    """Empty what a build made (`_drop`), once a newer build replaced it; flagged first, so
    that an `aged` or `changed` working on it meanwhile gives up."""
    made.dropped.set()
    _drop(made.rows, made.aged, made.bodies, made.next_due, made.due)


def _drop(*containers: list[Any] | dict[Any, Any]) -> None:
    """Empty `containers` an item at a time.

    A build runs in a thread, yet letting a list or dict of 20,000 rows go at once frees them
    all in one call, which holds the interpreter lock for ≈ 30 ms and so stalls the event loop
    (and every request in flight) that long. Item by item, Python hands the lock back to the
    loop between items as often as it asks for it. Popping until the container says it is empty
    (rather than testing first) stays right when a build abandoned by a timeout empties the same
    one meanwhile.
    """
    for container in containers:
        take = container.popitem if isinstance(container, dict) else container.pop
        try:
            while True:
                take()
        except (KeyError, IndexError):  # empty
            pass


# Handlers -------------------------------------------------------------------------------------


def _current(app: web.Application) -> snapshot.Snapshot:
    current = app[refresher_key].current
    if current is None:
        raise errors.ServiceUnavailable(
            "The world map is not built yet; retry shortly.",
            retry_after_s=RETRY_AFTER_S,
            code="world_map_unavailable",
        )
    return current


def _plain_only(request: web.Request) -> bool:
    # `pretty` and `callback` are rewritten by the conventions middleware, which needs the
    # plain JSON.
    return bool(request.query_string) and ("pretty" in request.query or "callback" in request.query)


@routes.get("/v0/devices/world_map")
async def world_map(request: web.Request) -> web.Response:
    """Every public, located device that has posted, from the snapshot (200 or 304).

    Anonymous requests never touch the database. Credentials, when presented, are checked (401
    if not live), and a test key gets the map of test devices instead: live data is not theirs.
    """
    if request_credentials.carries_credentials(request.headers, request.query):
        user = await _user(request)
        if user is not None and user.is_test:
            return await _test_map(request, user)
    current = _current(request.app)
    return await snapshot.respond(request, current, allow_gzip=not _plain_only(request))


@routes.get("/v0/devices/fresh_world_map")
async def fresh_world_map(request: web.Request) -> web.Response:
    """The world map for a signed-in user: the public snapshot with their own devices, private
    ones included (an admin's: every private device), read now and at precise coordinates.
    A test key gets the map of test devices. Never cached across users."""
    user = await _user(request)
    if user is None:
        raise errors.Unauthorized("Sign in to see your devices on the map.")
    if user.is_test:
        return await _test_map(request, user)
    # Translated: acquiring may have to connect, and fail as the driver says.
    with state.unavailable(), storage_errors.translated():
        async with request.app[state.db_pool].acquire() as conn:
            current = _current(request.app)
            own = await storage_worldmap.own_devices(conn, user.id, admin=user.role == "admin")
            # Deleted since the snapshot was read: gone from this map at once.
            gone = await storage_worldmap.deleted_since(
                conn, current.last_modified - SNAPSHOT_READ_MARGIN
            )
    entries = encoded_entries(
        own,
        now=datetime.now(UTC),
        online_window=timedelta(seconds=request.app[state.settings].online_window_s),
        precise=True,
    )
    return _private(request, snapshot.merged(current, entries, removed=gone))


async def _user(request: web.Request) -> auth.User | None:
    with state.unavailable(), storage_errors.translated():
        async with request.app[state.db_pool].acquire() as conn:
            user = await auth.current_user(request, conn)
    return user


async def _test_map(request: web.Request, user: auth.User) -> web.Response:
    """The map of the test devices `user`'s test key sees, read now: others' public ones at
    public coordinates, their own (an admin's: all) precisely."""
    admin = user.role == "admin"
    with state.unavailable(), storage_errors.translated():
        async with request.app[state.db_pool].acquire() as conn:
            rows = await storage_worldmap.test_devices(conn, user.id, admin=admin)
    now = datetime.now(UTC)
    window = timedelta(seconds=request.app[state.settings].online_window_s)
    bodies = [
        _encoded(row, now=now, online_window=window, precise=admin or row["owner_id"] == user.id)
        for row in rows
    ]
    return _private(request, b"[" + b",".join(bodies) + b"]")


def _private(request: web.Request, body: bytes) -> web.Response:
    """An answer for one user only: never cached, compressed if the client accepts it."""
    response = web.Response(
        body=body,
        content_type="application/json",
        headers={"Cache-Control": "private, no-store", "Vary": "Authorization, Accept-Encoding"},
    )
    if not _plain_only(request) and snapshot.accepts_gzip(
        request.headers.get("Accept-Encoding", "")
    ):
        response.enable_compression(web.ContentCoding.gzip)
    return response


# Lifecycle ------------------------------------------------------------------------------------


async def snapshot_ctx(app: web.Application) -> AsyncIterator[None]:
    """Start the refresher (after the pool) and wait for its first build, so the map is served
    from the start; if the database is down, start anyway and answer 503 until it is built."""
    refresher = _refresher(app)
    app[refresher_key] = refresher
    task = asyncio.create_task(refresher.run(), name="snapshot-refresher")
    task.add_done_callback(functools.partial(check_task, app))
    first = asyncio.create_task(refresher.first_attempt.wait(), name="snapshot-first-build")
    await asyncio.wait([first, task], timeout=START_WAIT_S, return_when=asyncio.FIRST_COMPLETED)
    first.cancel()
    await asyncio.wait([first])
    if refresher.current is None and not task.done():
        logger.warning(
            "world map not built at start: answering 503 until it is",
            extra={"action": "snapshot_unavailable"},
        )
    yield
    task.cancel()
    await asyncio.wait([task])


def _refresher(app: web.Application) -> snapshot.Refresher:
    settings = app[state.settings]
    online_window = timedelta(seconds=settings.online_window_s)

    builder = MapBuilder(online_window, proxy_cache_s=settings.worldmap_proxy_cache_s)
    pool = app[state.db_pool]
    # Set when only a full read can bring the map up to date: at first, after a deletion was
    # notified, and whenever the listener connects again (nobody listened meanwhile).
    read_all = asyncio.Event()
    read_all.set()

    async def build(previous: snapshot.Snapshot | None, notified: bool) -> snapshot.Snapshot:
        if previous is not None and not read_all.is_set():
            since = builder.horizon
            if not notified:
                # Due by age alone, only statuses and `new` tags can differ: the last build's
                # rows serve, and the database is spared any read.
                updated = await asyncio.to_thread(builder.aged, previous, now=datetime.now(UTC))
            elif since is not None:
                # Notified: read only the devices written since the last read.
                changes = await storage_worldmap.changed_devices(pool, since)
                updated = await asyncio.to_thread(
                    builder.changed, changes, since, previous, now=datetime.now(UTC)
                )
            else:
                updated = None
            if updated is not None:
                return updated
        read_all.clear()  # a deletion notified from now on asks for another full read
        read = await storage_worldmap.public_devices(pool)
        # Off the event loop: requests keep being served while a large map is encoded. The
        # build takes the rows over and drops what it no longer needs there too.
        return await asyncio.to_thread(
            builder.build, read.rows, previous, now=datetime.now(UTC), horizon=read.horizon
        )

    async def listen(
        on_change: Callable[[], None], on_lost: Callable[[], None]
    ) -> storage_pool.Connection:
        def notified(payload: str) -> None:
            if payload == storage_worldmap.FULL:
                read_all.set()
            on_change()

        listener = await storage_worldmap.listen(
            settings.db, notified, on_lost, timeout_s=LISTEN_TIMEOUT_S
        )
        read_all.set()  # deletions may have gone unnotified while nobody listened
        return listener

    async def unlisten(listener: storage_pool.Connection) -> None:
        await storage_worldmap.close_listener(listener, timeout_s=1.0)

    return snapshot.Refresher(
        build,
        listen,
        unlisten,
        debounce_s=DEBOUNCE_S,
        min_interval_s=MIN_INTERVAL_S,
        build_share=BUILD_SHARE,
        max_age_s=MAX_AGE_S,
        build_timeout_s=BUILD_TIMEOUT_S,
    )


def check_task(app: web.Application, task: asyncio.Task[None]) -> None:
    """A background task's done callback: one that failed or ended stops the service."""
    if task.cancelled():
        return
    logger.critical(
        "background task %s %s: stopping",
        task.get_name(),
        "failed" if task.exception() else "ended",
        exc_info=task.exception(),
        extra={"action": "task_died", "task": task.get_name()},
    )
    app[fatal_key]()


def terminate() -> None:
    # run_app turns SIGTERM into a graceful shutdown.
    signal.raise_signal(signal.SIGTERM)
