"""Body parsing: shapes, sensor names, timestamps, values, duplicates."""

from __future__ import annotations

import orjson
import pytest

from core import errors
from ingest import parsing

NOW = 1_700_000_000_000_000  # 2023-11-14T22:13:20Z in µs
T0 = "2023-11-14T10:00:00Z"
T0_US = 1_699_956_000_000_000

# Kit key temp -> 12; component key temp2 -> 55; the catalogue: 7, 12, 13, 87 (pm25, unique),
# and "dup", the default key of two sensors, which resolves to neither.
NAMES = parsing.SensorNames(
    keys=parsing.device_keys({"temp": 12, "hum": 13, "99": 13}, {"temp": 55, "temp2": 55}),
    catalogue=parsing.catalogue_names(
        [
            (7, "noise"),
            (12, "temp"),
            (13, "hum"),
            (55, None),
            (87, "pm25"),
            (90, "dup"),
            (91, "dup"),
        ]
    ),
)


def parse(data, now=NOW):
    return parsing.parse_readings({"data": data}, NAMES, now)


def one(sensors, recorded_at=T0):
    return parse([{"recorded_at": recorded_at, "sensors": sensors}])


def test_ids_and_keys_resolve():
    batch = one(
        [
            {"id": 12, "value": 25132},
            {"id": "hum", "value": 40.5},
            {"id": "pm25", "value": "3.5"},
            {"id": "7", "value": 1},
            {"id": "temp2", "value": -4},
        ]
    )
    assert batch.rejected == []
    assert batch.sensor_ids == [12, 13, 87, 7, 55]
    assert batch.values == [25132.0, 40.5, 3.5, 1.0, -4.0]
    assert batch.times == [T0_US] * 5


def test_a_sensor_may_be_named_by_key_instead_of_id():
    assert one([{"key": "noise", "value": 60}]).sensor_ids == [7]


def test_kit_keys_win_over_component_and_catalogue_keys():
    batch = one([{"id": "temp", "value": 1}])
    assert batch.sensor_ids == [12]


def test_digit_strings_are_ids_even_if_a_kit_uses_them_as_keys():
    batch = one([{"id": "99", "value": 1}])
    assert batch.sensor_ids == []
    assert batch.rejected == [{"index": 0, "sensor": "99", "reason": "unknown sensor"}]


def test_unknown_ids_and_keys_and_ambiguous_default_keys_are_rejected_alone():
    batch = one(
        [
            {"id": 12, "value": 1},
            {"id": 4242, "value": 1},
            {"id": "nope", "value": 1},
            {"id": "dup", "value": 1},
            {"id": True, "value": 1},
            {"id": 12.0, "value": 1},
            {"value": 1},
        ]
    )
    assert batch.sensor_ids == [12]
    assert [(r["sensor"], r["reason"]) for r in batch.rejected] == [
        (4242, "unknown sensor"),
        ("nope", "unknown sensor"),
        ("dup", "unknown sensor"),
        ("true", "unknown sensor"),  # repeated as the document says: a string, an integer
        ("12.0", "unknown sensor"),  # or null
        (None, "missing sensor id"),
    ]


@pytest.mark.parametrize(
    ("recorded_at", "expected"),
    [
        ("2023-11-14T10:00:00Z", T0_US),
        ("2023-11-14T10:00:00", T0_US),  # naive means UTC
        ("2023-11-14T12:00:00+02:00", T0_US),
        ("2023-11-14 10:00:00", T0_US),
        (1_699_956_000, T0_US),
        (1_699_956_000.5, T0_US + 500_000),
        ("1699956000", T0_US),
    ],
)
def test_timestamps(recorded_at, expected):
    batch = one([{"id": 12, "value": 1}], recorded_at)
    assert batch.rejected == []
    assert batch.times == [expected]


@pytest.mark.parametrize(
    ("recorded_at", "reason"),
    [
        ("1999-12-31T23:59:59Z", "recorded_at is before 2000-01-01"),
        ("2023-11-16T00:00:00Z", "recorded_at is more than a day in the future"),
        ("yesterday", "recorded_at: 'yesterday' is not ISO 8601 or epoch seconds"),
        (None, "recorded_at is missing"),
        (True, "recorded_at: a boolean is not a timestamp"),
    ],
)
def test_bad_timestamps_reject_the_entry_readings(recorded_at, reason):
    batch = parse(
        [
            {
                "recorded_at": recorded_at,
                "sensors": [{"id": 12, "value": 1}, {"id": 13, "value": None}],
            },
            {"recorded_at": T0, "sensors": [{"id": 13, "value": 2}]},
        ]
    )
    assert batch.sensor_ids == [13]
    assert batch.rejected == [{"index": 0, "sensor": 12, "reason": reason}]


def test_a_day_ahead_is_still_accepted():
    batch = one([{"id": 12, "value": 1}], NOW / 1_000_000 + 86_399)
    assert batch.rejected == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1.0),
        (-2.5, -2.5),
        ("25132", 25132.0),
        (" 3.5e2 ", 350.0),
        ("-0.1", -0.1),
        (12345678901234567890123, 1.2345678901234568e22),
    ],
)
def test_numbers_and_numeric_strings_are_values(value, expected):
    assert one([{"id": 12, "value": value}]).values == [expected]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (True, "value is not a number"),
        (False, "value is not a number"),
        ("abc", "value is not a number"),
        ("1_000", "value is not a number"),
        ("\u0661\u0662", "value is not a number"),  # 12 in Arabic-Indic digits
        ("", "value is not a number"),
        ([1], "value is not a number"),
        ({"v": 1}, "value is not a number"),
        ("NaN", "value is not finite"),
        ("Infinity", "value is not finite"),
        ("1e400", "value is not finite"),
        (float("nan"), "value is not finite"),
        (float("-inf"), "value is not finite"),
        (10**400, "value is out of range"),
    ],
)
def test_bad_values_are_rejected(value, reason):
    batch = one([{"id": 12, "value": value}, {"id": 13, "value": 1}])
    assert batch.sensor_ids == [13]
    assert batch.rejected == [{"index": 0, "sensor": 12, "reason": reason}]


def test_missing_value_is_rejected_but_null_is_skipped():
    batch = one([{"id": 12}, {"id": 13, "value": None}, {"id": "nope", "value": None}])
    assert batch.sensor_ids == []
    assert batch.rejected == [{"index": 0, "sensor": 12, "reason": "value is missing"}]


def test_non_finite_json_literals_are_rejected_per_reading():
    body = (
        b'{"data":[{"recorded_at":"2023-11-14T10:00:00Z","sensors":['
        b'{"id":12,"value":NaN},{"id":13,"value":Infinity},{"id":7,"value":-Infinity},'
        b'{"id":87,"value":1e400},{"id":"temp2","value":5}]}]}'
    )
    batch = parsing.parse_readings(parsing.load_json(body), NAMES, NOW)
    assert batch.sensor_ids == [55]
    assert [r["reason"] for r in batch.rejected] == ["value is not finite"] * 4


def test_duplicates_keep_the_first_reading():
    batch = parse(
        [
            {"recorded_at": T0, "sensors": [{"id": 12, "value": 1}, {"id": "temp", "value": 2}]},
            {"recorded_at": "2023-11-14T12:00:00+02:00", "sensors": [{"id": 12, "value": 3}]},
            {"recorded_at": "2023-11-14T10:00:01Z", "sensors": [{"id": 12, "value": 4}]},
        ]
    )
    assert batch.values == [1.0, 4.0]
    assert batch.rejected == [
        {"index": 0, "sensor": "temp", "reason": parsing._DUPLICATE},
        {"index": 1, "sensor": 12, "reason": parsing._DUPLICATE},
    ]


def test_empty_batches_have_nothing():
    assert parse([]) == parsing.Batch([], [], [], [])
    assert one([]) == parsing.Batch([], [], [], [])


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "the body must be a JSON object with a data list, not a list"),
        ({}, "data is missing"),
        ({"data": {}}, "data must be a list, not an object"),
        ({"data": [1]}, "data[0] must be an object, not a number"),
        ({"data": [{"recorded_at": T0}]}, "data[0].sensors is missing"),
        (
            {"data": [{"recorded_at": T0, "sensors": {}}]},
            "data[0].sensors must be a list, not an object",
        ),
        (
            {"data": [{"recorded_at": T0, "sensors": [{"id": 12, "value": 1}, 5]}]},
            "data[0].sensors[1] must be an object, not a number",
        ),
        (
            {"data": [{"recorded_at": "bad", "sensors": ["x"]}]},
            "data[0].sensors[0] must be an object, not a string",
        ),
    ],
)
def test_wrong_shapes_are_bad_requests(document, message):
    with pytest.raises(errors.BadRequest) as caught:
        parsing.parse_readings(document, NAMES, NOW)
    assert caught.value.message == message


@pytest.mark.parametrize("body", [b"", b"{", b'{"data": [1,]}', b"\xff\xfe", b'{"a": NaN'])
def test_malformed_json_is_a_bad_request(body):
    with pytest.raises(errors.BadRequest) as caught:
        parsing.load_json(body)
    assert caught.value.message.startswith("Malformed JSON body: ")


def test_load_json_reads_plain_json_with_orjson():
    body = orjson.dumps({"data": [{"recorded_at": T0, "sensors": []}]})
    assert parsing.load_json(body) == {"data": [{"recorded_at": T0, "sensors": []}]}
