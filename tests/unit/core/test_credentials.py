"""Tokens presented in the Authorization header or, for GETs, in the URL."""

from __future__ import annotations

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
