"""A small world for the fuzz tests: users with passwords and every kind of credential, public
and private devices with readings, and clients of both services with rate limits off (a fuzzer
is one client sending far more than any quota allows)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from core import ratelimit, tokens
from ingest import app as ingest_app
from ingest import config as ingest_config
from query.accounts_config import AccountSettings
from tests.integration.query import conftest as query_conftest
from tests.integration.query.accounts_support import insert_user, password_hash

SCK_2_1 = 26  # a kit of the catalogue migration
SENSOR = 55  # one of its sensors
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
UNLIMITED = dataclasses.replace(ratelimit.QUERY_LIMITS, enabled=False)

query_app = query_conftest.query_app  # the query service's fixture, here too


async def _token(conn, user_id, kind="access", prefix=""):
    text = tokens.new_token(prefix)
    token_id = await conn.fetchval(
        "INSERT INTO api_tokens (user_id, token_hash, kind) VALUES ($1, $2, $3) RETURNING id",
        user_id,
        tokens.hash_token(text),
        kind,
    )
    return text, token_id


async def _device(conn, owner_id, name, mac, *, is_private=False):
    token = tokens.new_token()
    device_id = await conn.fetchval(
        "INSERT INTO devices (owner_id, name, kit_id, mac_address, latitude, longitude,"
        " exposure, is_private, device_token_hash, last_reading_at, last_posted_at)"
        " VALUES ($1, $2, $3, $4, 41.403629, 2.156487, 'outdoor', $5, $6, $7, now())"
        " RETURNING id",
        owner_id,
        name,
        SCK_2_1,
        mac,
        is_private,
        tokens.hash_token(token),
        T0,
    )
    await conn.execute("INSERT INTO readings VALUES ($1, $2, $3, 21, 21)", T0, device_id, SENSOR)
    await conn.execute(
        "INSERT INTO latest_readings (device_id, sensor_id, time, raw_value, value)"
        " VALUES ($1, $2, $3, 21, 21)",
        device_id,
        SENSOR,
        T0,
    )
    return device_id, token


@pytest.fixture
async def world(db_pool):
    """The owner (public and private devices, an access token, an API key), another citizen
    (a secret email address), an admin; and every secret the database holds about them."""
    async with db_pool.acquire() as conn:
        owner = await insert_user(conn, "owner")
        other = await insert_user(conn, "other")
        admin = await insert_user(conn, "admin", "admin")
        public, device_token = await _device(conn, owner, "Fuzz public", "02:00:00:00:0c:01")
        private, _ = await _device(
            conn, owner, "Fuzz private", "02:00:00:00:0c:02", is_private=True
        )
        owner_token, _ = await _token(conn, owner)
        owner_key, owner_key_id = await _token(conn, owner, "api_key", "sk_live_")
        other_token, _ = await _token(conn, other)
        admin_token, _ = await _token(conn, admin)
        hashes = [
            row[0].hex() if isinstance(row[0], bytes) else row[0]
            for row in await conn.fetch(
                "SELECT token_hash FROM api_tokens UNION ALL"
                " SELECT device_token_hash FROM devices WHERE device_token_hash IS NOT NULL"
            )
        ]
    return SimpleNamespace(
        owner_id=owner,
        other_id=other,
        public=public,
        private=private,
        device_token=device_token,
        owner_token=owner_token,
        owner_key=owner_key,
        owner_key_id=owner_key_id,
        other_token=other_token,
        admin_token=admin_token,
        # What no answer to the owner (or to anyone anonymous) may ever contain.
        secrets=[
            password_hash(),
            *hashes,
            other_token,
            admin_token,
            device_token,
            "other@example.org",
            "admin@example.org",
        ],
    )


@pytest.fixture
def account_settings(tmp_path):
    """Mail goes to a spool under this test's temporary directory."""
    return AccountSettings(mail_spool_dir=tmp_path / "mail")


@pytest.fixture
async def query_client(query_app, account_settings, world, aiohttp_client):
    """A client of the query service on the world's database."""
    return await aiohttp_client(query_app(rate_limits=UNLIMITED, accounts=account_settings))


@pytest.fixture
async def gateway_client(db_settings, world, aiohttp_client):
    """A client of the gateway on the world's database."""
    settings = ingest_config.IngestSettings(
        db=db_settings,
        rate_limits=dataclasses.replace(ratelimit.INGEST_LIMITS, enabled=False),
    )
    died: list[str] = []
    client = await aiohttp_client(
        ingest_app.create_app(settings, on_fatal=lambda: died.append("gateway"))
    )
    yield client
    assert not died, "a gateway background task died; see the log above"
