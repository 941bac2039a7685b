"""Filters `q[...]` (query/filters.py) under attack: SQL metacharacters, fields that are not on
the allowlist (password and token hashes, e-mail addresses), and hundreds of conditions. Each
is a 400 in the error model or an answer that binds the text as a value; never a 5xx, and no
answer shows a secret or another user's e-mail address, whatever it is asked."""

from __future__ import annotations

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from query import filters
from tests.integration.fuzz.support import FUZZ, answer

LISTINGS = ["/v0/devices", "/v0/users", "/v0/sensors", "/v0/kits", "/v0/measurements"]
FIELDS = ["id", "name", "username", "owner_id", "city", "created_at", "latitude", "uuid"]
SECRET_FIELDS = [
    "password_hash", "email", "token_hash", "device_token_hash", "device_token", "mac_address",
    "owner_email", "users.email", "api_tokens", "reset_token_hash",
]  # fmt: skip
PREDICATES = [*sorted({"eq", "not_eq", "lt", "lteq", "gt", "gteq", "cont", "start", "end", "in",
              "null"}), "like", "matches", "eq_any", ""]  # fmt: skip
INJECTIONS = [
    "' OR '1'='1", "'; DROP TABLE users; --", "1; SELECT pg_sleep(0)", "1 OR 1=1", "%", "_",
    "\\", "\\'", "%' --", "' UNION SELECT password_hash FROM users --", "$1", "$$", "E'\\x41'",
    "1)::text--", "NULL", "true", "1e400", "NaN", "-0", "99999999999999999999", "\x00", "💥",
    "2024-05-01T10:00:00Z'--", "00000000-0000-0000-0000-000000000000' OR 1=1",
]  # fmt: skip
SORTS = [
    "id asc", "name desc", "password_hash asc", "email desc", "id; DROP TABLE users",
    "(SELECT 1)", "id asc, name desc, created_at asc, updated_at desc", "id sideways", "",
]  # fmt: skip


@st.composite
def query_strings(draw: st.DrawFn) -> list[tuple[str, str]]:
    pairs = []
    for _ in range(draw(st.integers(0, 6))):
        field = draw(st.sampled_from(FIELDS + SECRET_FIELDS) | st.text("abc_'\";()-", max_size=12))
        predicate = draw(st.sampled_from(PREDICATES))
        name = f"{field}_{predicate}" if predicate else field
        key = draw(st.sampled_from([f"q[{name}]", f"q[{name}][]", f"q[{name}]]", f"q[[{name}]"]))
        value = draw(st.sampled_from(INJECTIONS) | st.text(max_size=30))
        pairs.append((key, value))
    if draw(st.booleans()):
        pairs.append((draw(st.sampled_from(["q[sort]", "q[s]"])), draw(st.sampled_from(SORTS))))
    return pairs


def _no_secrets(world, raw: bytes, where: str) -> None:
    for secret in world.secrets:
        assert secret.encode() not in raw, (where, secret[:8])


@FUZZ
@given(path=st.sampled_from(LISTINGS), pairs=query_strings(), signed_in=st.booleans())
async def test_generated_filters(query_client, world, path, pairs, signed_in):
    headers = {"Authorization": f"Bearer {world.owner_token}"} if signed_in else {}
    response = await query_client.get(path, params=pairs, headers=headers)
    status, raw = await answer(response)
    event(f"status {status}")
    _no_secrets(world, raw, f"{path} {pairs}")


@pytest.mark.parametrize("path", LISTINGS)
async def test_fields_off_the_allowlist_are_a_400_naming_them(query_client, world, path):
    for field in SECRET_FIELDS:
        for predicate, value in (("eq", "other@example.org"), ("cont", "@"), ("start", "$a")):
            key = f"q[{field}_{predicate}]"
            response = await query_client.get(path, params={key: value})
            status, raw = await answer(response)
            assert status == 400, (path, key, raw)
            names = [f["name"] for f in (await response.json())["fields"]]
            assert names == [key], names
        response = await query_client.get(path, params={"q[sort]": f"{field} asc"})
        status, raw = await answer(response)
        assert status == 400, (path, field, raw)


async def test_sql_in_a_value_is_only_a_value(query_client, world):
    """Text is bound, never spliced: no row has this name or username, and nothing changed."""
    for value in INJECTIONS:
        for path, key in (("/v0/users", "q[username_eq]"), ("/v0/devices", "q[name_cont]")):
            response = await query_client.get(path, params={key: value})
            status, raw = await answer(response)
            if value == "\x00":
                assert status == 400, raw
                continue
            assert status == 200, (path, value, raw)
            assert await response.json() == [], (path, value)
            _no_secrets(world, raw, path)
    response = await query_client.get("/v0/users", params={"per_page": "100"})
    assert {u["username"] for u in await response.json()} >= {"owner", "other", "admin"}


@pytest.mark.parametrize("path", LISTINGS)
async def test_hundreds_of_conditions_are_a_400(query_client, path):
    many = [(f"q[id_{p}]", "1") for p in ("eq", "not_eq", "lt", "lteq", "gt", "gteq")]
    many += [(f"q[f{i}_eq]", "1") for i in range(300)]
    cases = {
        "conditions": many,
        "values": [("q[id_in]", ",".join(str(i) for i in range(500)))],
        "listed values": [("q[id_in][]", str(i)) for i in range(150)],
        "long value": [("q[id_eq]", "1" * 2_000)],  # the request line stays under 8 KiB
        "sort keys": [("q[sort]", ", ".join(["id asc"] * 200))],
    }
    for what, pairs in cases.items():
        # Each request line stays under aiohttp's limit of 8 KiB (past it, aiohttp answers
        # before the application is asked, and nginx before either).
        response = await query_client.get(path, params=pairs)
        status, raw = await answer(response)
        assert status == 400, (path, what, raw[:300])
    assert filters.MAX_CONDITIONS < 300 and filters.MAX_VALUES < 150
