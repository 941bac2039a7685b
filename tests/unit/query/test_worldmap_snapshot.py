"""Snapshots as the world map serves them: encoding, validators, conditional requests, gzip,
merging a user's own entries, and the refresher's loop (with stand-ins for the database)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, cast

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from query import snapshot
from storage import errors
from tests.support import eventually

NOW = datetime(2024, 5, 1, 12, 0, 30, 123456, tzinfo=UTC)


def encoded(*entries: tuple[int, Any]) -> snapshot.Snapshot:
    return snapshot.encode(
        [key for key, _ in entries],
        [orjson.dumps(value) for _, value in entries],
        previous=None,
        now=NOW,
    )


async def get(current: snapshot.Snapshot, **headers: str) -> web.Response:
    return await snapshot.respond(make_mocked_request("GET", "/", headers=headers), current)


async def test_the_plain_and_gzip_bytes_are_the_same_array():
    current = encoded((1, {"id": 1}), (2, {"id": 2}))
    assert orjson.loads(current.plain) == [{"id": 1}, {"id": 2}]
    assert gzip.decompress(await current.gzipped()) == current.plain
    assert encoded().plain == b"[]"


async def test_gzip_is_made_once_on_first_demand_and_shared(monkeypatch):
    made: list[int] = []
    compress = gzip.compress

    def counted(data: bytes, **kwargs: Any) -> bytes:
        made.append(len(data))
        return compress(data, **kwargs)

    monkeypatch.setattr(gzip, "compress", counted)
    current = encoded((1, {"id": 1}), (2, {"id": 2}))
    assert made == []  # not with the snapshot: a map made again at each change, unasked
    first, second = await asyncio.gather(current.gzipped(), current.gzipped())
    assert first is second
    assert await current.gzipped() is first
    assert made == [len(current.plain)]


async def test_a_failed_compression_is_tried_again(monkeypatch):
    compress = gzip.compress
    failures = [MemoryError("out of memory")]

    def failing_once(data: bytes, **kwargs: Any) -> bytes:
        if failures:
            raise failures.pop()
        return compress(data, **kwargs)

    monkeypatch.setattr(gzip, "compress", failing_once)
    current = encoded((1, {"id": 1}))
    with pytest.raises(MemoryError):
        await current.gzipped()
    assert gzip.decompress(await current.gzipped()) == current.plain


def test_etags_are_strong_hashes_of_the_bytes_and_differ_by_encoding():
    current = encoded((1, {"id": 1}))
    assert current.etag.startswith('"') and current.etag.endswith('"')
    assert current.gzip_etag != current.etag
    assert encoded((1, {"id": 1})).etag == current.etag
    assert encoded((1, {"id": 2})).etag != current.etag


def test_the_same_bytes_keep_the_previous_snapshot():
    first = encoded((1, {"id": 1}))
    later = snapshot.encode([1], [orjson.dumps({"id": 1})], previous=first, now=datetime.now(UTC))
    assert later is first


async def test_a_200_carries_the_validators():
    current = encoded((1, {"id": 1}))
    response = await get(current)
    assert response.status == 200
    assert response.body == current.plain
    assert response.headers["ETag"] == current.etag
    assert response.headers["Last-Modified"] == "Wed, 01 May 2024 12:00:30 GMT"
    assert response.headers["Vary"] == "Accept-Encoding"
    assert response.headers["Content-Type"] == "application/json"
    assert "Content-Encoding" not in response.headers
    assert snapshot.PROXY_CACHE_HEADER not in response.headers


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Accept-Encoding": "gzip"},
        {"If-None-Match": '"any"'},  # made to match below
        {"If-None-Match": '"any"', "Accept-Encoding": "gzip"},
    ],
)
async def test_answers_let_a_proxy_keep_them_before_cache_control(headers):
    # nginx 1.22 obeys Cache-Control's `no-cache` unless X-Accel-Expires came first.
    current = snapshot.encode([1], [b'{"id":1}'], previous=None, now=NOW, proxy_cache_s=3)
    if "If-None-Match" in headers:
        headers = {**headers, "If-None-Match": current.etag}
    response = await snapshot.respond(make_mocked_request("GET", "/", headers=headers), current)
    assert response.status == (304 if "If-None-Match" in headers else 200)
    names = list(response.headers)
    assert response.headers[snapshot.PROXY_CACHE_HEADER] == "3"
    assert names.index(snapshot.PROXY_CACHE_HEADER) < names.index("Cache-Control")
    assert response.headers["Cache-Control"] == "public, no-cache"  # clients still revalidate


async def test_gzip_is_served_to_clients_that_accept_it():
    current = encoded((1, {"id": 1}))
    response = await get(current, **{"Accept-Encoding": "gzip, deflate, br"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["ETag"] == current.gzip_etag
    assert response.body == await current.gzipped()
    plain = await snapshot.respond(
        make_mocked_request("GET", "/", headers={"Accept-Encoding": "gzip"}),
        current,
        allow_gzip=False,
    )
    assert plain.body == current.plain


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("gzip", True),
        ("GZIP;q=0.5", True),
        ("deflate, gzip;q=1.0, *;q=0.5", True),
        ("*", True),
        ("x-gzip", True),
        ("identity", False),
        ("gzip;q=0", False),
        ("br, *;q=0", False),
        ("gzip;q=nonsense", False),
        ("", False),
    ],
)
def test_accept_encoding(header, expected):
    assert snapshot.accepts_gzip(header) is expected


@pytest.mark.parametrize(
    "header",
    ["{etag}", "W/{etag}", '"other", {etag}', '"other",W/{etag}', "*", "{gzip_etag}"],
)
async def test_a_matching_if_none_match_is_a_304_without_body(header):
    current = encoded((1, {"id": 1}))
    value = header.format(etag=current.etag, gzip_etag=current.gzip_etag)
    response = await get(current, **{"If-None-Match": value})
    assert response.status == 304
    assert response.body is None
    assert response.headers["ETag"] == current.etag


@pytest.mark.parametrize("header", ['"other"', 'W/"other"', "", "{etag_unquoted}"])
async def test_another_if_none_match_is_a_200(header):
    current = encoded((1, {"id": 1}))
    response = await get(
        current, **{"If-None-Match": header.format(etag_unquoted=current.etag[1:-1])}
    )
    assert response.status == 200


async def test_if_modified_since_is_a_304_when_nothing_changed_since():
    current = encoded((1, {"id": 1}))
    assert (
        await get(current, **{"If-Modified-Since": "Wed, 01 May 2024 12:00:30 GMT"})
    ).status == 304
    assert (
        await get(current, **{"If-Modified-Since": "Wed, 01 May 2024 12:00:29 GMT"})
    ).status == 200
    assert (await get(current, **{"If-Modified-Since": "yesterday"})).status == 200
    # If-None-Match wins over If-Modified-Since.
    both = {"If-None-Match": '"other"', "If-Modified-Since": "Wed, 01 May 2024 12:00:30 GMT"}
    assert (await get(current, **both)).status == 200


def test_merged_adds_and_replaces_entries_in_key_order():
    current = encoded((1, {"id": 1}), (3, {"id": 3}), (5, {"id": 5}))
    assert snapshot.merged(current, []) == current.plain
    mine = [(4, b'{"id":4,"mine":true}'), (3, b'{"id":3,"mine":true}'), (9, b'{"id":9}')]
    assert orjson.loads(snapshot.merged(current, mine)) == [
        {"id": 1},
        {"id": 3, "mine": True},
        {"id": 4, "mine": True},
        {"id": 5},
        {"id": 9},
    ]
    assert orjson.loads(snapshot.merged(encoded(), mine))[0] == {"id": 3, "mine": True}


# The refresher, with stand-ins for the database ---------------------------------------------


class Listener:
    def __init__(self) -> None:
        self.closed = False

    def is_closed(self):
        return self.closed


class Database:
    """Stands in for the listener connection and the rows: `version` is what a build shows."""

    def __init__(self) -> None:
        self.version = 0
        self.listeners: list[Listener] = []
        self.on_change: Callable[[], None] = lambda: None
        self.on_lost: Callable[[], None] = lambda: None
        self.down = False
        self.refusing = False
        self.broken = False
        self.notified: list[bool] = []  # what each build was told

    async def build(self, previous, notified):
        self.notified.append(notified)
        if self.down:
            raise errors.StorageUnavailable("down")
        if self.refusing:
            raise errors.StorageError("42P01: relation does not exist")
        if self.broken:
            raise RuntimeError("a bug")
        return snapshot.encode([1], [orjson.dumps(self.version)], previous=previous, now=NOW)

    async def listen(self, on_change, on_lost):
        if self.down:
            raise errors.StorageUnavailable("down")
        self.on_change, self.on_lost = on_change, on_lost
        self.listeners.append(Listener())
        return cast(Any, self.listeners[-1])

    async def unlisten(self, listener):
        listener.closed = True

    def change(self):
        self.version += 1
        self.on_change()

    def lose_connection(self):
        self.listeners[-1].closed = True
        self.on_lost()


@pytest.fixture
async def database():
    return Database()


@pytest.fixture
async def refresher(database):
    refresher = snapshot.Refresher(
        database.build,
        database.listen,
        database.unlisten,
        debounce_s=0.01,
        min_interval_s=0.01,
        max_age_s=600,
    )
    task = asyncio.create_task(refresher.run(), name="test-refresher")
    await asyncio.wait_for(refresher.first_attempt.wait(), 10)
    yield refresher
    task.cancel()
    await asyncio.wait([task])
    assert task.cancelled()
    assert all(listener.closed for listener in database.listeners)


def shows(refresher: snapshot.Refresher, version: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return refresher.current is not None and orjson.loads(refresher.current.plain) == [version]

    return check


async def test_the_first_build_happens_at_once(refresher, database):
    assert orjson.loads(refresher.current.plain) == [0]
    assert refresher.listens == 1


async def test_a_change_is_built_after_its_notification(refresher, database):
    database.change()
    await eventually(shows(refresher, 1), within_s=10)
    database.change()
    database.change()
    await eventually(shows(refresher, 3), within_s=10)
    assert set(database.notified) == {True}


async def test_a_lost_listener_is_reopened_and_the_map_rebuilt(refresher, database):
    database.version = 5  # a change nobody was told about
    database.lose_connection()
    await eventually(shows(refresher, 5), within_s=10)
    assert refresher.listens == 2
    database.change()
    await eventually(shows(refresher, 6), within_s=10)


async def test_an_outage_keeps_the_last_snapshot_until_the_database_is_back(refresher, database):
    first = refresher.current
    database.down = True
    database.lose_connection()

    async def failed():
        return refresher.failures >= 1

    await eventually(failed, within_s=10)
    assert refresher.current is first
    database.down = False
    database.version = 7
    await eventually(shows(refresher, 7), within_s=20)


async def test_a_database_error_is_retried_not_fatal(refresher, database):
    database.refusing = True
    database.change()

    async def failed():
        return refresher.failures >= 1

    await eventually(failed, within_s=10)
    database.refusing = False
    database.change()
    await eventually(shows(refresher, 2), within_s=20)


async def test_a_bug_in_the_build_ends_the_refresher_with_its_error(database):
    database.broken = True
    refresher = snapshot.Refresher(database.build, database.listen, database.unlisten)
    with pytest.raises(RuntimeError, match="a bug"):
        await asyncio.wait_for(refresher.run(), 10)
    assert all(listener.closed for listener in database.listeners)


async def test_the_snapshot_is_rebuilt_when_it_reaches_its_maximum_age(database):
    refresher = snapshot.Refresher(
        database.build, database.listen, database.unlisten, min_interval_s=0.01, max_age_s=0.05
    )
    task = asyncio.create_task(refresher.run(), name="test-refresher")
    try:
        await eventually(shows(refresher, 0), within_s=10)
        database.version = 1  # no notification
        await eventually(shows(refresher, 1), within_s=10)
        # The first build follows the listener's opening; those since, only the age.
        assert database.notified[0] is True
        assert set(database.notified[1:]) == {False}
    finally:
        task.cancel()
        await asyncio.wait([task])


async def test_slow_builds_are_spaced_to_take_their_share_of_the_time(database):
    slow = Database()

    async def build(previous, notified):
        await asyncio.sleep(0.05)
        return await slow.build(previous, notified)

    refresher = snapshot.Refresher(
        build, slow.listen, slow.unlisten, min_interval_s=0.01, max_age_s=600, build_share=0.01
    )
    assert refresher.interval_s == 0.01  # nothing built yet
    task = asyncio.create_task(refresher.run(), name="test-refresher")
    try:
        await eventually(shows(refresher, 0), within_s=10)
        # The build took at least 0.05 s (less the clock's resolution): the next waits 100 times
        # that, counted from the start of the last.
        assert refresher.interval_s >= 4.5
    finally:
        task.cancel()
        await asyncio.wait([task])


async def test_quick_builds_wait_only_the_minimum_interval(database):
    refresher = snapshot.Refresher(
        database.build, database.listen, database.unlisten, min_interval_s=5.0, build_share=0.5
    )
    task = asyncio.create_task(refresher.run(), name="test-refresher")
    try:
        await eventually(shows(refresher, 0), within_s=10)
        assert refresher.interval_s == 5.0  # the build took far less than 2.5 s
    finally:
        task.cancel()
        await asyncio.wait([task])
