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


class Account(NamedTuple):
    """A user who is not deleted, as accounts read them (`password_hash` never leaves query)."""

    id: int
    uuid: UUID
    username: str
    email: str | None
    password_hash: str | None
    role: str
    first_name: str | None
    last_name: str | None
    city: str | None
    country_code: str | None
    url: str | None
    avatar: str | None
    created_at: datetime
    updated_at: datetime


class StoredCredential(NamedTuple):
    """What a secret's SHA-256 belongs to, live or not: a user's access or refresh token or API
    key (`kind`), or a device's token (`kind` "device", `device_id` set)."""

    id: int
    user_id: int | None
    role: str | None
    kind: str
    is_test: bool
    expires_at: datetime | None
    revoked_at: datetime | None
    family_id: UUID | None
    token_hash: bytes
    device_id: int | None


class IssuedToken(NamedTuple):
    """A token just stored: its row id and times (the secret itself is the caller's)."""

    id: int
    created_at: datetime
    expires_at: datetime | None


class ApiKey(NamedTuple):
    """A user's API key as listed: never the key, only its last four characters."""

    id: int
    label: str | None
    is_test: bool
    last_four: str | None
    created_at: datetime
    revoked_at: datetime | None
