"""The query service on this test's database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web

from query.app import create_app
from query.config import QuerySettings
from storage.config import DatabaseSettings
from tests import db_proxy


@pytest.fixture
def query_app(db_settings: DatabaseSettings) -> Iterator[Callable[..., web.Application]]:
    """A factory of query apps on this test's database; the test fails if a background task died.

    Ask for it before `aiohttp_client`, so the app closes before the database is dropped.
    """
    died: list[str] = []

    def make(**overrides: Any) -> web.Application:
        settings = QuerySettings(db=overrides.pop("db", db_settings), **overrides)
        return create_app(settings, on_fatal=lambda: died.append("a background task died"))

    yield make
    assert not died, "a query service background task died; see the log above"


@pytest.fixture
async def proxy(database_dsn: str) -> AsyncIterator[db_proxy.Proxy]:
    """A relay to this test's database that the test can cut (db_proxy.Proxy)."""
    relay = db_proxy.to(database_dsn)
    await relay.start()
    yield relay
    with contextlib.suppress(Exception):
        await relay.cut()
