"""Shared by the fuzz tests: the Hypothesis settings they run under, and what every answer to
bad input must look like."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
from aiohttp import ClientResponse
from hypothesis import HealthCheck, configuration, settings

# Hypothesis keeps caches (never an example database: see FUZZ) under .local/, out of git.
configuration.set_hypothesis_home_dir(Path(__file__).resolve().parents[3] / ".local" / "hypothesis")

# Modest example counts keep the package at a minute or two in the default suite; no example
# database (nothing is written into the checkout), no deadline (a shared machine is slow at
# times), and the client fixtures are shared by the examples of one test on purpose: the
# services must survive a stream of bad requests, not one each. The examples are the same on
# every run, so CI is reproducible; SENSORIUM_FUZZ_SEED=random draws new ones (Hypothesis
# prints the seed of a failure, which `pytest --hypothesis-seed=<n>` replays).
FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=os.environ.get("SENSORIUM_FUZZ_SEED") != "random",
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
FEW = settings(FUZZ, max_examples=15)
MANY = settings(FUZZ, max_examples=150)

ERROR_KEYS = {"id", "message", "url", "errors", "object", "code", "type", "fields", "request_id"}


async def answer(response: ClientResponse) -> tuple[int, bytes]:
    """The status and body of `response`, after the checks every answer must pass: never a
    5xx, and every refusal a JSON body in the error model naming the request's id."""
    body = await response.read()
    assert response.status < 500, (response.status, body[:500])
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    request_id = response.headers.get("X-Request-ID")
    assert request_id
    if response.status >= 400 and response.method != "HEAD":  # a HEAD answer has no body
        check_error(response.status, response.headers.get("Content-Type", ""), body, request_id)
    return response.status, body


async def answer_without_secrets(response: ClientResponse, secrets: list[str]) -> tuple[int, bytes]:
    """`answer`, and none of `secrets` anywhere in the body."""
    status, body = await answer(response)
    for secret in secrets:
        assert secret.encode() not in body, (str(response.url)[:200], secret[:8])
    return status, body


def check_error(status: int, content_type: str, body: bytes, request_id: str) -> dict[str, Any]:
    """`body` is an error of the error model (core/errors.py) for the request `request_id`."""
    assert 400 <= status < 500, (status, body[:500])
    assert content_type.startswith("application/json"), (content_type, body[:500])
    error = orjson.loads(body)
    assert isinstance(error, dict), body[:500]
    assert ERROR_KEYS <= error.keys(), error
    assert error["object"] == "error", error
    assert error["request_id"] == request_id, error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["code"], str) and error["code"], error
    assert error["type"] in {
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "rate_limit_error",
    }, error
    assert error["fields"] is None or all(
        isinstance(f, dict) and {"name", "message"} <= f.keys() for f in error["fields"]
    ), error
    return error
