"""Sensor, kit and measurement documents in the SmartCitizen v0 shapes, built from rows."""

from __future__ import annotations

from typing import Any

from query.documents import timestamp
from storage import listings


def sensor_document(sensor: listings.CatalogueSensor) -> dict[str, Any]:
    """A sensor of the catalogue with its measurement (null when it has none)."""
    return {
        "id": sensor.id,
        "uuid": str(sensor.uuid),
        "parent_id": sensor.parent_id,
        "name": sensor.name,
        "description": sensor.description,
        "unit": sensor.unit,
        "created_at": timestamp(sensor.created_at),
        "updated_at": timestamp(sensor.updated_at),
        "measurement": _sensor_measurement(sensor),
        "default_key": sensor.default_key,
    }


def kit_document(kit: listings.Kit) -> dict[str, Any]:
    """A kit with its sensors, each under the key the kit posts it by."""
    return {
        "id": kit.id,
        "uuid": str(kit.uuid),
        "slug": kit.slug,
        "name": kit.name,
        "description": kit.description,
        "created_at": timestamp(kit.created_at),
        "updated_at": timestamp(kit.updated_at),
        "sensors": [sensor_document(sensor) for sensor in kit.sensors],
    }


def measurement_document(measurement: listings.Measurement) -> dict[str, Any]:
    """A measurement: what sensors measure and in which unit."""
    return {
        "id": measurement.id,
        "uuid": str(measurement.uuid),
        "name": measurement.name,
        "description": measurement.description,
        "unit": measurement.unit,
        "definition": measurement.definition,
        "created_at": timestamp(measurement.created_at),
        "updated_at": timestamp(measurement.updated_at),
    }


def _sensor_measurement(sensor: listings.CatalogueSensor) -> dict[str, Any] | None:
    if sensor.measurement_id is None:
        return None
    return {
        "id": sensor.measurement_id,
        "uuid": str(sensor.measurement_uuid),
        "name": sensor.measurement_name,
        "description": sensor.measurement_description,
        "unit": sensor.measurement_unit,
        "definition": sensor.measurement_definition,
    }
