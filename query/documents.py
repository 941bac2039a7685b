"""Device documents in the SmartCitizen v0 shape and the current public API's, built from rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from query import geo
from storage.models import DeviceSensor

FILTERED = "[FILTERED]"
NEW_DEVICE_AGE = timedelta(days=7)


def timestamp(moment: datetime | None) -> str | None:
    """ISO 8601 UTC to the second (`YYYY-MM-DDTHH:MM:SSZ`), or None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def last_seen(device: Mapping[str, Any]) -> datetime | None:
    """When the device last posted (or, before that was noted, its latest reading's time)."""
    last: datetime | None = device["last_posted_at"] or device["last_reading_at"]
    return last


def status(device: Mapping[str, Any], now: datetime, online_window: timedelta) -> str:
    """`new` if the device never posted, `online` if it posted within the window, else `offline`."""
    last = last_seen(device)
    if last is None:
        return "new"
    return "online" if now - last < online_window else "offline"


def valid_until(
    device: Mapping[str, Any], now: datetime, online_window: timedelta
) -> datetime | None:
    """Until when a document of `device` built at `now` stays the same by the clock alone: the
    moment its status turns `offline` or its `new` tag goes; None if never."""
    moments = []
    last = last_seen(device)
    if last is not None and now - last < online_window:
        moments.append(last + online_window)
    if now - device["created_at"] < NEW_DEVICE_AGE:
        moments.append(device["created_at"] + NEW_DEVICE_AGE)
    return min(moments, default=None)


def system_tags(device: Mapping[str, Any], device_status: str, now: datetime) -> list[str]:
    """Exposure, `online`/`offline` once the device posted, `new` in its first week; sorted."""
    tags = [t for t in (device["exposure"], device_status if device_status != "new" else None) if t]
    if now - device["created_at"] < NEW_DEVICE_AGE:
        tags.append("new")
    return sorted(tags)


def device_location(
    device: Mapping[str, Any], latitude: float | None, longitude: float | None
) -> dict[str, Any]:
    """A device's `location` at `latitude`, `longitude` (rounded for others, or its own)."""
    return {
        "exposure": device["exposure"],
        "elevation": device["elevation"],
        "latitude": latitude,
        "longitude": longitude,
        "geohash": (
            geo.geohash(latitude, longitude)
            if latitude is not None and longitude is not None
            else None
        ),
        "city": device["city"],
        "country_code": device["country_code"],
        "country": None,
    }


def state(device: Mapping[str, Any]) -> str:
    """The current API's device state."""
    if device["last_reading_at"] is not None:
        return "has_published"
    return "never_published" if device["kit_id"] is not None else "not_configured"


def sensor_entry(sensor: DeviceSensor) -> dict[str, Any]:
    """One `data.sensors[]` entry: the sensor with its latest readings injected. (A single
    device's document gets its entries written by the database: storage/sql/devices.sql.)"""
    return {
        "id": sensor.id,
        "uuid": str(sensor.uuid),
        "parent_id": sensor.parent_id,
        "name": sensor.name,
        "description": sensor.description,
        "unit": sensor.unit,
        "default_key": sensor.key,
        "measurement": (
            None
            if sensor.measurement_id is None
            else {
                "id": sensor.measurement_id,
                "name": sensor.measurement_name,
                "description": sensor.measurement_description,
            }
        ),
        "created_at": sensor.created_at,
        "updated_at": sensor.updated_at,
        "value": sensor.value,
        "raw_value": sensor.raw_value,
        "prev_value": sensor.prev_value,
        "prev_raw_value": sensor.prev_raw_value,
        "last_reading_at": sensor.time,
    }


def device_document(
    device: Mapping[str, Any],
    sensors: Sequence[DeviceSensor] | str,
    *,
    now: datetime,
    online_window: timedelta,
    is_owner: bool,
) -> dict[str, Any]:
    """The full device document; owner-only fields are filtered unless `is_owner`. `sensors`
    are the device's sensors, or the compact JSON text of their entries (storage.devices.device),
    which goes into the encoded answer as it is (an orjson.Fragment): parsing it and encoding
    it again cost the service 12 µs a document."""
    precise = bool(device["precise_location"]) or is_owner
    latitude = geo.public_coordinate(device["latitude"], precise)
    longitude = geo.public_coordinate(device["longitude"], precise)
    location = device_location(device, latitude, longitude)
    device_status = status(device, now, online_window)
    return {
        "id": device["id"],
        "uuid": str(device["uuid"]),
        "name": device["name"],
        "description": device["description"],
        "state": state(device),
        "status": device_status,
        "system_tags": system_tags(device, device_status, now),
        "user_tags": list(device["user_tags"]),
        "last_reading_at": device["last_reading_at"],
        "added_at": device["created_at"],
        "created_at": device["created_at"],
        "updated_at": device["updated_at"],
        "kit_id": device["kit_id"],
        "mac_address": device["mac_address"] if is_owner else FILTERED,
        "device_token": FILTERED,
        "notify": {"stopped_publishing": False, "low_battery": False},
        "data_policy": {
            "is_private": device["is_private"],
            "precise_location": device["precise_location"],
            "enable_forwarding": False,
            "forwarding_destination": None,
        },
        "hardware": hardware(device),
        "postprocessing": None,
        "owner": _owner(device),
        "latitude": latitude,
        "longitude": longitude,
        "exposure": device["exposure"],
        "location": location,
        "data": {
            "recorded_at": device["last_reading_at"],
            "added_at": device["last_posted_at"],
            "calibrated_at": device["last_posted_at"],
            "location": {"ip": None, **location},
            "sensors": (
                orjson.Fragment(sensors)
                if isinstance(sensors, str)
                else [sensor_entry(s) for s in sensors]
            ),
        },
        "kit": _kit(device),
    }


def _owner(device: Mapping[str, Any]) -> dict[str, Any] | None:
    if device["owner_id"] is None:
        return None
    return {
        "id": device["owner_id"],
        "uuid": str(device["owner_uuid"]),
        "username": device["owner_username"],
        "avatar": device["owner_avatar"],
        "url": device["owner_url"],
        "joined_at": device["owner_joined_at"],
        "updated_at": device["owner_updated_at"],
        "location": {
            "city": device["owner_city"],
            "country_code": device["owner_country_code"],
            "country": None,
        },
    }


def _kit(device: Mapping[str, Any]) -> dict[str, Any] | None:
    if device["kit_id"] is None:
        return None
    return {
        "id": device["kit_id"],
        "uuid": str(device["kit_uuid"]),
        "slug": device["kit_slug"],
        "name": device["kit_name"],
        "description": device["kit_description"],
        "created_at": device["kit_created_at"],
        "updated_at": device["kit_updated_at"],
    }


def hardware(device: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": device["kit_name"],
        "type": "SCK" if device["kit_slug"] and device["kit_slug"].startswith("sck") else None,
        "version": device["hardware_version"] or device["kit_version"],
        "slug": device["kit_slug"],
        "last_status_message": None,
    }
