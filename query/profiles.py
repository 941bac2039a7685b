"""Users' profiles: checking what a sign-up or a change gives, and the v0 user document.

The document is the SmartCitizen v0 user: `id, uuid, role, username, avatar, first_name,
last_name, location{city, country, country_code}, url, joined_at, updated_at, devices[]`, plus
`email` for the user themself and admins only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from core import errors
from query import auth, documents, geo
from storage.models import Account

USERNAME = re.compile(r"[A-Za-z0-9_.-]{3,30}")
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}")
COUNTRY_CODE = re.compile(r"[A-Za-z]{2}")
LINK = re.compile(r"https?://[^\s]{1,2040}", re.IGNORECASE)
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
MAX_TEXT_CHARS = 100
MAX_EMAIL_CHARS = 254

REQUIRED = ("username", "email", "password")
OPTIONAL = ("first_name", "last_name", "city", "country_code", "url", "avatar")
WRITABLE = (*REQUIRED, *OPTIONAL)
READ_ONLY = frozenset(
    {
        "id", "uuid", "role", "owner_id", "created_at", "updated_at", "joined_at",
        "deleted_at", "password_hash", "location", "devices", "tokens", "access_token",
        "refresh_token", "api_key", "api_keys", "is_test", "admin",
    }
)  # fmt: skip


def unexpected(given: Iterable[str], allowed: Iterable[str]) -> dict[str, list[str]]:
    """A message for each key of `given` that is not `allowed`: read-only fields by name."""
    permitted = set(allowed)
    return {
        key[:64]: ["is read-only" if key in READ_ONLY else "is not a field of a user"]
        for key in given
        if key not in permitted
    }


def checked(params: Mapping[str, Any], names: Iterable[str]) -> dict[str, str | None]:
    """The values of `names` present in `params`, cleaned (a blank optional field is None);
    raises Unprocessable naming every field that is wrong."""
    found: dict[str, str | None] = {}
    problems: dict[str, list[str]] = {}
    for name in names:
        if name not in params:
            continue
        value, problem = _check(name, params[name])
        if problem:
            problems[name] = [problem]
        else:
            found[name] = value
    if problems:
        raise invalid(problems)
    return found


def invalid(problems: dict[str, list[str]]) -> errors.Unprocessable:
    """The 422 for fields that are wrong."""
    names = ", ".join(problems)
    return errors.Unprocessable(
        f"Invalid fields: {names}", code="validation_failed", fields=problems
    )


def _check(name: str, value: Any) -> tuple[str | None, str | None]:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, "can't be blank" if name in REQUIRED else None
    if not isinstance(value, str):
        return None, "must be a string"
    if name == "password":
        if len(value) < MIN_PASSWORD_CHARS:
            return None, f"is too short (minimum is {MIN_PASSWORD_CHARS} characters)"
        if len(value) > MAX_PASSWORD_CHARS:
            return None, f"is too long (maximum is {MAX_PASSWORD_CHARS} characters)"
        return value, None
    value = value.strip()
    if "\x00" in value:
        return None, "must not contain NUL characters"
    if name == "username":
        if USERNAME.fullmatch(value) is None:
            return None, "must be 3 to 30 letters, digits, '_', '-' or '.'"
        if value.isdigit():
            return None, "must not be only digits"
    elif name == "email":
        if len(value) > MAX_EMAIL_CHARS or EMAIL.fullmatch(value) is None:
            return None, "is not an e-mail address"
    elif name == "country_code":
        if COUNTRY_CODE.fullmatch(value) is None:
            return None, "must be a two-letter ISO 3166 country code"
        value = value.upper()
    elif name in ("url", "avatar"):
        if LINK.fullmatch(value) is None:
            return None, "must be an http or https URL"
    elif len(value) > MAX_TEXT_CHARS:
        return None, f"is too long (maximum is {MAX_TEXT_CHARS} characters)"
    return value, None


def user_document(
    account: Account,
    devices: Sequence[Mapping[str, Any]],
    *,
    reader: auth.User | None,
    now: datetime,
    online_window: timedelta,
) -> dict[str, Any]:
    """The v0 user document as `reader` may see it."""
    document: dict[str, Any] = {
        "id": account.id,
        "uuid": str(account.uuid),
        "role": account.role,
        "username": account.username,
        "avatar": account.avatar,
        "first_name": account.first_name,
        "last_name": account.last_name,
        "location": {
            "city": account.city,
            "country": None,
            "country_code": account.country_code,
        },
        "url": account.url,
        "joined_at": documents.timestamp(account.created_at),
        "updated_at": documents.timestamp(account.updated_at),
        "devices": [
            device_entry(device, reader, now, online_window)
            for device in devices
            if auth.can_see(reader, device)
        ],
    }
    if reader is not None and (reader.id == account.id or reader.role == "admin"):
        document["email"] = account.email
    return document


def device_entry(
    device: Mapping[str, Any], reader: auth.User | None, now: datetime, online_window: timedelta
) -> dict[str, Any]:
    """A device as the v0 user document lists it."""
    owner = auth.is_owner(reader, device)
    precise = bool(device["precise_location"]) or owner
    latitude = geo.public_coordinate(device["latitude"], precise)
    longitude = geo.public_coordinate(device["longitude"], precise)
    status = documents.status(device, now, online_window)
    return {
        "id": device["id"],
        "uuid": str(device["uuid"]),
        "mac_address": device["mac_address"] if owner else documents.FILTERED,
        "name": device["name"],
        "description": device["description"],
        "location": documents.device_location(device, latitude, longitude),
        "latitude": latitude,
        "longitude": longitude,
        "kit_id": device["kit_id"],
        "state": documents.state(device),
        "status": status,
        "system_tags": documents.system_tags(device, status, now),
        "user_tags": list(device["user_tags"]),
        "is_private": device["is_private"],
        "last_reading_at": documents.timestamp(device["last_reading_at"]),
        "added_at": documents.timestamp(device["created_at"]),
        "updated_at": documents.timestamp(device["updated_at"]),
    }


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)
