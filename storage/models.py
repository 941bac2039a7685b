"""Rows that cross the storage boundary."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple
from uuid import UUID


class StagedBatch(NamedTuple):
    """A batch waiting in ingest_batches."""

    id: int
    device_id: int
    received_at: datetime
    n_readings: int
    payload: bytes
    attempts: int


class DeadLetter(NamedTuple):
    """A batch that failed processing too often."""

    id: int
    batch_id: int
    device_id: int
    received_at: datetime
    n_readings: int
    attempts: int
    error: str
    failed_at: datetime


class Backlog(NamedTuple):
    """What waits in staging."""

    batches: int
    readings: int


class Sensor(NamedTuple):
    """A sensor of the catalogue with its calibration."""

    id: int
    name: str
    default_key: str | None
    unit: str | None
    equation: str | None
    reverse_equation: str | None
    updated_at: datetime


class DeviceSensor(NamedTuple):
    """One sensor of a device, with its latest and previous readings (None if it never posted)."""

    id: int
    uuid: UUID
    parent_id: int | None
    name: str
    description: str | None
    unit: str | None
    key: str | None
    measurement_id: int | None
    created_at: datetime
    updated_at: datetime
    measurement_name: str | None
    measurement_description: str | None
    time: datetime | None
    raw_value: float | None
    value: float | None
    prev_time: datetime | None
    prev_raw_value: float | None
    prev_value: float | None
    component_id: int | None


class IngestDevice(NamedTuple):
    """A live device as the gateway authenticates it and resolves the sensor keys it posts by."""

    id: int
    owner_id: int | None
    token_hash: bytes | None
    is_test: bool
    kit_keys: dict[str, int]
    component_keys: dict[str, int]


class TokenPrincipal(NamedTuple):
    """Who a token belongs to: a user (`user_id`, `role`) or a device (`device_id`)."""

    user_id: int | None
    role: str | None
    device_id: int | None
    is_test: bool
    expires_at: datetime | None


class SensorKey(NamedTuple):
    """A catalogue sensor's id and default key."""

    id: int
    default_key: str | None
