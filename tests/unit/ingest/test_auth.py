"""Who may post for a device, and where the token is read from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import make_mocked_request

from core import errors
from ingest import auth
from storage import models

NOW = datetime(2024, 1, 1, tzinfo=UTC)
DEVICE = models.IngestDevice(7, 100, None, False, {}, {})


def holder(user_id=None, role="citizen", device_id=None, is_test=False, expires_at=None):
    return models.TokenPrincipal(user_id, role, device_id, is_test, expires_at)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer abc123",
        "bearer abc123",
        "token abc123",
        "Token token=abc123",
        'Token token="abc123"',
    ],
)
def test_tokens_are_read_from_the_authorization_header(header):
    request = make_mocked_request("POST", "/", headers={"Authorization": header})
    assert auth.token_of(request) == "abc123"


@pytest.mark.parametrize("header", [None, ""])
def test_missing_credentials_are_unauthorized(header):
    headers = {"Authorization": header} if header is not None else {}
    request = make_mocked_request("POST", "/", headers=headers)
    with pytest.raises(errors.Unauthorized) as caught:
        auth.token_of(request)
    assert caught.value.code == "missing_credentials"


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Bearer", "invalid_token"),
        ("Basic dXNlcjpwYXNz", "invalid_credentials"),
        ("abc123", "invalid_credentials"),
        ("Bearer a b", "invalid_token"),
    ],
)
def test_malformed_credentials_are_unauthorized(header, code):
    request = make_mocked_request("POST", "/", headers={"Authorization": header})
    with pytest.raises(errors.Unauthorized) as caught:
        auth.token_of(request)
    assert caught.value.code == code


def test_a_token_in_the_url_is_not_accepted():
    request = make_mocked_request("POST", "/?access_token=abc123")
    with pytest.raises(errors.Unauthorized, match="access_token in the URL is not accepted"):
        auth.token_of(request)


def test_the_owner_and_admins_may_post():
    auth.decide(DEVICE, holder(user_id=100), NOW)
    auth.decide(DEVICE, holder(user_id=5, role="admin"), NOW)
    auth.decide(DEVICE, holder(device_id=7, role=None), NOW)


@pytest.mark.parametrize(
    ("who", "error"),
    [
        (None, errors.Unauthorized),
        (holder(user_id=100, expires_at=NOW - timedelta(seconds=1)), errors.Unauthorized),
        (holder(user_id=101), errors.Forbidden),
        (holder(device_id=8, role=None), errors.Forbidden),
        (holder(user_id=100, is_test=True), errors.Forbidden),
    ],
)
def test_everyone_else_may_not(who, error):
    with pytest.raises(error):
        auth.decide(DEVICE, who, NOW)


def test_an_unexpired_token_is_accepted():
    auth.decide(DEVICE, holder(user_id=100, expires_at=NOW + timedelta(hours=1)), NOW)
