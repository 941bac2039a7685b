"""SmartCitizen readings bodies: decode, check the shape, and validate each reading.

A body is `{"data": [{"recorded_at": ..., "sensors": [{"id": 12, "value": 25132}, ...]}, ...]}`.
A wrong shape fails the whole request (BadRequest, naming the place); a bad reading is only
rejected, and reported with its entry's index in `data`, the sensor as posted and a reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from core import errors, timeparse

MIN_TIME_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z
MAX_AHEAD_US = 86_400_000_000  # a day: clocks drift, but not that far
_MISSING: Any = object()
_DUPLICATE = "duplicate: this sensor already has a reading at this time"
_NOT_FINITE = "value is not finite"


@dataclass(frozen=True, slots=True)
class SensorNames:
    """How the sensors a device posts resolve to sensor ids.

    `keys` are the device's own (its kit's, then its components'); `catalogue` maps every sensor
    id (as an int and as a string of digits) and every default key that only one sensor has.
    """

    keys: Mapping[str, int]
    catalogue: Mapping[object, int]


class Batch(NamedTuple):
    """The valid readings of a body as parallel lists, and the rejected ones."""

    times: list[int]
    sensor_ids: list[int]
    values: list[float]
    rejected: list[dict[str, Any]]


def catalogue_names(sensors: list[tuple[int, str | None]]) -> dict[object, int]:
    """The catalogue part of SensorNames: ids, digit strings, default keys of only one sensor."""
    holders: dict[str, list[int]] = {}
    for sensor_id, key in sensors:
        if key:
            holders.setdefault(key, []).append(sensor_id)
    names: dict[object, int] = {key: ids[0] for key, ids in holders.items() if len(ids) == 1}
    for sensor_id, _ in sensors:
        names[sensor_id] = sensor_id
        names[str(sensor_id)] = sensor_id
    return names


def device_keys(kit_keys: Mapping[str, int], component_keys: Mapping[str, int]) -> dict[str, int]:
    """A device's own keys: its kit's win over its components'; strings of digits are ids."""
    merged = {**component_keys, **kit_keys}
    return {key: sensor_id for key, sensor_id in merged.items() if not _is_digits(key)}


def load_json(body: bytes) -> object:
    """The JSON document in `body`; raises BadRequest naming the syntax error.

    NaN, Infinity and numbers too large for a float are not JSON, and orjson refuses the whole
    body for them; the standard library reads them as non-finite floats instead, so they are
    rejected one reading at a time like any other bad value.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        near = body[max(exc.pos - 1, 0) : exc.pos + 9]
        if exc.msg.startswith("number is infinity") or b"NaN" in near or b"Infinity" in near:
            try:
                return json.loads(body)
            except (ValueError, RecursionError):
                pass
        raise errors.BadRequest(f"Malformed JSON body: {exc}", code="malformed_json") from None


def parse_readings(document: object, names: SensorNames, now_us: int) -> Batch:
    """Validate a decoded body; raises BadRequest when its shape is wrong."""
    data = _data_list(document)
    times: list[int] = []
    sensor_ids: list[int] = []
    values: list[float] = []
    rejected: list[dict[str, Any]] = []
    latest = now_us + MAX_AHEAD_US
    seen_at: dict[int, set[int]] = {}
    keys, catalogue = names.keys, names.catalogue
    for index, entry in enumerate(data):
        if type(entry) is not dict:
            raise _shape(f"data[{index}] must be an object, not {_kind(entry)}")
        sensors = entry.get("sensors", _MISSING)
        if type(sensors) is not list:
            what = "is missing" if sensors is _MISSING else f"must be a list, not {_kind(sensors)}"
            raise _shape(f"data[{index}].sensors {what}")
        if not sensors:
            continue
        time, problem = _entry_time(entry.get("recorded_at"), latest)
        if problem is not None:
            _reject_entry(rejected, index, sensors, problem)
            continue
        seen = seen_at.get(time)
        if seen is None:
            seen = seen_at[time] = set()
        # The hot loop: checks and look-ups inline, the rare cases in functions.
        for item in sensors:
            if type(item) is not dict:
                raise _not_an_object(index, sensors, item)
            name = item.get("id")
            if name is None:
                name = item.get("key")
            value = item.get("value", _MISSING)
            if value is None:
                continue  # a sensor without a value this time: nothing to store, nothing wrong
            if type(name) is str:
                sensor_id = keys.get(name)
                if sensor_id is None:
                    sensor_id = catalogue.get(name)
            else:
                sensor_id = catalogue.get(name) if type(name) is int else None
            if sensor_id is None:
                unknown = "missing sensor id" if name is None else "unknown sensor"
                rejected.append({"index": index, "sensor": _echoed(name), "reason": unknown})
                continue
            kind = type(value)
            if kind is float:
                number, reason = value, None if value - value == 0.0 else _NOT_FINITE
            elif kind is int:
                try:
                    number, reason = float(value), None
                except OverflowError:  # only the standard library's parser makes such ints
                    number, reason = 0.0, "value is out of range"
            else:
                number, reason = _number(value)
            if reason is not None:
                rejected.append({"index": index, "sensor": name, "reason": reason})
                continue
            if sensor_id in seen:
                rejected.append({"index": index, "sensor": name, "reason": _DUPLICATE})
                continue
            seen.add(sensor_id)
            times.append(time)
            sensor_ids.append(sensor_id)
            values.append(number)
    return Batch(times, sensor_ids, values, rejected)


def _data_list(document: object) -> list[Any]:
    if type(document) is not dict:
        raise _shape(f"the body must be a JSON object with a data list, not {_kind(document)}")
    data = document.get("data", _MISSING)
    if type(data) is not list:
        what = "is missing" if data is _MISSING else f"must be a list, not {_kind(data)}"
        raise _shape(f"data {what}")
    return data


def _entry_time(raw: object, latest: int) -> tuple[int, str | None]:
    if raw is None:
        return 0, "recorded_at is missing"
    try:
        time = timeparse.parse_timestamp(raw)
    except timeparse.TimeParseError as exc:
        return 0, f"recorded_at: {exc}"
    if time < MIN_TIME_US:
        return time, "recorded_at is before 2000-01-01"
    if time > latest:
        return time, "recorded_at is more than a day in the future"
    return time, None


def _not_an_object(index: int, sensors: list[Any], item: object) -> errors.BadRequest:
    position = next(i for i, other in enumerate(sensors) if other is item)
    return _shape(f"data[{index}].sensors[{position}] must be an object, not {_kind(item)}")


def _reject_entry(
    rejected: list[dict[str, Any]], index: int, sensors: list[Any], reason: str
) -> None:
    for item in sensors:
        if type(item) is not dict:
            raise _not_an_object(index, sensors, item)
        if item.get("value", _MISSING) is None:
            continue  # nothing to store: not rejected (a missing value is, as when on time)
        name = item.get("id")
        rejected.append(
            {
                "index": index,
                "sensor": _echoed(name if name is not None else item.get("key")),
                "reason": reason,
            }
        )


def _echoed(name: object) -> object:
    """A sensor name as the answer repeats it: short, and a string, an integer or null, as the
    OpenAPI document says.

    An integer past 64 bits (the standard library's parser reads any), a long string, a list
    or an object would otherwise make the answer unwritable or as large as the post.
    """
    if type(name) is int:
        return name if -(2**63) <= name < 2**64 else str(name)[:64]
    if type(name) is str:
        return name[:64]
    if name is None:
        return None
    if type(name) is bool:
        return "true" if name else "false"
    if type(name) is float:
        return repr(name)
    return _kind(name)


def _number(value: object) -> tuple[float, str | None]:
    """A posted value other than a number as a finite float, or a reason it is not one."""
    if type(value) is str:
        try:
            number = float(value)
        except ValueError:
            return 0.0, "value is not a number"
        # float() also reads "1_000" and other scripts' digits; JSON numbers have neither.
        if "_" in value or not value.isascii():
            return 0.0, "value is not a number"
    elif value is _MISSING:
        return 0.0, "value is missing"
    else:
        return 0.0, "value is not a number"
    if number - number != 0.0:  # NaN or ±infinity
        return 0.0, _NOT_FINITE
    return number, None


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _shape(message: str) -> errors.BadRequest:
    return errors.BadRequest(message, code="invalid_body")
