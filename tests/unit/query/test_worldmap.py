"""World-map entries and snapshot building, from rows (no database)."""

from __future__ import annotations

import gc
import gzip
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from query import documents, geo, worldmap
from storage import worldmap as storage_worldmap

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)
REFERENCE_FIELDS = {
    "id",
    "name",
    "description",
    "owner_id",
    "owner_username",
    "latitude",
    "longitude",
    "city",
    "country_code",
    "kit_id",
    "status",
    "exposure",
    "data",
    "added_at",
}
CURRENT_API_FIELDS = {
    "state",
    "system_tags",
    "user_tags",
    "last_reading_at",
    "location",
    "hardware",
}


ARRAYS = ("user_tags", "sensor_ids", "raw_values", "values")


def row(**overrides: Any) -> dict[str, Any]:
    """A row as storage.worldmap.public_devices returns it (arrays given here as lists)."""
    base = {
        "id": 7,
        "name": "Plaça del Sol",
        "description": "SCK 2.1 on a balcony",
        "owner_id": 3,
        "kit_id": 26,
        "latitude": 41.403629,
        "longitude": 2.156487,
        "elevation": 12.0,
        "exposure": "outdoor",
        "city": "Barcelona",
        "country_code": "ES",
        "user_tags": ["balcony"],
        "precise_location": False,
        "hardware_version": None,
        "last_reading_at": NOW - timedelta(minutes=2),
        "last_posted_at": NOW - timedelta(minutes=1, microseconds=5),
        "created_at": NOW - timedelta(days=30),
        "owner_username": "demo",
        "kit_slug": "sck-2-1",
        "kit_name": "SCK 2.1",
        "kit_version": "2.1",
        "sensor_ids": [55, 56],
        "raw_values": [21.4, 40.0],
        "values": [21.5, None],
    }
    return {
        name: orjson.dumps(value).decode() if name in ARRAYS and value is not None else value
        for name, value in (base | overrides).items()
    }


def encoded_entry(device: dict[str, Any], *, precise: bool = False) -> Any:
    return orjson.loads(
        worldmap.encoded_entries([device], now=NOW, online_window=WINDOW, precise=precise)[0][1]
    )


def test_an_entry_has_the_v0_reference_fields_and_the_current_apis():
    entry = encoded_entry(row())
    assert set(entry) == REFERENCE_FIELDS | CURRENT_API_FIELDS
    assert entry["id"] == 7
    assert entry["owner_username"] == "demo"
    assert entry["status"] == "online"
    assert entry["state"] == "has_published"
    assert entry["system_tags"] == ["online", "outdoor"]
    assert entry["user_tags"] == ["balcony"]
    assert entry["added_at"] == "2024-04-01T12:00:00Z"
    assert entry["last_reading_at"] == "2024-05-01T11:58:00Z"
    assert entry["hardware"] == {
        "name": "SCK 2.1",
        "type": "SCK",
        "version": "2.1",
        "slug": "sck-2-1",
        "last_status_message": None,
    }


def test_timestamps_are_written_as_the_device_document_writes_them():
    device = row()
    entry = encoded_entry(device)
    assert entry["data"]["added_at"] == documents.timestamp(device["last_posted_at"])
    assert entry["data"]["recorded_at"] == documents.timestamp(device["last_reading_at"])


def test_data_holds_the_latest_readings_by_sensor_id():
    assert encoded_entry(row())["data"] == {
        "recorded_at": "2024-05-01T11:58:00Z",
        "added_at": "2024-05-01T11:58:59Z",
        "calibrated_at": "2024-05-01T11:58:59Z",
        "55": 21.5,
        "55_raw": 21.4,
        "56": None,
        "56_raw": 40.0,
    }


def test_a_device_without_latest_readings_has_only_the_times_in_data():
    entry = encoded_entry(row(sensor_ids=None, raw_values=None, values=None))
    assert set(entry["data"]) == {"recorded_at", "added_at", "calibrated_at"}


def test_public_coordinates_are_rounded_unless_precise():
    rounded = encoded_entry(row())
    assert (rounded["latitude"], rounded["longitude"]) == (41.404, 2.156)
    assert rounded["location"]["latitude"] == 41.404
    assert rounded["location"]["geohash"] == geo.geohash(41.404, 2.156)
    assert rounded["location"]["elevation"] == 12.0
    allowed = encoded_entry(row(precise_location=True))
    assert (allowed["latitude"], allowed["longitude"]) == (41.403629, 2.156487)
    owner = encoded_entry(row(), precise=True)
    assert owner["location"]["longitude"] == 2.156487


def test_what_a_build_keeps_per_device_is_not_tracked_by_the_garbage_collector():
    # Each collection would walk it, for each of the map's devices.
    builder = worldmap.MapBuilder(WINDOW)
    builder.build([row(id=1), row(id=2)], None, now=NOW)
    assert not any(gc.is_tracked(device) for device in builder.rows)
    assert not gc.is_tracked(builder._made.aged)
    assert not gc.is_tracked(builder._made.bodies)


def test_status_and_tags_age():
    old = row(last_posted_at=NOW - timedelta(hours=2), last_reading_at=NOW - timedelta(hours=2))
    assert encoded_entry(old)["status"] == "offline"
    assert encoded_entry(old)["system_tags"] == ["offline", "outdoor"]
    young = row(created_at=NOW - timedelta(days=1), exposure=None)
    assert encoded_entry(young)["system_tags"] == ["new", "online"]


async def test_a_build_is_the_json_array_of_the_entries_in_order():
    builder = worldmap.MapBuilder(WINDOW)
    devices = [row(id=1), row(id=2, name="Second")]
    built = builder.build(devices, None, now=NOW)
    body = orjson.loads(built.plain)
    assert [entry["id"] for entry in body] == [1, 2]
    assert body[1]["name"] == "Second"
    assert orjson.loads(gzip.decompress(await built.gzipped())) == body
    assert built.count == 2


def test_an_unchanged_rebuild_keeps_the_snapshot_and_its_validators():
    builder = worldmap.MapBuilder(WINDOW)
    first = builder.build([row(id=1), row(id=2)], None, now=NOW)
    again = builder.build([row(id=1), row(id=2)], first, now=NOW + timedelta(seconds=5))
    assert again is first


def test_a_changed_reading_or_an_aged_status_gives_a_new_snapshot():
    builder = worldmap.MapBuilder(WINDOW)
    first = builder.build([row(id=1), row(id=2)], None, now=NOW)
    posted = builder.build([row(id=1), row(id=2, values=[22.0, None])], first, now=NOW)
    assert posted.etag != first.etag
    assert orjson.loads(posted.plain)[1]["data"]["55"] == 22.0
    aged = builder.build([row(id=1), row(id=2, values=[22.0, None])], posted, now=NOW + WINDOW)
    assert aged.etag != posted.etag
    assert {entry["status"] for entry in orjson.loads(aged.plain)} == {"offline"}


def test_removed_and_added_devices_change_the_snapshot():
    builder = worldmap.MapBuilder(WINDOW)
    first = builder.build([row(id=1), row(id=2)], None, now=NOW)
    swapped = builder.build([row(id=1), row(id=3)], first, now=NOW)
    assert [entry["id"] for entry in orjson.loads(swapped.plain)] == [1, 3]
    emptied = builder.build([], swapped, now=NOW)
    assert orjson.loads(emptied.plain) == []


def test_entries_are_not_reused_for_a_snapshot_the_builder_did_not_make_last():
    builder = worldmap.MapBuilder(WINDOW)
    first = builder.build([row(id=1)], None, now=NOW)
    builder.build([row(id=1, name="Renamed")], first, now=NOW)  # built, but never served
    again = builder.build([row(id=1, name="Renamed")], first, now=NOW)
    assert orjson.loads(again.plain)[0]["name"] == "Renamed"


def test_the_last_rows_rebuild_the_map_as_statuses_age():
    builder = worldmap.MapBuilder(WINDOW)
    assert builder.rows == []
    first = builder.build([row(id=1), row(id=2)], None, now=NOW)
    assert [device["id"] for device in builder.rows] == [1, 2]
    aged = builder.build(builder.rows, first, now=NOW + WINDOW)
    assert {entry["status"] for entry in orjson.loads(aged.plain)} == {"offline"}
    assert builder.build(builder.rows, aged, now=NOW + 2 * WINDOW) is aged


def statuses(built: Any) -> dict[int, str]:
    return {entry["id"]: entry["status"] for entry in orjson.loads(built.plain)}


def test_ageing_encodes_again_only_the_devices_whose_status_or_new_tag_was_due_to_change():
    builder = worldmap.MapBuilder(WINDOW)
    early = NOW - timedelta(minutes=1)  # offline at NOW + 9 minutes
    late = NOW + timedelta(minutes=3)  # offline at NOW + 13 minutes
    young = NOW - timedelta(days=7) + timedelta(minutes=11)  # `new` until NOW + 11 minutes
    devices = [
        row(id=1, last_posted_at=early, last_reading_at=early),
        row(id=2, last_posted_at=late, last_reading_at=late, created_at=young),
        row(id=3, last_posted_at=late, last_reading_at=late),
    ]
    first = builder.build(devices, None, now=NOW + timedelta(minutes=4))
    assert statuses(first) == {1: "online", 2: "online", 3: "online"}
    assert builder.aged(first, now=NOW + timedelta(minutes=8)) is first  # nothing due yet

    offline = builder.aged(first, now=NOW + timedelta(minutes=9))
    assert offline is not None and offline is not first
    assert statuses(offline) == {1: "offline", 2: "online", 3: "online"}
    unchanged = builder._made.bodies[3]

    grown_up = builder.aged(offline, now=NOW + timedelta(minutes=11))
    assert grown_up is not None and grown_up is not offline
    assert "new" not in orjson.loads(grown_up.plain)[1]["system_tags"]
    assert builder.aged(grown_up, now=NOW + timedelta(minutes=12)) is grown_up

    last = builder.aged(grown_up, now=NOW + timedelta(minutes=13))
    assert last is not None
    assert statuses(last) == {1: "offline", 2: "offline", 3: "offline"}
    assert builder._made.bodies[3] is not unchanged  # encoded again once, when it aged
    assert builder.aged(last, now=NOW + timedelta(days=30)) is last  # nothing ages any more
    # The same as building every device again at that moment.
    again = worldmap.MapBuilder(WINDOW).build(builder.rows, None, now=NOW + timedelta(days=30))
    assert again.plain == last.plain


def test_ageing_a_snapshot_the_builder_did_not_make_last_needs_the_rows_read_again():
    builder = worldmap.MapBuilder(WINDOW)
    first = builder.build([row(id=1)], None, now=NOW)
    builder.build([row(id=1, name="Renamed")], None, now=NOW)  # built, but never served
    assert builder.aged(first, now=NOW + WINDOW) is None


class _Watched(dict):  # type: ignore[type-arg]
    """A row that notes, when freed, which function was running: where its memory went."""

    freed_in: list[str]

    def __del__(self) -> None:
        try:
            self.freed_in.append(sys._getframe(1).f_code.co_name)
        except ValueError:  # freed with no Python code running (at exit)
            self.freed_in.append("")


def test_a_build_takes_the_rows_over_and_drops_those_it_no_longer_needs_one_at_a_time():
    freed_in: list[str] = []
    _Watched.freed_in = freed_in

    def watched(**fields: Any) -> _Watched:
        return _Watched(row(**fields))

    builder = worldmap.MapBuilder(WINDOW)
    devices = [watched(id=1), watched(id=2)]
    first = builder.build(devices, None, now=NOW)
    assert devices == []  # taken over: the builder holds the rows now
    assert freed_in == []
    # Read again, unchanged: the new copies go, each on its own.
    unchanged = builder.build([watched(id=1), watched(id=2)], first, now=NOW)
    assert unchanged is first
    assert freed_in == ["_drop", "_drop"]
    # Changed: the previous build's rows go, each on its own; the new ones stay.
    posted = builder.build([watched(id=1), watched(id=2, name="Renamed")], first, now=NOW)
    assert posted is not first
    assert freed_in == ["_drop"] * 4
    assert [device["name"] for device in builder.rows][1] == "Renamed"


def changes(
    *rows: dict[str, Any], hidden: tuple[int, ...] = (), horizon: int
) -> storage_worldmap.Changes:
    """What storage.worldmap.changed_devices gives: the rows shown, the ids hidden."""
    return storage_worldmap.Changes(list(rows), list(hidden), horizon)


def test_changes_encode_again_only_the_devices_read_and_match_a_full_build():
    builder = worldmap.MapBuilder(WINDOW)
    first = builder.build([row(id=2), row(id=4), row(id=6)], None, now=NOW, horizon=10)
    assert builder.horizon == 10
    untouched = builder._made.bodies[6]

    read = changes(
        row(id=1, name="Lower id, new"),  # goes first
        row(id=2, values=[22.0, None]),  # a post
        row(id=8, name="Higher id, new"),  # goes last
        hidden=(4, 9),  # made private; never shown, so nothing to remove
        horizon=15,
    )
    updated = builder.changed(read, 10, first, now=NOW)
    assert updated is not None and updated is not first
    body = orjson.loads(updated.plain)
    assert [entry["id"] for entry in body] == [1, 2, 6, 8]
    assert body[1]["data"]["55"] == 22.0
    assert builder._made.bodies[6] is untouched  # not read, not aged: not encoded again
    assert builder.horizon == 15
    # Served as a map built from every row at once would be, spans and all.
    again = worldmap.MapBuilder(WINDOW).build(builder.rows, None, now=NOW)
    assert again.plain == updated.plain
    assert list(again.spans) == list(updated.spans)


def test_changes_that_alter_nothing_keep_the_snapshot_and_move_the_horizon():
    builder = worldmap.MapBuilder(WINDOW)
    first = builder.build([row(id=1), row(id=2)], None, now=NOW, horizon=10)
    same = builder.changed(changes(row(id=2), horizon=12), 10, first, now=NOW)
    assert same is first
    assert builder.horizon == 12
    assert builder.changed(changes(horizon=13), 12, first, now=NOW) is first
    assert builder.horizon == 13


def test_changes_age_the_other_devices_too():
    builder = worldmap.MapBuilder(WINDOW)
    early = NOW - timedelta(minutes=5)  # offline at NOW + 5 minutes
    first = builder.build(
        [row(id=1, last_posted_at=early, last_reading_at=early), row(id=2)],
        None,
        now=NOW,
        horizon=10,
    )
    later = NOW + timedelta(minutes=6)
    updated = builder.changed(
        changes(row(id=2, last_posted_at=later, last_reading_at=later), horizon=11),
        10,
        first,
        now=later,
    )
    assert updated is not None
    assert statuses(updated) == {1: "offline", 2: "online"}


def test_changes_need_a_full_read_unless_they_follow_the_last_build_read():
    builder = worldmap.MapBuilder(WINDOW)
    unknown = builder.build([row(id=1)], None, now=NOW)  # no horizon: changes since when?
    assert builder.changed(changes(horizon=11), 10, unknown, now=NOW) is None

    first = builder.build([row(id=1)], unknown, now=NOW, horizon=10)
    assert builder.changed(changes(horizon=11), 9, first, now=NOW) is None  # since another read
    builder.build([row(id=1, name="Renamed")], None, now=NOW, horizon=12)  # never served
    assert builder.changed(changes(horizon=13), 12, first, now=NOW) is None


def test_changes_that_keep_coming_leave_the_heap_of_due_times_bounded():
    # Each post moves a device's next status change: the time noted before goes stale.
    builder = worldmap.MapBuilder(WINDOW)
    built = builder.build([row(id=1), row(id=2)], None, now=NOW, horizon=0)
    for second in range(1, 3001):
        at = NOW + timedelta(seconds=second)
        read = changes(row(id=1, last_posted_at=at, last_reading_at=at), horizon=second)
        updated = builder.changed(read, second - 1, built, now=at)
        assert updated is not None
        built = updated
    assert len(builder._made.due) <= 2 * len(builder._made.next_due) + 1024
    # The stale times are skipped: device 2 turns offline when due, device 1 has not.
    end = NOW + timedelta(seconds=3000)
    aged = builder.aged(built, now=NOW + WINDOW)
    assert aged is not None
    assert statuses(aged) == {1: "online", 2: "offline"}
    assert builder.aged(aged, now=end + WINDOW) is not aged
