"""The demo fleet for `make run`: a demo user and a few devices, with fresh tokens every run.

Only hashes of secrets are stored, so the plain tokens exist only in what `seed` returns: they
are rotated at every run to be printed and handed to the device simulator.
"""

from __future__ import annotations

from typing import NamedTuple

from core import passwords, tokens
from storage import errors
from storage.pool import Connection
from storage.queries import SQL

USERNAME = "demo"
PASSWORD = "sensorium-demo"
SCK_1_1, SCK_2_1 = 3, 26


class DemoDevice(NamedTuple):
    """A demo device and its plain token."""

    id: int
    name: str
    kit_id: int
    mac_address: str
    token: str


class Demo(NamedTuple):
    """What `seed` made: the demo user's credentials and devices."""

    username: str
    password: str
    access_token: str
    devices: list[DemoDevice]


# name, description, kit, MAC, latitude, longitude, exposure, city, country code
_FLEET = [
    (
        "Plaça del Sol",
        "SCK 2.1 on a balcony",
        SCK_2_1,
        "02:00:00:00:00:01",
        41.403629,
        2.156487,
        "outdoor",
        "Barcelona",
        "ES",
    ),
    (
        "Vondelpark",
        "SCK 2.1 by the park",
        SCK_2_1,
        "02:00:00:00:00:02",
        52.358012,
        4.868573,
        "outdoor",
        "Amsterdam",
        "NL",
    ),
    (
        "Ancoats kitchen",
        "SCK 2.1 indoors",
        SCK_2_1,
        "02:00:00:00:00:03",
        53.484117,
        -2.225049,
        "indoor",
        "Manchester",
        "GB",
    ),
    (
        "Fab Lab roof",
        "SCK 1.1 (legacy firmware, posts to /v0/add)",
        SCK_1_1,
        "02:00:00:00:00:04",
        41.396873,
        2.194372,
        "outdoor",
        "Barcelona",
        "ES",
    ),
]


async def seed(conn: Connection) -> Demo:
    """Create the demo user and fleet if absent and rotate their tokens; returns them."""
    with errors.translated():
        async with conn.transaction():
            user_id = await conn.fetchval(
                SQL["demo_upsert_user"],
                USERNAME,
                "demo@sensorium.invalid",
                passwords.hash_password(PASSWORD),
            )
            access_token = tokens.new_token()
            await conn.execute(SQL["demo_add_token"], user_id, tokens.hash_token(access_token))
            fleet = [await _device(conn, user_id, *spec) for spec in _FLEET]
    return Demo(USERNAME, PASSWORD, access_token, fleet)


async def _device(
    conn: Connection,
    owner_id: int,
    name: str,
    description: str,
    kit_id: int,
    mac: str,
    latitude: float,
    longitude: float,
    exposure: str,
    city: str,
    country_code: str,
) -> DemoDevice:
    token = tokens.new_token()
    token_hash = tokens.hash_token(token)
    device_id = await conn.fetchval(SQL["demo_find_device"], owner_id, name)
    if device_id is None:
        device_id = await conn.fetchval(
            SQL["demo_add_device"],
            owner_id,
            name,
            description,
            kit_id,
            mac,
            latitude,
            longitude,
            exposure,
            city,
            country_code,
            token_hash,
        )
    else:
        await conn.execute(SQL["demo_set_device_token"], device_id, token_hash)
    return DemoDevice(device_id, name, kit_id, mac, token)
