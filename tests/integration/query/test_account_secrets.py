"""No secret at rest or in the logs: after making every kind of secret, a dump of the database
and the log of the flows that made them contain none of them."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

from query import outbox
from storage import demo
from tests.integration.query import accounts_support as support
from tests.integration.query.accounts_support import basic, bearer, sign_in, sign_up

client = support.client
spool = support.spool

PG_DUMP = Path("/usr/lib/postgresql/15/bin/pg_dump")
NEW_PASSWORD = "a password set by reset"


async def _every_secret(client, db_pool, spool):
    """Make one of each secret through the API (and the demo seed); returns them by kind."""
    await sign_up(client, "keeper")
    secrets = {"password": support.PASSWORD, "new password": NEW_PASSWORD}
    secrets["access token"] = await sign_in(client, "keeper")
    grant = await client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "keeper", "password": support.PASSWORD},
    )
    answer = await grant.json()
    secrets["oauth access token"] = answer["access_token"]
    rotated = await client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": answer["refresh_token"]},
    )
    secrets["spent refresh token"] = answer["refresh_token"]
    secrets["refresh token"] = (await rotated.json())["refresh_token"]
    for mode in ("live", "test"):
        response = await client.post(
            "/v0/me/api_keys", json={"mode": mode}, headers=bearer(secrets["access token"])
        )
        secrets[f"{mode} key"] = (await response.json())["key"]
    await client.get("/v0/me", headers=basic("keeper"))
    await client.post("/v0/password_resets", json={"username": "keeper"})
    await client.post("/v0/password_resets", json={"username": "keeper"})
    await client.app[outbox.outbox_key].drain()
    mails = sorted(spool.glob("*.eml"))
    found = [re.search(r"Reset token: (\S+)", path.read_text()).group(1) for path in mails]
    secrets["reset token"], secrets["unused reset token"] = found
    response = await client.patch(
        f"/v0/password_resets/{found[0]}", json={"password": NEW_PASSWORD}
    )
    assert response.status == 200
    async with db_pool.acquire() as conn:
        fleet = await demo.seed(conn)
    secrets["demo access token"] = fleet.access_token
    secrets["device token"] = fleet.devices[0].token
    secrets["demo password"] = fleet.password
    assert all(len(value) >= 8 for value in secrets.values())
    return secrets


def _leaks(text, secrets):
    return [
        kind for kind, secret in secrets.items() if secret in text or secret.encode().hex() in text
    ]


async def test_a_database_dump_holds_no_secret(client, db_pool, spool, database_dsn):
    secrets = await _every_secret(client, db_pool, spool)
    dump = await asyncio.create_subprocess_exec(
        str(PG_DUMP),
        "--no-owner",
        "--dbname",
        database_dsn,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await dump.communicate()
    assert dump.returncode == 0, err.decode()
    text = out.decode()
    assert "COPY public.api_tokens" in text and "COPY public.password_resets" in text
    assert "keeper@example.org" in text  # the dump has the accounts' rows...
    assert _leaks(text, secrets) == []  # ...and none of their secrets


async def test_the_logs_of_these_flows_hold_no_secret(client, db_pool, spool, caplog):
    with caplog.at_level(logging.DEBUG):
        secrets = await _every_secret(client, db_pool, spool)
    assert any("password reset mail queued" in r.getMessage() for r in caplog.records)
    logged = "\n".join(f"{record.getMessage()} {record.__dict__!r}" for record in caplog.records)
    assert _leaks(logged, secrets) == []
