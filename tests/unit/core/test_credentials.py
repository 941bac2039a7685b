"""Credentials presented in the Authorization header (tokens, Basic), the key header or, for
GETs, in the URL."""

from __future__ import annotations

import base64

import pytest

from core import credentials, errors


@pytest.mark.parametrize(
    "header", ["Bearer t0k", "bearer t0k", "token t0k", "Token token=t0k", 'Token token="t0k"']
)
def test_every_header_form_gives_the_token(header):
    assert credentials.presented_token({"Authorization": header}, {}, allow_query=False) == "t0k"


def test_access_token_in_the_url_only_where_allowed():
    query = {"access_token": "t0k"}
    assert credentials.presented_token({}, query, allow_query=True) == "t0k"
    assert credentials.presented_token({}, query, allow_query=False) is None


def test_no_credentials_is_none():
    assert credentials.presented_token({}, {}, allow_query=True) is None


@pytest.mark.parametrize("header", ["Bearer", "Digest abc", "Bearer " + "x" * 600, "Bearer a\tb"])
def test_malformed_headers_are_unauthorized(header):
    with pytest.raises(errors.Unauthorized):
        credentials.presented_token({"Authorization": header}, {}, allow_query=True)


def test_the_key_header_gives_the_key():
    headers = {"key": "sk_live_abc"}
    assert credentials.presented_token(headers, {}, allow_query=False) == "sk_live_abc"


def _basic(text):
    return {"Authorization": "Basic " + base64.b64encode(text.encode()).decode()}


def test_basic_credentials_where_allowed():
    found = credentials.presented(_basic("ada:pass:word"), {}, allow_query=False, allow_basic=True)
    assert found == credentials.Basic("ada", "pass:word")
    assert "pass:word" not in repr(found)


def test_basic_credentials_are_refused_where_only_tokens_are_read():
    with pytest.raises(errors.Unauthorized, match="Basic authentication is not accepted"):
        credentials.presented_token(_basic("ada:password"), {}, allow_query=False)


@pytest.mark.parametrize(
    "header",
    [
        "Basic !!!",
        "Basic " + base64.b64encode(b"no colon").decode(),
        "Basic " + base64.b64encode(b":password").decode(),
        "Basic " + base64.b64encode(b"user:").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
    ],
)
def test_malformed_basic_credentials_are_unauthorized(header):
    with pytest.raises(errors.Unauthorized) as caught:
        credentials.presented({"Authorization": header}, {}, allow_query=False, allow_basic=True)
    assert caught.value.headers["WWW-Authenticate"].startswith('Basic realm="sensorium"')


def test_an_unreadable_token_carries_the_invalid_token_challenge():
    with pytest.raises(errors.Unauthorized) as caught:
        credentials.presented_token({"Authorization": "Bearer"}, {}, allow_query=False)
    challenge = caught.value.headers["WWW-Authenticate"]
    assert challenge == 'Bearer realm="sensorium", error="invalid_token"'


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({"Authorization": "Bearer a", "key": "b"}, {}),
        ({"Authorization": "Bearer a"}, {"access_token": "b"}),
        ({"key": "a"}, {"access_token": "b"}),
    ],
)
def test_one_credential_at_a_time(headers, query):
    with pytest.raises(errors.BadRequest):
        credentials.presented(headers, query, allow_query=True, allow_basic=True)


def test_a_query_token_where_it_is_not_read_does_not_count_twice():
    found = credentials.presented(
        {"Authorization": "Bearer a"}, {"access_token": "b"}, allow_query=False, allow_basic=True
    )
    assert found == "a"


@pytest.mark.parametrize(
    ("headers", "query", "carries"),
    [
        ({}, {}, False),
        ({"Authorization": "anything"}, {}, True),
        ({"key": "x"}, {}, True),
        ({}, {"access_token": ""}, True),
    ],
)
def test_carries_credentials_sees_every_form(headers, query, carries):
    assert credentials.carries_credentials(headers, query) is carries
