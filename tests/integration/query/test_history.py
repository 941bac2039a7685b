"""GET /v0/devices/:id/readings as JSON: shape, parameters, errors, time zones and access."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from query import history
from storage import demo
from tests.integration.query import history_support as support

DAY = (datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC))


@pytest.fixture
async def fleet(db_pool):
    async with db_pool.acquire() as conn:
        return await demo.seed(conn)


@pytest.fixture
async def client(query_app, aiohttp_client):
    return await support.history_client(aiohttp_client, query_app)


@pytest.fixture
async def store(db_pool):
    """Store readings and rebuild the rollups."""

    async def store(rows):
        async with db_pool.acquire() as conn:
            await support.insert_readings(conn, rows)
            await support.fill_rollups(conn)

    return store


def _url(device_id, **params) -> str:
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return f"/v0/devices/{device_id}/readings?{query}"


async def _get(client, device_id, **params):
    response = await client.get(_url(device_id, **params))
    assert response.status == 200, await response.text()
    return await response.json()


async def test_one_sensor_answers_exactly_the_documented_shape(client, fleet, store):
    device = fleet.devices[0].id
    await store(support.every_minute(device, 55, *DAY))
    body = await _get(
        client, device, sensor_id=55, rollup="6h", **{"from": "2024-05-01", "to": "2024-05-02"}
    )
    assert list(body) == [
        "device_id",
        "sensor_key",
        "sensor_id",
        "component_id",
        "rollup",
        "function",
        "from",
        "to",
        "sample_size",
        "readings",
    ]
    assert body["device_id"] == device
    assert body["sensor_key"] == "temp"  # the SCK 2.1 kit's key for sensor 55
    assert body["sensor_id"] == 55
    assert body["component_id"] is None
    assert body["rollup"] == "6h"
    assert body["function"] == "avg"
    assert body["from"] == "2024-05-01T00:00:00Z"
    assert body["to"] == "2024-05-02T00:00:00Z"
    assert body["sample_size"] == 1440
    # newest first, at bucket starts; minute i has value i
    assert body["readings"] == [
        ["2024-05-01T18:00:00Z", (1080 + 1439) / 2],
        ["2024-05-01T12:00:00Z", (720 + 1079) / 2],
        ["2024-05-01T06:00:00Z", (360 + 719) / 2],
        ["2024-05-01T00:00:00Z", (0 + 359) / 2],
    ]


async def test_the_component_id_is_given_for_a_sensor_the_device_has(client, fleet, db_pool):
    device = fleet.devices[0].id
    async with db_pool.acquire() as conn:
        component = await conn.fetchval(
            "INSERT INTO components (device_id, sensor_id, key) VALUES ($1, 55, 'temp') "
            "RETURNING id",
            device,
        )
    body = await _get(client, device, sensor_id=55, rollup="1d")
    assert body["component_id"] == component


@pytest.mark.parametrize(
    ("key", "component", "sensor_id"),
    [
        ("temp", None, 55),  # the kit's key wins over the catalogue's default_key (sensor 12)
        ("temp", (12, "temp"), 12),  # a component's key wins over the kit's
        ("outside", (12, "outside"), 12),
        ("light", None, 14),  # only the catalogue knows it: the device lacks it
        ("temp_sht31", None, 55),  # a catalogue default key
    ],
)
async def test_a_sensor_key_resolves_by_components_then_kit_then_catalogue(
    client, fleet, db_pool, store, key, component, sensor_id
):
    device = fleet.devices[0].id
    if component is not None:
        async with db_pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO components (device_id, sensor_id, key) VALUES ($1, $2, $3)",
                device,
                *component,
            )
    await store(support.every_minute(device, sensor_id, *DAY))
    body = await _get(
        client, device, sensor_key=key, rollup="1d", **{"from": "2024-05-01", "to": "2024-05-02"}
    )
    assert body["sensor_id"] == sensor_id
    assert body["sensor_key"] == key
    assert body["sample_size"] == 1440
    assert body["readings"] == [["2024-05-01T00:00:00Z", 719.5]]


async def test_a_sensor_the_device_lacks_is_empty_not_an_error(client, fleet, store):
    device = fleet.devices[0].id
    await store(support.every_minute(fleet.devices[1].id, 14, *DAY))  # another device's
    bodies = []
    for params in [{"sensor_id": "14"}, {"sensor_id": "99999"}, {"sensor_key": "nothing"}]:
        body = await _get(
            client, device, rollup="1h", **params, **{"from": "2024-05-01", "to": "2024-05-02"}
        )
        assert body["readings"] == []
        assert body["sample_size"] == 0
        bodies.append(body)
    assert [b["sensor_id"] for b in bodies] == [14, 99999, None]
    assert [b["sensor_key"] for b in bodies] == ["light", None, "nothing"]


async def test_several_sensors_answer_one_series_each_in_the_order_asked(client, fleet, store):
    device = fleet.devices[0].id
    await store(support.every_minute(device, 55, *DAY) + support.every_minute(device, 56, *DAY))
    body = await _get(
        client,
        device,
        sensor_id="56,55,14",
        rollup="1d",
        function="max",
        **{"from": "2024-05-01", "to": "2024-05-02"},
    )
    assert list(body) == ["device_id", "series"]
    assert body["device_id"] == device
    assert [s["sensor_id"] for s in body["series"]] == [56, 55, 14]
    assert [s["sensor_key"] for s in body["series"]] == ["hum", "temp", "light"]
    assert [s["readings"] for s in body["series"]] == [
        [["2024-05-01T00:00:00Z", 1439.0]],
        [["2024-05-01T00:00:00Z", 1439.0]],
        [],
    ]
    single = await _get(
        client,
        device,
        sensor_id=55,
        rollup="1d",
        function="max",
        **{"from": "2024-05-01", "to": "2024-05-02"},
    )
    assert body["series"][1] == single
    by_key = await _get(
        client,
        device,
        sensor_key="hum,temp",
        rollup="1d",
        **{"from": "2024-05-01", "to": "2024-05-02"},
    )
    assert [s["sensor_id"] for s in by_key["series"]] == [56, 55]


async def test_limit_keeps_the_newest_buckets(client, fleet, store):
    device = fleet.devices[0].id
    await store(support.every_minute(device, 55, *DAY))
    body = await _get(
        client,
        device,
        sensor_id=55,
        rollup="1h",
        limit=3,
        **{"from": "2024-05-01", "to": "2024-05-02"},
    )
    assert [t for t, _ in body["readings"]] == [
        "2024-05-01T23:00:00Z",
        "2024-05-01T22:00:00Z",
        "2024-05-01T21:00:00Z",
    ]
    assert body["sample_size"] == 180


async def test_raw_aggregates_the_raw_values(client, fleet, store):
    device = fleet.devices[0].id
    rows = [
        (t, d, s, 10 * (value or 0.0), value)
        for t, d, s, _, value in support.every_minute(device, 55, *DAY)
    ]
    await store(rows)
    span = {"from": "2024-05-01", "to": "2024-05-02"}
    calibrated = await _get(client, device, sensor_id=55, rollup="1d", function="sum", **span)
    raw = await _get(client, device, sensor_id=55, rollup="1d", function="sum", raw="true", **span)
    assert calibrated["readings"] == [["2024-05-01T00:00:00Z", sum(range(1440))]]
    assert raw["readings"] == [["2024-05-01T00:00:00Z", 10 * sum(range(1440))]]


async def test_all_intervals_gives_null_for_every_empty_bucket(client, fleet, store):
    device = fleet.devices[0].id
    rows = support.every_minute(device, 55, *DAY)
    await store([r for r in rows if not 3 <= r[0].hour < 6])  # a 3-hour gap
    span = {"from": "2024-05-01T01:30:00Z", "to": "2024-05-01T08:00:00Z"}
    sparse = await _get(client, device, sensor_id=55, rollup="1h", function="count", **span)
    full = await _get(
        client, device, sensor_id=55, rollup="1h", function="count", all_intervals="true", **span
    )
    assert [v for _, v in sparse["readings"]] == [60, 60, 60, 30]
    assert full["readings"] == [
        ["2024-05-01T07:00:00Z", 60],
        ["2024-05-01T06:00:00Z", 60],
        ["2024-05-01T05:00:00Z", None],
        ["2024-05-01T04:00:00Z", None],
        ["2024-05-01T03:00:00Z", None],
        ["2024-05-01T02:00:00Z", 60],
        ["2024-05-01T01:00:00Z", 30],
    ]
    assert full["sample_size"] == sparse["sample_size"] == 210
    limited = await _get(
        client, device, sensor_id=55, rollup="1h", all_intervals="true", limit=4, **span
    )
    assert [v for _, v in limited["readings"]][2:] == [None, None]


async def test_all_intervals_over_too_many_buckets_is_a_400(client, fleet):
    response = await client.get(
        _url(fleet.devices[0].id, sensor_id=55, rollup="1s", all_intervals="true", relative="1y")
    )
    assert response.status == 400
    body = await response.json()
    assert [f["name"] for f in body["fields"]] == ["all_intervals"]


async def test_more_buckets_than_a_json_answer_holds_is_a_400(client, fleet, store, monkeypatch):
    device = fleet.devices[0].id
    await store(support.every_minute(device, 55, *DAY))
    monkeypatch.setattr(history, "MAX_READINGS", 23)
    span = {"from": "2024-05-01", "to": "2024-05-02"}
    response = await client.get(_url(device, sensor_id=55, rollup="1h", **span))
    assert response.status == 400
    assert [f["name"] for f in (await response.json())["fields"]] == ["rollup"]
    assert (
        await client.get(_url(device, sensor_id=55, rollup="1h", limit=23, **span))
    ).status == 200


async def test_from_and_to_take_dates_datetimes_and_epoch_seconds(client, fleet, store):
    device = fleet.devices[0].id
    await store(support.every_minute(device, 55, *DAY))
    start = int(datetime(2024, 5, 1, 6, tzinfo=UTC).timestamp())
    for span in [
        {"from": "2024-05-01T06:00:00Z", "to": "2024-05-01T08:00:00Z"},
        {"from": "2024-05-01T08:00:00%2B02:00", "to": "2024-05-01T08:00:00"},
        {"from": "2024-05-01T08:00:00+02:00", "to": "2024-05-01T08:00:00Z"},  # `+` sent as space
        {"from": str(start), "to": str(start + 7200)},
        {"from": "2024-05-01 06:00", "to": f"{start + 7200}.0"},
    ]:
        body = await _get(client, device, sensor_id=55, rollup="1h", function="count", **span)
        assert body["from"] == "2024-05-01T06:00:00Z", span
        assert body["to"] == "2024-05-01T08:00:00Z", span
        assert body["readings"] == [["2024-05-01T07:00:00Z", 60], ["2024-05-01T06:00:00Z", 60]]


async def test_to_defaults_to_now_and_from_to_six_weeks_or_relative_before(client, fleet, store):
    device = fleet.devices[0].id
    now = datetime.now(UTC).replace(microsecond=0)
    ages = [timedelta(days=1), timedelta(days=20), timedelta(days=41), timedelta(days=43)]
    await store([(now - age, device, 55, 1.0, 1.0) for age in ages])
    body = await _get(client, device, sensor_id=55, rollup="1y", function="count")
    assert sum(v for _, v in body["readings"]) == 3
    to = support.parse_time(body["to"])
    assert to.microsecond == 0  # now, rounded up to a whole second
    assert now <= to <= datetime.now(UTC) + timedelta(seconds=1)
    assert to - support.parse_time(body["from"]) == timedelta(weeks=6)
    body = await _get(client, device, sensor_id=55, rollup="1y", function="count", relative="30d")
    assert sum(v for _, v in body["readings"]) == 2
    body = await _get(client, device, sensor_id=55, rollup="1y", function="count", relative="2M")
    assert sum(v for _, v in body["readings"]) == 4


@pytest.mark.parametrize(
    ("day", "hours"),
    [("2024-03-31", 23), ("2024-10-27", 25)],
)
async def test_tz_days_run_from_local_midnight_across_dst_changes(client, fleet, store, day, hours):
    device = fleet.devices[0].id
    start = datetime.fromisoformat(day).replace(tzinfo=UTC) - timedelta(days=2)
    await store(support.every_minute(device, 55, start, start + timedelta(days=4)))
    before = (datetime.fromisoformat(day) - timedelta(days=1)).date().isoformat()
    after = (datetime.fromisoformat(day) + timedelta(days=2)).date().isoformat()
    body = await _get(
        client,
        device,
        sensor_id=55,
        rollup="1d",
        function="count",
        tz="Europe/Madrid",
        **{"from": before, "to": after},
    )
    offsets = {"2024-03-31": ("+01:00", "+02:00"), "2024-10-27": ("+02:00", "+01:00")}[day]
    next_day = (datetime.fromisoformat(day) + timedelta(days=1)).date().isoformat()
    assert body["from"] == f"{before}T00:00:00{offsets[0]}"
    assert body["to"] == f"{after}T00:00:00{offsets[1]}"
    assert body["readings"] == [
        [f"{next_day}T00:00:00{offsets[1]}", 1440],
        [f"{day}T00:00:00{offsets[0]}", hours * 60],
        [f"{before}T00:00:00{offsets[0]}", 1440],
    ]


async def test_tz_weeks_start_on_local_monday_and_months_on_the_first(client, fleet, store):
    device = fleet.devices[0].id
    start = datetime(2024, 3, 24, tzinfo=UTC)
    await store(support.every_minute(device, 55, start, start + timedelta(days=14)))
    span = {"from": "2024-03-25", "to": "2024-04-05", "tz": "Europe/Madrid"}
    weeks = await _get(client, device, sensor_id=55, rollup="1w", function="count", **span)
    assert weeks["readings"] == [
        ["2024-04-01T00:00:00+02:00", 4 * 1440],
        ["2024-03-25T00:00:00+01:00", 7 * 1440 - 60],
    ]
    months = await _get(client, device, sensor_id=55, rollup="1M", function="count", **span)
    assert months["readings"] == [
        ["2024-04-01T00:00:00+02:00", 4 * 1440],
        ["2024-03-01T00:00:00+01:00", 7 * 1440 - 60],
    ]
    utc = await _get(
        client,
        device,
        sensor_id=55,
        rollup="1w",
        function="count",
        **{"from": "2024-03-25"},
        to="2024-04-05",
    )
    assert [t for t, _ in utc["readings"]] == ["2024-04-01T00:00:00Z", "2024-03-25T00:00:00Z"]


async def test_sub_day_rollups_keep_absolute_time_in_a_zone(client, fleet, store):
    device = fleet.devices[0].id
    start = datetime(2024, 3, 31, tzinfo=UTC)
    await store(support.every_minute(device, 55, start, start + timedelta(hours=3)))
    body = await _get(
        client,
        device,
        sensor_id=55,
        rollup="1h",
        function="count",
        tz="Asia/Kolkata",
        **{"from": "2024-03-31T00:00:00Z", "to": "2024-03-31T03:00:00Z"},
    )
    assert body["readings"] == [
        ["2024-03-31T07:30:00+05:30", 60],
        ["2024-03-31T06:30:00+05:30", 60],
        ["2024-03-31T05:30:00+05:30", 60],
    ]


async def test_millisecond_rollups_give_fractional_timestamps(client, fleet, store):
    device = fleet.devices[0].id
    start = datetime(2024, 5, 1, tzinfo=UTC)
    await store(
        [(start + timedelta(milliseconds=250 * i), device, 55, 1.0, float(i)) for i in range(8)]
    )
    body = await _get(
        client,
        device,
        sensor_id=55,
        rollup="500ms",
        function="sum",
        **{"from": "2024-05-01T00:00:00Z", "to": "2024-05-01T00:00:01Z"},
    )
    assert body["readings"] == [
        ["2024-05-01T00:00:00.500000Z", 2.0 + 3.0],
        ["2024-05-01T00:00:00Z", 0.0 + 1.0],
    ]


async def test_dev_is_the_sample_standard_deviation_and_null_for_one_value(client, fleet, store):
    device = fleet.devices[0].id
    t = datetime(2024, 5, 1, 10, tzinfo=UTC)
    await store(
        [
            (t, device, 55, 0.0, 2.0),
            (t + timedelta(minutes=1), device, 55, 0.0, 4.0),
            (t + timedelta(hours=1), device, 55, 0.0, 7.0),
        ]
    )
    body = await _get(
        client,
        device,
        sensor_id=55,
        rollup="1h",
        function="dev",
        **{"from": "2024-05-01", "to": "2024-05-02"},
    )
    assert body["readings"] == [
        ["2024-05-01T11:00:00Z", None],
        ["2024-05-01T10:00:00Z", pytest.approx(2**0.5)],
    ]


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"rollup": "1h"}, "sensor_id"),
        ({"sensor_id": "55", "sensor_key": "temp", "rollup": "1h"}, "sensor_id"),
        ({"sensor_id": "temp", "rollup": "1h"}, "sensor_id"),
        ({"sensor_id": "55,", "rollup": "1h"}, "sensor_id"),
        ({"sensor_id": ",".join(str(i) for i in range(1, 30)), "rollup": "1h"}, "sensor_id"),
        ({"sensor_key": "x" * 65, "rollup": "1h"}, "sensor_key"),
        ({"sensor_id": "55"}, "rollup"),
        ({"sensor_id": "55", "rollup": "1"}, "rollup"),
        ({"sensor_id": "55", "rollup": "0h"}, "rollup"),
        ({"sensor_id": "55", "rollup": "1x"}, "rollup"),
        ({"sensor_id": "55", "rollup": "h"}, "rollup"),
        ({"sensor_id": "55", "rollup": "1.5h"}, "rollup"),
        ({"sensor_id": "55", "rollup": "100000y"}, "rollup"),
        ({"sensor_id": "55", "rollup": "1h", "function": "median"}, "function"),
        ({"sensor_id": "55", "rollup": "1h", "from": "yesterday"}, "from"),
        ({"sensor_id": "55", "rollup": "1h", "from": "2024-02-30"}, "from"),
        ({"sensor_id": "55", "rollup": "1h", "from": "1800-01-01"}, "from"),
        ({"sensor_id": "55", "rollup": "1h", "to": "2024-13-01T00:00:00Z"}, "to"),
        ({"sensor_id": "55", "rollup": "1h", "from": "2024-05-02", "to": "2024-05-01"}, "from"),
        ({"sensor_id": "55", "rollup": "1h", "from": "2024-05-01", "to": "2024-05-01"}, "from"),
        ({"sensor_id": "55", "rollup": "1h", "relative": "6 weeks"}, "relative"),
        ({"sensor_id": "55", "rollup": "1h", "tz": "Mars/Olympus_Mons"}, "tz"),
        ({"sensor_id": "55", "rollup": "1h", "tz": "../../etc/passwd"}, "tz"),
        ({"sensor_id": "55", "rollup": "1h", "limit": "0"}, "limit"),
        ({"sensor_id": "55", "rollup": "1h", "limit": "ten"}, "limit"),
        ({"sensor_id": "55", "rollup": "1h", "raw": "maybe"}, "raw"),
        ({"sensor_id": "55", "rollup": "1h", "all_intervals": "yes please"}, "all_intervals"),
        ({"sensor_id": "55", "rollup": "1h", "format": "xml"}, "format"),
        ({"sensor_id": "55", "format": "csv", "all_intervals": "true"}, "all_intervals"),
    ],
)
async def test_a_bad_parameter_is_a_400_naming_it_and_what_is_accepted(client, fleet, params, name):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = await client.get(f"/v0/devices/{fleet.devices[0].id}/readings?{query}")
    assert response.status == 400
    body = await response.json()
    assert body["object"] == "error"
    assert body["code"] == "invalid_parameter"
    assert body["id"] == "bad_request"
    assert [f["name"] for f in body["fields"]] == [name]
    assert body["errors"][name]
    assert body["request_id"] == response.headers["X-Request-ID"]


async def test_every_bad_parameter_is_named_at_once(client, fleet):
    response = await client.get(
        _url(fleet.devices[0].id, rollup="1q", function="mode", tz="Nowhere", limit="-1")
    )
    assert response.status == 400
    names = {f["name"] for f in (await response.json())["fields"]}
    assert names == {"sensor_id", "rollup", "function", "tz", "limit"}


async def test_private_devices_readings_are_only_for_their_owner(client, fleet, db_pool, store):
    device = fleet.devices[1].id
    await store(support.every_minute(device, 55, *DAY))
    async with db_pool.acquire() as conn:
        await conn.execute("UPDATE devices SET is_private = true WHERE id = $1", device)
    url = _url(device, sensor_id=55, rollup="1d", **{"from": "2024-05-01", "to": "2024-05-02"})
    anonymous = await client.get(url)
    assert anonymous.status == 404
    assert (await anonymous.json())["code"] == "device_not_found"
    owner = await client.get(url, headers={"Authorization": f"Bearer {fleet.access_token}"})
    assert owner.status == 200
    assert (await owner.json())["sample_size"] == 1440
    bad = await client.get(url, headers={"Authorization": "Bearer not-a-token"})
    assert bad.status == 401


@pytest.mark.parametrize("device", ["999999", "abc", "-1", "\uff11\uff12", "\u00b2"])
async def test_unknown_devices_are_404(client, fleet, device):
    response = await client.get(f"/v0/devices/{device}/readings?sensor_id=55&rollup=1h")
    assert response.status == 404
    assert (await response.json())["code"] == "device_not_found"


async def test_unversioned_path_serves_the_same(client, fleet, store):
    device = fleet.devices[0].id
    await store(support.every_minute(device, 55, *DAY))
    query = "sensor_id=55&rollup=1h&from=2024-05-01&to=2024-05-02"
    v0 = await (await client.get(f"/v0/devices/{device}/readings?{query}")).json()
    plain = await (await client.get(f"/devices/{device}/readings?{query}")).json()
    assert plain == v0
    assert len(v0["readings"]) == 24
