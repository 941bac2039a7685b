"""A small world for the gateway: users, tokens, the SCK 1.1 catalogue and kit, devices."""

from __future__ import annotations

from types import SimpleNamespace

import psycopg
import pytest

from core import tokens
from ingest import app as ingest_app
from ingest import config

# The SCK 1.1 sensors and their default keys (the catalogue migration uses the same ids).
SCK_11 = {
    7: "noise",
    12: "temp",
    13: "hum",
    14: "light",
    15: "no2",
    16: "co",
    17: "bat",
    18: "panel",
    21: "nets",
}
DEVICE_MAC = "00:06:66:21:2B:8B"  # stored in upper case: look-ups must not care


def _user(conn, name, role="citizen"):
    return conn.execute(
        "INSERT INTO users (username, email, role) VALUES (%s, %s, %s) RETURNING id",
        (name, f"{name}@example.org", role),
    ).fetchone()[0]


def _token(conn, user_id, text, kind="access", **extra):
    columns = ["user_id", "token_hash", "kind", *extra]
    values = [user_id, tokens.hash_token(text), kind, *extra.values()]
    conn.execute(
        f"INSERT INTO api_tokens ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(values))})",
        values,
    )
    return text


def _device(conn, owner_id, kit_id, name, token, mac=None):
    return conn.execute(
        "INSERT INTO devices (owner_id, name, kit_id, mac_address, device_token_hash)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (owner_id, name, kit_id, mac, tokens.hash_token(token)),
    ).fetchone()[0]


@pytest.fixture
def world(database_dsn):
    """Ids and tokens of: the owner, another user, an admin, their devices; the SCK 1.1 kit."""
    with psycopg.connect(database_dsn) as conn:
        for sensor_id, key in SCK_11.items():
            conn.execute(
                "INSERT INTO sensors (id, name, default_key) VALUES (%s, %s, %s)"
                " ON CONFLICT (id) DO NOTHING",
                (sensor_id, f"sensor {sensor_id}", key),
            )
        conn.execute(
            "INSERT INTO kits (slug, name) VALUES ('sck-1-1', 'SCK 1.1')"
            " ON CONFLICT (slug) DO NOTHING"
        )
        kit_id = conn.execute("SELECT id FROM kits WHERE slug = 'sck-1-1'").fetchone()[0]
        for sensor_id, key in SCK_11.items():
            conn.execute(
                "INSERT INTO kit_sensors (kit_id, sensor_id, key) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                (kit_id, sensor_id, key),
            )
        owner, other, admin = (
            _user(conn, "owner"),
            _user(conn, "other"),
            _user(conn, "root", "admin"),
        )
        world = SimpleNamespace(
            kit_id=kit_id,
            owner_token=_token(conn, owner, "owner-access-token"),
            owner_key=_token(conn, owner, "sk_live_owner-api-key", "api_key"),
            other_token=_token(conn, other, "other-access-token"),
            admin_token=_token(conn, admin, "admin-access-token"),
            refresh_token=_token(conn, owner, "owner-refresh-token", "refresh"),
            revoked_token=_token(
                conn, owner, "owner-revoked-token", revoked_at="2020-01-01T00:00:00Z"
            ),
            expired_token=_token(
                conn, owner, "owner-expired-token", expires_at="2020-01-01T00:00:00Z"
            ),
            device_token="device-token-1",
            other_device_token="device-token-2",
            mac=DEVICE_MAC,
        )
        world.device_id = _device(conn, owner, kit_id, "kit one", world.device_token, DEVICE_MAC)
        world.other_device_id = _device(conn, other, kit_id, "kit two", world.other_device_token)
        world.deleted_device_id = _device(conn, owner, kit_id, "gone", "device-token-3")
        conn.execute(
            "UPDATE devices SET deleted_at = now() WHERE id = %s", (world.deleted_device_id,)
        )
    return world


@pytest.fixture
def make_settings(db_settings):
    """Gateway settings on this test's database, with overrides."""

    def make(**overrides):
        return config.IngestSettings(db=db_settings, **overrides)

    return make


@pytest.fixture
def make_client(make_settings, aiohttp_client):
    """An HTTP client of a running gateway built with `make_settings(**overrides)`.

    The database fixtures come first so that they are torn down after the gateway is closed.
    """

    async def make(**overrides):
        return await aiohttp_client(ingest_app.create_app(make_settings(**overrides)))

    return make


@pytest.fixture
async def client(world, make_client):
    """A gateway on this test's database."""
    return await make_client()
