"""Bad parameters at every read of the query service: history ranges far in the past or future,
bad ISO 8601, odd offsets and zones, huge rollups and limits, bad coordinates, paths that are
not ids. Never a 5xx, every refusal in the error model, no secret in any answer."""

from __future__ import annotations

from hypothesis import event, given
from hypothesis import strategies as st

from tests.integration.fuzz import strategies
from tests.integration.fuzz.support import MANY, answer, answer_without_secrets

TIMES = st.one_of(
    strategies.TIMESTAMPS.map(str),
    st.sampled_from(
        [
            "2024-05-01",
            "2024-05-01T10:00:00+05:45",
            "2024-05-01T10:00:00-00:00",
            "now",
            "2024-05-01T10:00:00Z ",
            "+275760-09-13T00:00:00Z",
            "-0001-01-01",
            "1e20",
            "-1e20",
            "9" * 30,
            "2024-05-01T10:00:00[Europe/Madrid]",
            "2024-05-01T10:00:00.000000001Z",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-05:00",
            "0001-01-01",
            "9999-12-31",
        ]
    ),
)
WORDS = st.text(max_size=12) | st.sampled_from(["", "0", "-1", "1e400", "NaN", "true", "\x00"])
HISTORY = st.fixed_dictionaries(
    {},
    optional={
        "sensor_id": st.sampled_from(["55", "55,56", "-1", "99999999999999999999", "a"]) | WORDS,
        "sensor_key": WORDS,
        "rollup": st.sampled_from(
            ["1h", "1d", "1ms", "0s", "999999999y", "1M", "1w", "15m", "-1h", "1.5h", "1 h"]
        )
        | WORDS,
        "function": st.sampled_from(
            ["avg", "max", "min", "sum", "count", "dev", "first", "last", "median", ""]
        ),
        "from": TIMES,
        "to": TIMES,
        "relative": st.sampled_from(["1h", "6w", "100y", "0s", "-1d", "1e9s"]) | WORDS,
        "all_intervals": st.sampled_from(["true", "false", "maybe"]),
        "limit": st.sampled_from(["0", "1", "10", "99999999999999999999", "-1"]) | WORDS,
        "raw": st.sampled_from(["true", "false", "1"]),
        "tz": st.sampled_from(
            [
                "UTC",
                "Europe/Madrid",
                "Mars/Olympus",
                "../../etc/passwd",
                "+05:30",
                "",
                "Etc/GMT+12",
                "America/St_Johns",
            ]
        ),
        "format": st.sampled_from(["json", "csv", "ndjson", "xml", ""]),
    },
)
LISTING = st.fixed_dictionaries(
    {},
    optional={
        "near": st.sampled_from(
            ["41.4,2.15", "91,0", "0,181", "NaN,NaN", "1e400,0", "a,b", "41.4", "41.4,2.15,3", ""]
        ),
        "within": st.sampled_from(["1", "0", "-5", "1e400", "NaN", "inf", "x"]),
        "with_tags": WORDS,
        "page": st.sampled_from(["1", "0", "-1", "99999999999999999999", "1.5", ""]),
        "per_page": st.sampled_from(["1", "0", "1000000", "-1", "x", ""]),
    },
)


@MANY
@given(params=HISTORY, signed_in=st.booleans())
async def test_history_parameters(query_client, world, params, signed_in):
    headers = {"Authorization": f"Bearer {world.owner_token}"} if signed_in else {}
    response = await query_client.get(
        f"/v0/devices/{world.public}/readings", params=params, headers=headers
    )
    status, _ = await answer_without_secrets(response, world.secrets)
    event(f"status {status}")


@MANY
@given(
    path=st.sampled_from(
        [
            "/v0/devices",
            "/v0/users",
            "/v0/sensors",
            "/v0/kits",
            "/v0/measurements",
            "/v0/devices/world_map",
            "/v0/search",
        ]
    ),
    params=LISTING,
    search=WORDS,
)
async def test_listing_parameters(query_client, world, path, params, search):
    if path == "/v0/search":
        params = {**params, "q": search}
    response = await query_client.get(path, params=params)
    status, _ = await answer_without_secrets(response, world.secrets)
    event(f"status {status}")


@MANY
@given(
    template=st.sampled_from(
        [
            "/v0/devices/{}",
            "/v0/devices/{}/readings",
            "/v0/sensors/{}",
            "/v0/kits/{}",
            "/v0/measurements/{}",
            "/v0/users/{}",
            "/v0/password_resets/{}",
            "/v0/me/api_keys/{}",
        ]
    ),
    ident=st.sampled_from(
        [
            "0",
            "-1",
            "99999999999999999999",
            "1.5",
            "%00",
            "%ff",
            "..",
            "1e3",
            "٣",
            "00001",
            "1%20OR%201=1",
        ]
    )
    | st.text(alphabet="abc%0123456789-_.~", min_size=1, max_size=20),
    method=st.sampled_from(["GET", "HEAD", "DELETE", "PATCH"]),
)
async def test_identifiers_in_paths(query_client, world, template, ident, method):
    headers = {"Authorization": f"Bearer {world.owner_token}"}
    response = await query_client.request(method, template.format(ident), headers=headers)
    status, _ = await answer(response)
    event(f"status {status}")


async def test_edges_of_the_calendar_and_nul_characters(query_client, world):
    """Cases the generated ones found: each is a 400 in the error model."""
    path = f"/v0/devices/{world.public}/readings"
    cases = [
        {"sensor_id": "55", "rollup": "1h", "from": moment, "tz": zone}
        for moment in (
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-05:00",
            "0001-01-01",
            "9999-12-31",
        )
        for zone in ("Europe/Madrid", "America/New_York")
    ]
    cases.append({"sensor_key": "te\x00mp", "rollup": "1h"})
    for params in cases:
        status, raw = await answer(await query_client.get(path, params=params))
        assert status == 400, (params, raw)
    status, raw = await answer(await query_client.get("/v0/users/ow%00ner"))
    assert status == 404, raw
