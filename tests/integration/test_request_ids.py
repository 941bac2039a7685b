"""Every response carries an X-Request-ID; an inbound one is echoed only when it is plain."""

from __future__ import annotations

import pytest
from aiohttp import web

from core import web as core_web


@pytest.fixture
async def client(aiohttp_client):
    app = web.Application(middlewares=[core_web.error_middleware])

    async def ok(_request):
        return core_web.json_response({"ok": True})

    app.router.add_get("/", ok)
    return await aiohttp_client(app)


@pytest.mark.parametrize("given", ["abc-123", "A.b_c-9", "x" * 128])
async def test_a_plain_inbound_id_is_echoed(client, given):
    response = await client.get("/", headers={"X-Request-ID": given})
    assert response.headers["X-Request-ID"] == given


@pytest.mark.parametrize("given", ["", "has space", "x" * 129, "semi;colon", "ümlaut"])
async def test_anything_else_is_replaced(client, given):
    response = await client.get("/", headers={"X-Request-ID": given})
    assert response.headers["X-Request-ID"] != given
    assert len(response.headers["X-Request-ID"]) == 32


async def test_errors_carry_the_same_id(client):
    response = await client.get("/missing", headers={"X-Request-ID": "trace-1"})
    assert response.status == 404
    assert (await response.json())["request_id"] == "trace-1"
