"""The error body carries SmartCitizen's keys and the structured ones."""

from __future__ import annotations

from core import errors


def test_an_error_body_has_both_conventions():
    error = errors.Unprocessable(
        "Validation failed", code="invalid_user", fields={"email": ["is taken", "is too long"]}
    )
    body = error.body("req-1")
    assert error.status == 422
    assert body["id"] == "unprocessable_entity"
    assert body["message"] == "Validation failed"
    assert body["url"] == ""
    assert body["errors"] == {"email": ["is taken", "is too long"]}
    assert body["object"] == "error"
    assert body["code"] == "invalid_user"
    assert body["type"] == "invalid_request_error"
    assert body["fields"] == [
        {"name": "email", "message": "is taken"},
        {"name": "email", "message": "is too long"},
    ]
    assert body["request_id"] == "req-1"


def test_without_fields_both_are_null():
    body = errors.NotFound().body("r")
    assert body["errors"] is None and body["fields"] is None
    assert body["message"] == "Not found."
