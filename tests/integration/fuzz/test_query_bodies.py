"""Bad bodies and parameters at every endpoint of the query service: never a 5xx, every refusal
in the error model, and no answer that shows a secret or another user's email."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.integration.fuzz import strategies
from tests.integration.fuzz.support import FUZZ, answer, answer_without_secrets

# Every operation that reads a body, with the credential it needs ("owner" or none).
WRITES = [
    ("POST", "/v0/devices", "owner"),
    ("PATCH", "/v0/devices/{public}", "owner"),
    ("POST", "/v0/users", None),
    ("PATCH", "/v0/me", "owner"),
    ("POST", "/v0/me/api_keys", "owner"),
    ("POST", "/v0/sessions", None),
    ("POST", "/oauth/token", None),
    ("POST", "/oauth/revoke", None),
    ("POST", "/v0/tokens/validate", None),
    ("POST", "/v0/password_resets", None),
    ("PATCH", "/v0/password_resets/not-a-token", None),
]


def _call(world, method, path, credential):
    headers = {"Authorization": f"Bearer {world.owner_token}"} if credential == "owner" else {}
    return method, path.format(public=world.public), headers


BAD_BODIES = {
    "no-boundary": ("multipart/form-data", b'{"name": "x"}'),
    "bad-name": (
        "multipart/form-data; boundary=b",
        b'--b\r\nContent-Disposition: form-data; name="\xff\xfe"\r\n\r\nx\r\n--b--\r\n',
    ),
    "bad-value": (
        "multipart/form-data; boundary=b",
        b'--b\r\nContent-Disposition: form-data; name="name"\r\n\r\n\xff\r\n--b--\r\n',
    ),
    "control-in-part-header": (
        "multipart/form-data; boundary=b",
        b'--b\r\nContent-Disposition: form-data; name="a\x0b\x15"\r\n\r\nx\r\n--b--\r\n',
    ),
    "nul-in-form": ("application/x-www-form-urlencoded", b"name=a%00b&label=a%00b&token=%00"),
    "bad-percent": ("application/x-www-form-urlencoded", b"name=%ff%fe&label=%"),
    "nul-in-json": (
        "application/json",
        b'{"name":"a\\u0000","label":"\\u0000","email":"a\\u0000@b.org","token":"\\u0000",'
        b'"username":"\\u0000","password":"\\u0000xxxxxxxxxxxx","user_tags":["\\u0000"]}',
    ),
    "surrogate": ("application/json", b'{"name": "\\ud800", "label": "\\udfff"}'),
    "nan": ("application/json", b'{"name": NaN, "label": 1e400, "latitude": Infinity}'),
    "deep": ("application/json", b"[" * 100_000 + b"]" * 100_000),
    "bom": ("application/json", b"\xef\xbb\xbf{}"),
    "binary": ("application/json", b"\xff\xfe\x00{}"),
}


@pytest.mark.parametrize("kind", BAD_BODIES)
async def test_unreadable_bodies(query_client, world, kind):
    content_type, body = BAD_BODIES[kind]
    for operation in WRITES:
        method, path, headers = _call(world, *operation)
        response = await query_client.request(
            method, path, data=body, headers={**headers, "Content-Type": content_type}
        )
        status, raw = await answer(response)
        # aiohttp reads bad percent escapes leniently; the rest must be refused.
        assert status >= 400 or kind in ("bad-percent", "bom"), (method, path, raw)


FIELDS = [
    *("name", "description", "latitude", "longitude", "exposure", "user_tags", "is_private"),
    *("mac_address", "kit_id", "username", "email", "password", "label", "mode", "token"),
    *("grant_type", "refresh_token", "city", "url"),
]


@FUZZ
@given(
    operation=st.sampled_from(WRITES),
    document=strategies.ANY_JSON.map(strategies.encode),
    data=st.data(),
)
async def test_generated_bodies(query_client, world, operation, document, data):
    method, path, headers = _call(world, *operation)
    fields = data.draw(
        st.dictionaries(
            st.sampled_from(FIELDS),
            strategies.SCALARS | strategies.ANY_JSON,
            max_size=6,
        ).map(strategies.encode)
    )
    body = data.draw(st.sampled_from([document, fields]))
    response = await query_client.request(
        method, path, data=body, headers={**headers, "Content-Type": "application/json"}
    )
    await answer_without_secrets(response, world.secrets)


async def test_non_finite_coordinates_are_never_stored(query_client, world, db_pool):
    headers = {"Authorization": f"Bearer {world.owner_token}"}
    for value in ("NaN", "Infinity", "-Infinity", "1e400", "inf", "nan", " NaN "):
        for field in ("latitude", "longitude", "elevation"):
            for kind in ("json", "form"):
                body = {field: value, "name": "Coordinates", "mac_address": "02:00:00:00:0c:09"}
                send = {"json": body} if kind == "json" else {"data": body}
                for method, path in (
                    ("PATCH", f"/v0/devices/{world.public}"),
                    ("POST", "/v0/devices"),
                ):
                    response = await query_client.request(method, path, headers=headers, **send)
                    status, raw = await answer(response)
                    assert status == 422, (method, field, value, kind, raw)
    async with db_pool.acquire() as conn:
        bad = await conn.fetch(
            "SELECT id FROM devices WHERE latitude IN ('NaN', 'Infinity', '-Infinity')"
            " OR longitude IN ('NaN', 'Infinity', '-Infinity')"
            " OR elevation IN ('NaN', 'Infinity', '-Infinity')"
        )
    assert not bad
