"""Shared by the account tests: a query service with mail spooled to a temporary directory, and
signing up and in through the API."""

from __future__ import annotations

import base64
import functools

import pytest
from aiohttp.test_utils import TestServer

from core import passwords
from query.accounts_config import AccountSettings

PASSWORD = "correct horse battery"


@functools.cache
def password_hash() -> str:
    """The hash of PASSWORD (argon2: made once per session)."""
    return passwords.hash_password(PASSWORD)


async def insert_user(conn, name, role="citizen"):
    """A user `name` with PASSWORD, written straight into the database; returns its id."""
    return await conn.fetchval(
        "INSERT INTO users (username, email, role, password_hash) VALUES ($1, $2, $3, $4)"
        " RETURNING id",
        name,
        f"{name}@example.org",
        role,
        password_hash(),
    )


@pytest.fixture
def spool(tmp_path):
    """Where this test's mail is spooled."""
    return tmp_path / "mail"


@pytest.fixture
async def client(query_app, aiohttp_client, spool):
    """A client of a query service whose mail goes to `spool`."""
    return await serve(aiohttp_client, query_app(accounts=AccountSettings(mail_spool_dir=spool)))


async def serve(aiohttp_client, app):
    """A client of `app` served without an access log, as `python -m query` serves it (a
    password reset link's path holds its token)."""
    server = TestServer(app)
    await server.start_server(access_log=None)
    return await aiohttp_client(server)


async def sign_up(client, username, password=PASSWORD, **fields):
    """A new user through POST /v0/users; returns the answer's document."""
    email = fields.pop("email", f"{username}@example.org")
    body = {"username": username, "email": email, "password": password, **fields}
    response = await client.post("/v0/users", json=body)
    assert response.status == 201, await response.text()
    return await response.json()


async def sign_in(client, username, password=PASSWORD):
    """An access token through POST /v0/sessions."""
    response = await client.post("/v0/sessions", json={"username": username, "password": password})
    assert response.status == 200, await response.text()
    return (await response.json())["access_token"]


def bearer(token):
    """The Authorization header of a token."""
    return {"Authorization": f"Bearer {token}"}


def basic(username, password=PASSWORD):
    """The Authorization header of HTTP Basic credentials."""
    encoded = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


async def add_device(conn, owner_id, name, *, is_private=False, is_test=False):
    """A device of `owner_id`; returns its id."""
    return await conn.fetchval(
        "INSERT INTO devices (owner_id, name, latitude, longitude, is_private, is_test,"
        " mac_address) VALUES ($1, $2, 41.403629, 2.156487, $3, $4, $5) RETURNING id",
        owner_id,
        name,
        is_private,
        is_test,
        f"02:00:00:00:{owner_id % 256:02x}:{abs(hash(name)) % 256:02x}",
    )
