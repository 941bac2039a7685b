"""The query service on this test's database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiohttp import web

from query.app import create_app
from query.config import QuerySettings
from storage.config import DatabaseSettings


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
