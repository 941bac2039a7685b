"""Fixtures for the worker tests: the SCK 1.1 sensors, devices, settings and staging."""

from __future__ import annotations

import pytest

from storage import batches, packing
from tests.unit.workers import sck
from workers import config
from workers.catalogue import Catalogue


@pytest.fixture
async def catalogue_sensors(db_pool):
    """The SCK 1.1 sensors, with the ids the catalogue migration gives them (kept if present)."""
    async with db_pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO sensors (id, name, default_key, equation, reverse_equation)"
            " VALUES ($1, $2, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
            sck.CALIBRATIONS,
        )
    return sck.SENSORS


@pytest.fixture
def make_device(db_pool, catalogue_sensors):
    """A factory of devices (with an owner); returns their ids."""

    async def make(name="kit"):
        async with db_pool.acquire() as conn:
            owner = await conn.fetchval(
                "INSERT INTO users (username) VALUES ($1) RETURNING id", f"{name}-owner"
            )
            return await conn.fetchval(
                "INSERT INTO devices (owner_id, name) VALUES ($1, $2) RETURNING id", owner, name
            )

    return make


@pytest.fixture
async def device(make_device):
    return await make_device()


@pytest.fixture
def settings(db_settings):
    return config.WorkerSettings(db=db_settings, max_attempts=3, poll_interval_s=0.2)


@pytest.fixture
def catalogue(settings):
    return Catalogue(settings.catalogue_refresh_s)


@pytest.fixture
def stage(db_pool):
    """Stage batches of (time µs, sensor id, posted value) readings, as the gateway does."""

    async def stage_batches(*device_batches, pool=None):
        rows = []
        for device_id, readings in device_batches:
            times, sensor_ids, values = zip(*readings, strict=True) if readings else ((), (), ())
            payload = packing.pack_readings(list(times), list(sensor_ids), list(values))
            rows.append((device_id, payload, len(readings)))
        async with (pool or db_pool).acquire() as conn:
            await batches.stage(conn, rows)

    return stage_batches
