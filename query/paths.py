"""Ids in paths: a device's, and the 404 for one that names no device; `is_id` for any id
written as text (an API key's in its path, a kit's in a device's fields).

An id is ASCII digits only. Python's `str.isdigit` and `int` also read other scripts' digits
(`"١٢"` is 12) and `isdigit` says yes to some `int` refuses (`"²"`), so each is checked as
ASCII first: every device has one address, and no path makes the service fail.
"""

from __future__ import annotations

from aiohttp import web

from core import errors

BIGINT_ID_DIGITS = 18  # every id of 18 digits fits a bigint (devices, API keys)


def device_id(request: web.Request) -> int:
    """The `{device_id}` of the request's path; a 404 in the error model if it is no id."""
    raw = request.match_info["device_id"]
    if not is_id(raw, BIGINT_ID_DIGITS):
        raise device_not_found(raw[:40])
    return int(raw)


def device_not_found(device_id: object) -> errors.NotFound:
    """The 404 for a device that does not exist, or that the client may not see."""
    return errors.NotFound(f"Couldn't find Device with 'id'={device_id}", code="device_not_found")


def is_id(raw: str, max_digits: int) -> bool:
    """Whether `raw` is an id of at most `max_digits` ASCII digits."""
    return raw.isascii() and raw.isdigit() and len(raw) <= max_digits
