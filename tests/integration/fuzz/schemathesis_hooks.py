"""Schemathesis hooks for tests/integration/fuzz/test_schemathesis.py, loaded by the `st` process
through SCHEMATHESIS_HOOKS: every request is made by a citizen of its own, created for it.

A fresh citizen each time keeps one operation from spoiling the next: deleting the account,
signing out or revoking the token would otherwise turn every later request into a 401.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

import psycopg
import schemathesis

from core import tokens

_connection: list[psycopg.Connection] = []  # one, opened on first use


def _mint(dsn: str) -> str:
    """A new citizen with an access token; the token."""
    if not _connection:
        _connection.append(psycopg.connect(dsn, autocommit=True))
    token = tokens.new_token()
    name = f"fuzz-{secrets.token_hex(6)}"
    _connection[0].execute(
        "WITH u AS (INSERT INTO users (username, email) VALUES (%s, %s) RETURNING id)"
        " INSERT INTO api_tokens (user_id, token_hash, kind) SELECT id, %s, 'access' FROM u",
        (name, f"{name}@example.org", tokens.hash_token(token)),
    )
    return token


# The operations nginx sends to the gateway (deploy/nginx/sensorium.conf.template).
GATEWAY = "^(postDeviceReadings|legacyAdd(Get|Post|Put)|getClock)$"


@schemathesis.auth(refresh_interval=None).skip_for(operation_id_regex=GATEWAY)
class FreshCitizen:
    """A bearer token of a new citizen for every request."""

    def get(self, case: Any, context: Any) -> str:
        return _mint(os.environ["SENSORIUM_FUZZ_DSN"])

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schemathesis.auth(refresh_interval=None).apply_to(operation_id_regex=GATEWAY)
class DeviceToken:
    """The public device's own token, for the gateway's operations."""

    def get(self, case: Any, context: Any) -> str:
        return os.environ["SENSORIUM_FUZZ_DEVICE_TOKEN"]

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
