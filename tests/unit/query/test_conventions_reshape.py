"""Reshaping JSON answers for `pretty` and JSON-P (no server)."""

from __future__ import annotations

import gzip

import orjson
import pytest
from aiohttp import web

from query import conventions


def json_response(body, **headers):
    return web.Response(body=body, content_type="application/json", headers=headers)


def test_pretty_indents():
    response = json_response(b'{"a":[1,2]}')
    conventions._reshape(response, pretty=True, callback=None)
    assert response.body == b'{\n  "a": [\n    1,\n    2\n  ]\n}'


def test_json_p_wraps_and_sets_the_type():
    response = json_response(b'{"a":"\xe2\x80\xa8"}')
    conventions._reshape(response, pretty=False, callback="cb")
    assert response.body == b'/**/cb({"a":"\\u2028"});'
    assert response.content_type == "application/javascript"


def test_a_gzip_snapshot_is_unpacked_and_loses_its_validators():
    response = json_response(gzip.compress(b"[1]"), **{"Content-Encoding": "gzip", "ETag": '"x"'})
    conventions._reshape(response, pretty=False, callback="cb")
    assert response.body == b"/**/cb([1]);"
    assert "Content-Encoding" not in response.headers
    assert "ETag" not in response.headers


@pytest.mark.parametrize(
    "response",
    [
        web.Response(text="a,b\n1,2\n", content_type="text/csv"),
        web.Response(status=304),
        web.StreamResponse(),
    ],
)
def test_other_answers_pass_untouched(response):
    before = getattr(response, "body", None)
    conventions._reshape(response, pretty=True, callback="cb")
    assert getattr(response, "body", None) == before


def test_an_error_status_is_never_wrapped():
    response = json_response(orjson.dumps({"object": "error"}), status=404)
    response.set_status(404)
    conventions._reshape(response, pretty=False, callback="cb")
    assert response.body == b'{"object":"error"}'
    assert response.content_type == "application/json"
