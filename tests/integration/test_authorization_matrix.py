"""Who may do what: every endpoint of the query service and the gateway, called for real with
every kind of credential, answers the status its cell in MATRIX says; what listings, search
and the maps show each credential is in SHOWN; PATCH /v0/devices/:id refuses mass assignment.

To cover a new endpoint, add a row to MATRIX: the request, then one expected status per
credential, in the order of CREDENTIALS. Placeholders in paths and bodies (`{public}`,
`{owner_key_id}`, ...) are filled from the `world` fixture. A row's calls share one database,
in the order of CREDENTIALS; a row marked `fresh` (its call deletes something, or takes a name
that must be unique) gives each credential a database of its own, so no call changes what
another finds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson
import pytest

from core import tokens
from ingest import app as ingest_app
from ingest import config as ingest_config
from query import app as query_app
from query import geo
from query.config import QuerySettings
from tests.integration.query.accounts_support import PASSWORD, insert_user

CREDENTIALS = (
    "none",  # no credential at all
    "malformed",  # an Authorization header we cannot read
    "revoked",  # the owner's API key, revoked
    "expired",  # the owner's access token, expired
    "other",  # another citizen's access token
    "device",  # the public device's own token, on a route for users
    "test_key",  # the owner's test API key (sk_test_), asking for live data
    "owner",  # the owner's access token
    "admin",  # an admin's access token
)
SCK_2_1 = 26
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
RANGE = {"from": (T0 - timedelta(hours=1)).isoformat(), "to": (T0 + timedelta(hours=1)).isoformat()}
READINGS = {"data": [{"recorded_at": T0.isoformat(), "sensors": [{"id": 55, "value": 21}]}]}
LEGACY = {
    "X-SmartCitizenMacADDR": "02:00:00:00:0a:01",
    "X-SmartCitizenData": '[{"temp":"29090.6","timestamp":"2024-05-01 10:00:00"}]',
}


class Row(NamedTuple):
    """One endpoint called one way: `statuses` holds one expected status per credential."""

    method: str
    path: str
    statuses: tuple[int, ...]
    params: dict[str, str] | None = None
    body: Any = None
    headers: dict[str, str] | None = None
    service: str = "query"
    note: str = ""  # tells apart rows of one method and path
    # The call changes what the next credential's call would find (it deletes, or takes a
    # unique name): each credential gets a database of its own. Other rows share one.
    fresh: bool = False

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}{' ' + self.note if self.note else ''}"


def _row(method, path, *statuses, **extra):
    assert len(statuses) == len(CREDENTIALS), f"{method} {path}: one status per credential"
    return Row(method, path, statuses, **extra)


HISTORY = {"sensor_id": "55", "rollup": "1h", **RANGE}
DEVICE_FIELDS = {"name": "Matrix new", "mac_address": "02:00:00:00:0b:01"}

# fmt: off
MATRIX = [
    # method, path                                   none malf revk expd othr devc test ownr admn
    # Devices: documents, history (and its exports), the maps, listings, search.
    _row("GET", "/v0/devices/{public}",              200, 401, 401, 401, 200, 401, 404, 200, 200),
    _row("GET", "/v0/devices/{private}",             404, 401, 401, 401, 404, 401, 404, 200, 200),
    _row("GET", "/v0/devices/{test}",                404, 401, 401, 401, 404, 401, 200, 404, 404),
    _row("GET", "/v0/devices/{public}/readings",     200, 401, 401, 401, 200, 401, 404, 200, 200,
         params=HISTORY),
    _row("GET", "/v0/devices/{private}/readings",    404, 401, 401, 401, 404, 401, 404, 200, 200,
         params=HISTORY),
    _row("GET", "/v0/devices/{private}/readings",    404, 401, 401, 401, 404, 401, 404, 200, 200,
         params={**HISTORY, "format": "csv"}, note="csv"),
    _row("GET", "/v0/devices/{private}/readings",    404, 401, 401, 401, 404, 401, 404, 200, 200,
         params={"sensor_id": "55", "format": "ndjson", **RANGE}, note="ndjson"),
    _row("GET", "/v0/devices/{test}/readings",       404, 401, 401, 401, 404, 401, 200, 404, 404,
         params=HISTORY),
    _row("GET", "/v0/devices",                       200, 401, 401, 401, 200, 401, 200, 200, 200),
    _row("GET", "/v0/devices",                       200, 401, 401, 401, 200, 401, 200, 200, 200,
         params={"near": "41.4,2.15", "within": "100"}, note="near"),
    _row("GET", "/v0/search",                        200, 401, 401, 401, 200, 401, 200, 200, 200,
         params={"q": "matrix"}),
    _row("GET", "/v0/devices/world_map",             200, 401, 401, 401, 200, 401, 200, 200, 200),
    _row("GET", "/v0/devices/fresh_world_map",       401, 401, 401, 401, 200, 401, 200, 200, 200),
    # The device registry.
    _row("POST", "/v0/devices",                      401, 401, 401, 401, 201, 401, 201, 201, 201,
         body=DEVICE_FIELDS, fresh=True),
    _row("PATCH", "/v0/devices/{public}",            401, 401, 401, 401, 403, 401, 404, 200, 200,
         body={"name": "Renamed"}),
    _row("PATCH", "/v0/devices/{private}",           401, 401, 401, 401, 404, 401, 404, 200, 200,
         body={"name": "Renamed"}),
    _row("PATCH", "/v0/devices/{test}",              401, 401, 401, 401, 404, 401, 200, 404, 404,
         body={"name": "Renamed"}),
    _row("DELETE", "/v0/devices/{public}",           401, 401, 401, 401, 403, 401, 404, 200, 200,
         fresh=True),
    _row("DELETE", "/v0/devices/{private}",          401, 401, 401, 401, 404, 401, 404, 200, 200,
         fresh=True),
    _row("POST", "/v0/devices/{public}/token",       401, 401, 401, 401, 403, 401, 404, 200, 200),
    _row("POST", "/v0/devices/{test}/token",         401, 401, 401, 401, 404, 401, 200, 404, 404),
    # The catalogue: public, but a credential that is presented must be good.
    _row("GET", "/v0/sensors",                       200, 401, 401, 401, 200, 401, 200, 200, 200),
    _row("GET", "/v0/kits/26",                       200, 401, 401, 401, 200, 401, 200, 200, 200),
    _row("GET", "/v0/measurements",                  200, 401, 401, 401, 200, 401, 200, 200, 200),
    # Users and accounts. A test key may read the account but not change it or its keys;
    # signing out ends an access token's session (an API key is revoked instead). Signing in
    # and validating a token read the credentials in the body, never a header.
    _row("GET", "/v0/users",                         200, 401, 401, 401, 200, 401, 200, 200, 200),
    _row("GET", "/v0/users/{owner_id}",              200, 401, 401, 401, 200, 401, 200, 200, 200),
    _row("GET", "/v0/me",                            401, 401, 401, 401, 200, 401, 200, 200, 200),
    _row("PATCH", "/v0/me",                          401, 401, 401, 401, 200, 401, 403, 200, 200,
         body={"city": "Gràcia"}),
    _row("DELETE", "/v0/me",                         401, 401, 401, 401, 200, 401, 403, 200, 200,
         fresh=True),
    _row("DELETE", "/v0/sessions",                   401, 401, 401, 401, 200, 401, 400, 200, 200,
         fresh=True),
    _row("GET", "/v0/me/api_keys",                   401, 401, 401, 401, 200, 401, 403, 200, 200),
    _row("POST", "/v0/me/api_keys",                  401, 401, 401, 401, 201, 401, 403, 201, 201,
         body={"mode": "live", "label": "matrix"}),
    _row("DELETE", "/v0/me/api_keys/{owner_key_id}", 401, 401, 401, 401, 404, 401, 403, 200, 404,
         fresh=True),
    _row("POST", "/v0/sessions",                     200, 200, 200, 200, 200, 200, 200, 200, 200,
         body={"username": "owner", "password": PASSWORD}),
    _row("POST", "/v0/tokens/validate",              200, 200, 200, 200, 200, 200, 200, 200, 200,
         body={"token": "{owner_token}"}),
    _row("POST", "/oauth/token",                     200, 200, 200, 200, 200, 200, 200, 200, 200,
         body={"grant_type": "password", "username": "owner", "password": PASSWORD}),
    _row("POST", "/oauth/revoke",                    200, 200, 200, 200, 200, 200, 200, 200, 200,
         body={"token": "{owner_token}"}),
    _row("POST", "/v0/users",                        201, 201, 201, 201, 201, 201, 201, 201, 201,
         body={"username": "newcomer", "email": "new@example.org", "password": PASSWORD},
         fresh=True),
    _row("POST", "/v0/password_resets",              202, 202, 202, 202, 202, 202, 202, 202, 202,
         body={"email": "owner@example.org"}),
    _row("GET", "/v0/password_resets/not-a-token",   404, 404, 404, 404, 404, 404, 404, 404, 404),
    # The gateway: the device's token, or its owner's or an admin's; a test key only for test
    # devices. The legacy /v0/add finds its device by MAC address and reads no credential.
    _row("POST", "/v0/devices/{public}/readings",    401, 401, 401, 401, 403, 200, 403, 200, 200,
         body=READINGS, service="ingest"),
    _row("POST", "/v0/devices/{private}/readings",   401, 401, 401, 401, 403, 403, 403, 200, 200,
         body=READINGS, service="ingest"),
    _row("POST", "/v0/devices/{test}/readings",      401, 401, 401, 401, 403, 403, 200, 200, 200,
         body=READINGS, service="ingest"),
    _row("POST", "/v0/add",                          200, 200, 200, 200, 200, 200, 200, 200, 200,
         headers=LEGACY, service="ingest"),
]
# fmt: on

# What each credential is shown: the world's devices listed (by their names in `world`).
SHOWN = {
    ("/v0/devices", None): {
        "none": {"public"},
        "other": {"public"},
        "test_key": {"test"},
        "owner": {"public", "private"},
        "admin": {"public", "private"},
    },
    ("/v0/search", "matrix"): {
        "none": {"public"},
        "other": {"public"},
        "test_key": {"test"},
        "owner": {"public", "private"},
        "admin": {"public", "private"},
    },
    ("/v0/devices/world_map", None): {
        "none": {"public"},
        "other": {"public"},
        "test_key": {"test"},
        "owner": {"public"},
        "admin": {"public"},
    },
    ("/v0/devices/fresh_world_map", None): {
        "other": {"public"},
        "test_key": {"test"},
        "owner": {"public", "private"},
        "admin": {"public", "private"},
    },
}

ROUNDED, PRECISE = (41.404, 2.156), (41.403629, 2.156487)
COORDINATES = [
    (path, credential, PRECISE if credential in precise_for else ROUNDED)
    for path, precise_for in (
        ("/v0/devices/{public}", ("owner", "admin")),
        ("/v0/devices", ("owner", "admin")),
        ("/v0/devices/world_map", ()),  # the public map is the same for everyone
        ("/v0/devices/fresh_world_map", ("owner",)),  # the user's own devices, precisely
    )
    for credential in ("none", "other", "owner", "admin")
    if not (credential == "none" and "fresh" in path)
]
READ_ONLY = ["id", "uuid", "owner_id", "device_token", "created_at", "updated_at",
             "last_reading_at", "role", "is_test", "deleted_at", "token"]  # fmt: skip


async def _token(conn, user_id, *, kind="access", is_test=False, **columns):
    prefix = {"access": "", "api_key": "sk_test_" if is_test else "sk_live_"}[kind]
    text = tokens.new_token(prefix)
    token_id = await conn.fetchval(
        "INSERT INTO api_tokens (user_id, token_hash, kind, is_test, expires_at, revoked_at)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        user_id,
        tokens.hash_token(text),
        kind,
        is_test,
        columns.get("expires_at"),
        columns.get("revoked_at"),
    )
    return text, token_id


async def _device(conn, owner_id, name, mac, *, is_private=False, is_test=False):
    token = tokens.new_token()
    device_id = await conn.fetchval(
        "INSERT INTO devices (owner_id, name, kit_id, mac_address, latitude, longitude,"
        " exposure, is_private, is_test, device_token_hash, last_reading_at, last_posted_at)"
        " VALUES ($1, $2, $3, $4, 41.403629, 2.156487, 'outdoor', $5, $6, $7, $8, now())"
        " RETURNING id",
        owner_id,
        name,
        SCK_2_1,
        mac,
        is_private,
        is_test,
        tokens.hash_token(token),
        T0,
    )
    await conn.execute("INSERT INTO readings VALUES ($1, $2, 55, 21, 21)", T0, device_id)
    await conn.execute(
        "INSERT INTO latest_readings (device_id, sensor_id, time, raw_value, value)"
        " VALUES ($1, 55, $2, 21, 21)",
        device_id,
        T0,
    )
    return device_id, token


@pytest.fixture
async def world(db_pool):
    """An owner with a public, a private and a test device; another citizen; an admin; and
    credentials of every kind in CREDENTIALS."""
    past, now = datetime.now(UTC) - timedelta(days=1), datetime.now(UTC)
    async with db_pool.acquire() as conn:
        owner = await insert_user(conn, "owner")
        other = await insert_user(conn, "other")
        admin = await insert_user(conn, "admin", "admin")
        public, device_token = await _device(conn, owner, "Matrix public", "02:00:00:00:0a:01")
        private, _ = await _device(
            conn, owner, "Matrix private", "02:00:00:00:0a:02", is_private=True
        )
        test, _ = await _device(conn, owner, "Matrix test", "02:00:00:00:0a:03", is_test=True)
        owner_token, _ = await _token(conn, owner)
        _, owner_key_id = await _token(conn, owner, kind="api_key")
        secrets = {
            "none": None,
            "malformed": "Bearer two words",
            "revoked": (await _token(conn, owner, kind="api_key", revoked_at=now))[0],
            "expired": (await _token(conn, owner, expires_at=past))[0],
            "other": (await _token(conn, other))[0],
            "device": device_token,
            "test_key": (await _token(conn, owner, kind="api_key", is_test=True))[0],
            "owner": owner_token,
            "admin": (await _token(conn, admin))[0],
        }
    headers = {
        name: {}
        if secret is None
        else {"Authorization": secret if name == "malformed" else f"Bearer {secret}"}
        for name, secret in secrets.items()
    }
    return {
        "headers": headers,
        "names": {public: "public", private: "private", test: "test"},
        "fill": {
            "{public}": str(public),
            "{private}": str(private),
            "{test}": str(test),
            "{owner_id}": str(owner),
            "{owner_key_id}": str(owner_key_id),
            "{owner_token}": owner_token,
        },
    }


@pytest.fixture
def serve(world, db_settings, aiohttp_client):
    """A client of the query service or of the gateway, on the world's database."""
    died = []

    async def serve(service):
        if service == "query":
            settings = QuerySettings(db=db_settings)
            return await aiohttp_client(
                query_app.create_app(settings, on_fatal=lambda: died.append(service))
            )
        settings = ingest_config.IngestSettings(db=db_settings)
        return await aiohttp_client(ingest_app.create_app(settings, on_fatal=_fatal))

    yield serve
    assert not died, "a query service background task died; see the log above"


def _fatal():
    raise AssertionError("a gateway background task died")


def _fill(value, world):
    if isinstance(value, str):
        for key, text in world["fill"].items():
            value = value.replace(key, text)
        return value
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    return value


ROWS = [pytest.param(row, id=row.id) for row in MATRIX if not row.fresh]
CELLS = [
    pytest.param(row, credential, status, id=f"{row.id}-{credential}")
    for row in MATRIX
    if row.fresh
    for credential, status in zip(CREDENTIALS, row.statuses, strict=True)
]


@pytest.mark.parametrize("row", ROWS)
async def test_row(serve, world, row):
    client = await serve(row.service)
    answered = {
        credential: await _call(client, world, row, credential) for credential in CREDENTIALS
    }
    expected = dict(zip(CREDENTIALS, row.statuses, strict=True))
    assert {c: status for c, (status, _) in answered.items()} == expected, {
        c: body for c, (status, body) in answered.items() if status != expected[c]
    }


@pytest.mark.parametrize(("row", "credential", "status"), CELLS)
async def test_cell(serve, world, row, credential, status):
    answered, body = await _call(await serve(row.service), world, row, credential)
    assert answered == status, body


async def _call(client, world, row, credential):
    """The status and the start of the body of `row` called with `credential`."""
    headers = {**world["headers"][credential], **(row.headers or {})}
    body = None if row.body is None else orjson.dumps(_fill(row.body, world))
    if body is not None:
        headers["Content-Type"] = "application/json"
    response = await client.request(
        row.method,
        _fill(row.path, world),
        params=_fill(row.params, world),
        headers=headers,
        data=body,
    )
    return response.status, (await response.read())[:300]


@pytest.mark.parametrize(
    ("path", "text", "credential"),
    [(path, text, credential) for (path, text), by in SHOWN.items() for credential in by],
)
async def test_what_each_credential_is_shown(serve, world, path, text, credential):
    client = await serve("query")
    params = {"q": text} if text else None
    response = await client.get(path, params=params, headers=world["headers"][credential])
    assert response.status == 200
    shown = {world["names"][d["id"]] for d in await response.json() if d["id"] in world["names"]}
    assert shown == SHOWN[path, text][credential]


@pytest.mark.parametrize(("path", "credential", "shown"), COORDINATES)
async def test_others_are_shown_coordinates_rounded_to_100_m(serve, world, path, credential, shown):
    """The public device stands at PRECISE and does not allow a precise location."""
    client = await serve("query")
    public = int(world["fill"]["{public}"])
    response = await client.get(_fill(path, world), headers=world["headers"][credential])
    body = await response.json()
    [document] = [d for d in (body if isinstance(body, list) else [body]) if d["id"] == public]
    assert (document["latitude"], document["longitude"]) == shown
    assert document["location"]["geohash"] == geo.geohash(*shown)


@pytest.mark.parametrize("field", READ_ONLY)
@pytest.mark.parametrize("credential", ["owner", "admin"])
async def test_patch_refuses_mass_assignment(serve, world, db_pool, credential, field):
    client = await serve("query")
    public = int(world["fill"]["{public}"])
    async with db_pool.acquire() as conn:
        before = dict(await conn.fetchrow("SELECT * FROM devices WHERE id = $1", public))
    response = await client.patch(
        f"/v0/devices/{public}",
        json={"description": "changed", field: 1},
        headers=world["headers"][credential],
    )
    assert response.status == 400
    assert [f["name"] for f in (await response.json())["fields"]] == [field]
    async with db_pool.acquire() as conn:
        assert dict(await conn.fetchrow("SELECT * FROM devices WHERE id = $1", public)) == before
