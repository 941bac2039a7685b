"""SCK 1.x headers: MAC addresses and the readings array."""

from __future__ import annotations

import pytest

from ingest import legacy, parsing

NOW = 1_700_000_000_000_000


@pytest.mark.parametrize(
    "raw",
    ["00:06:66:21:2b:8b", "00:06:66:21:2B:8B", " 00-06-66-21-2b-8b ", "000666212b8b"],
)
def test_mac_addresses_are_normalised(raw):
    assert legacy.normalise_mac(raw) == "00:06:66:21:2b:8b"


@pytest.mark.parametrize(
    "raw", [None, "", "00:06:66:21:2b", "00:06:66-21:2b:8b", "zz:06:66:21:2b:8b"]
)
def test_bad_mac_addresses_are_refused(raw):
    with pytest.raises(legacy.LegacyError):
        legacy.normalise_mac(raw)


def test_the_data_header_becomes_a_readings_document():
    header = (
        '[{"temp":"29090.6","hum":"6815.74","light":"30000","bat":"786","panel":"0",'
        '"co":"112500","no2":"200000","noise":"2","nets":"10","timestamp":"2013-10-28 1:34:26"}]'
    )
    document = legacy.readings_document(header)
    assert document["data"][0]["recorded_at"] == "2013-10-28 1:34:26"
    assert document["data"][0]["sensors"][:2] == [
        {"id": "temp", "value": "29090.6"},
        {"id": "hum", "value": "6815.74"},
    ]
    assert len(document["data"][0]["sensors"]) == 9
    names = parsing.SensorNames(
        keys={
            "temp": 12,
            "hum": 13,
            "light": 14,
            "bat": 17,
            "panel": 18,
            "co": 16,
            "no2": 15,
            "noise": 7,
            "nets": 21,
        },
        catalogue={},
    )
    batch = parsing.parse_readings(document, names, NOW)
    assert batch.rejected == []
    assert batch.sensor_ids == [12, 13, 14, 17, 18, 16, 15, 7, 21]
    assert batch.values[0] == 29090.6
    assert set(batch.times) == {1_382_924_066_000_000}  # 2013-10-28T01:34:26Z


def test_a_single_object_is_taken_as_an_array_of_one():
    document = legacy.readings_document('{"temp":"1","timestamp":"2013-10-28 1:34:26"}')
    assert len(document["data"]) == 1


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "no X-SmartCitizenData header"),
        ("[{", "X-SmartCitizenData is not JSON"),
        ('"text"', "X-SmartCitizenData must be a JSON array of objects"),
        ("[1]", "X-SmartCitizenData[0] must be an object"),
    ],
)
def test_malformed_data_headers_are_refused(header, message):
    with pytest.raises(legacy.LegacyError, match=message.replace("[", r"\[").replace("]", r"\]")):
        legacy.readings_document(header)
