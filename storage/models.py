"""Rows that cross the storage boundary."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple


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
