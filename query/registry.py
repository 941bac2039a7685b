"""The device registry: `POST /v0/devices`, `PATCH` and `DELETE /v0/devices/:id`, and
`POST /v0/devices/:id/token`.

- Creating needs a signed-in user, who becomes the owner; a user signed in with a test API key
  creates a test device. The answer (201) is the owner's device document with `device_token`
  in plain, shown this once: only its SHA-256 is kept.
- Editing, deleting and rotating the token are for the owner and admins: anyone else who may
  see the device gets a 403, anyone who may not a 404 (query/auth.py decides both).
- A body may name only WRITABLE fields. Naming a read-only field (READ_ONLY, or any token, hash
  or password) or an unknown one is a 400 that names each of them in `fields`, and changes
  nothing; a writable field with a bad value is a 422 naming it.
- Deleting is soft: the device leaves every answer at once (documents, listings, search, world
  map, history) and its token stops working; the workers purge its readings in the background
  (workers/purge.py). The answer is 200 with the device's last document.
- The ingest gateways cache devices and token holders and drop them when the database notifies
  a change (within INGEST_CACHE_UNWATCHED_TTL_S, 10 s by default, while a gateway is not
  listening), so a deleted device's or a rotated token's posts may be accepted until then.

Bodies are JSON objects or forms (`application/x-www-form-urlencoded`, `multipart/form-data`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from aiohttp import web

from core import errors, numbers, tokens
from core import web as core_web
from query import auth, documents, forms, paths, state
from storage import devices, registry
from storage import errors as storage_errors
from storage.pool import Connection

routes = web.RouteTableDef()

WRITABLE = frozenset(
    {
        "name",
        "description",
        "kit_id",
        "exposure",
        "latitude",
        "longitude",
        "elevation",
        "user_tags",
        "is_private",
        "precise_location",
        "mac_address",
    }
)
# Fields of the device document (and of the table) that only the platform writes.
READ_ONLY = frozenset(
    {
        "id",
        "uuid",
        "owner_id",
        "owner",
        "owner_username",
        "user_id",
        "created_at",
        "updated_at",
        "added_at",
        "deleted_at",
        "purged_at",
        "last_reading_at",
        "last_posted_at",
        "role",
        "is_test",
        "state",
        "status",
        "system_tags",
        "data",
        "kit",
        "hardware",
        "hardware_version",
        "location",
        "geohash",
        "city",
        "country_code",
        "country",
        "data_policy",
        "notify",
        "postprocessing",
    }
)
EXPOSURES = ("indoor", "outdoor")
MAX_NAME_CHARS = 100
MAX_DESCRIPTION_CHARS = 2000
MAX_TAGS = 20
MAX_TAG_CHARS = 64
_MAC = re.compile(r"[0-9a-f]{2}([:-])(?:[0-9a-f]{2}\1){4}[0-9a-f]{2}|[0-9a-f]{12}")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


@routes.post("/v0/devices")
async def create_device(request: web.Request) -> web.Response:
    """Register a device for the signed-in user; its token is in the answer, this once."""
    user = await _signed_in(request)
    body = await _body(request)
    _reject_fixed(body)
    changes = _validated(body, required=("name", "mac_address"))
    token = tokens.new_token()
    new = registry.NewDevice(
        owner_id=user.id,
        name=changes["name"],
        description=changes.get("description"),
        kit_id=changes.get("kit_id"),
        mac_address=changes["mac_address"],
        latitude=changes.get("latitude"),
        longitude=changes.get("longitude"),
        elevation=changes.get("elevation"),
        exposure=changes.get("exposure"),
        user_tags=changes.get("user_tags", []),
        is_private=changes.get("is_private", False),
        precise_location=changes.get("precise_location", False),
        is_test=user.is_test,
        token_hash=tokens.hash_token(token),
    )
    _check_location(new.latitude, new.longitude)
    async with _transaction(request) as conn:
        await _check_references(conn, changes, device_id=None)
        device_id = await _written(registry.create(conn, new))
    document = await _document(request, device_id, user)
    document["device_token"] = token
    headers = {"Location": f"/v0/devices/{device_id}"}
    return core_web.json_response(document, status=201, headers=headers)


@routes.patch("/v0/devices/{device_id}")
async def update_device(request: web.Request) -> web.Response:
    """Change the WRITABLE fields a body names (owner or admin)."""
    device_id = paths.device_id(request)
    user = await _signed_in(request)
    # Read before the transaction, judged after the authorization: a 403 or 404 comes first.
    body: dict[str, Any] | errors.ApiError
    try:
        body = await _body(request)
    except errors.ApiError as exc:
        body = exc
    async with _transaction(request) as conn:
        current = await _writable_device(conn, device_id, user)
        if isinstance(body, errors.ApiError):
            raise body
        _reject_fixed(body)
        changes = _validated(body)
        await _check_references(conn, changes, device_id=device_id)
        merged = registry.Writable(
            **{f: changes.get(f, current[f]) for f in registry.Writable._fields}
        )
        _check_location(merged.latitude, merged.longitude)
        if changes:
            await _written(registry.update(conn, device_id, merged))
    return core_web.json_response(await _document(request, device_id, user))


@routes.delete("/v0/devices/{device_id}")
async def delete_device(request: web.Request) -> web.Response:
    """Delete a device (owner or admin): it disappears at once, its data is purged later."""
    device_id = paths.device_id(request)
    user = await _signed_in(request)
    async with _transaction(request) as conn:
        await _writable_device(conn, device_id, user)
        document = await _document_on(request, conn, device_id, user)
        await registry.delete(conn, device_id)
    return core_web.json_response(document)


@routes.post("/v0/devices/{device_id}/token")
async def rotate_token(request: web.Request) -> web.Response:
    """Give the device a new token (owner or admin), shown this once; the old one stops working."""
    device_id = paths.device_id(request)
    user = await _signed_in(request)
    token = tokens.new_token()
    async with _transaction(request) as conn:
        await _writable_device(conn, device_id, user)
        await registry.set_token(conn, device_id, tokens.hash_token(token))
    document = await _document(request, device_id, user)
    document["device_token"] = token
    return core_web.json_response(document)


# Who may write ---------------------------------------------------------------------------------


async def _signed_in(request: web.Request) -> auth.User:
    async with state.connection(request) as conn:
        user = await auth.current_user(request, conn)
    if user is None:
        raise errors.Unauthorized("Sign in to manage devices.", code="missing_credentials")
    return user


async def _writable_device(conn: Connection, device_id: int, user: auth.User) -> dict[str, Any]:
    """The device, locked for this transaction, if `user` may change it; else 404 or 403."""
    device = await registry.editable(conn, device_id)
    if device is None or not auth.can_see(user, device):
        raise paths.device_not_found(device_id)
    if not auth.is_owner(user, device):
        raise errors.Forbidden(
            "Only the device's owner or an admin may change it.", code="not_your_device"
        )
    return device


# Bodies ----------------------------------------------------------------------------------------


async def _body(request: web.Request) -> dict[str, Any]:
    """The request's fields: a JSON object, or a form (`user_tags[]` may repeat)."""
    if not request.can_read_body:
        return {}
    if request.content_type in _FORMS:
        return forms.storable(_form(await forms.read_form(request)))
    raw = await forms.raw_body(request)
    if not raw.strip():
        return {}
    json_type = request.content_type.endswith("+json")  # application/merge-patch+json
    if not json_type and request.content_type not in (
        "application/json",
        "application/octet-stream",
    ):
        raise errors.UnsupportedMediaType(
            "Send a JSON object or a form.", code="unsupported_media_type"
        )
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise errors.BadRequest(f"The body is not JSON: {exc}", code="invalid_json") from exc
    if not isinstance(body, dict):
        raise errors.BadRequest("The body must be a JSON object.", code="invalid_json")
    return forms.storable(body)


def _form(form: Mapping[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in form.items():
        if not isinstance(value, str):
            raise errors.BadRequest(f"{key[:64]} must be text", code="invalid_body")
        if key == "user_tags[]" and isinstance(fields.setdefault("user_tags", []), list):
            fields["user_tags"].append(value)
        elif key in fields or key == "user_tags[]":
            message = f"{key[:64]} is given more than once"
            raise errors.BadRequest(message, code="invalid_body", fields={key[:64]: [message]})
        else:
            fields[key] = value
    return fields


def _reject_fixed(body: Mapping[str, Any]) -> None:
    """A 400 naming every read-only or unknown field of `body`; nothing is changed."""
    problems: dict[str, list[str]] = {}
    for name in body:
        label = name[:64]
        if name in WRITABLE:
            continue
        if name in READ_ONLY or any(p in name.lower() for p in ("token", "hash", "password")):
            problems[label] = [f"{label} is read-only"]
        else:
            problems[label] = [f"{label} is not a field of a device"]
    if problems:
        raise errors.BadRequest(
            "The body names fields that cannot be written: "
            + ", ".join(sorted(problems))
            + f". Writable fields: {', '.join(sorted(WRITABLE))}.",
            code="read_only_field",
            fields=problems,
        )


# Values ----------------------------------------------------------------------------------------


def _validated(body: Mapping[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The body's writable fields, converted; a 422 naming every bad or missing one."""
    changes: dict[str, Any] = {}
    problems = {name: [f"{name} is required"] for name in required if body.get(name) is None}
    for name, value in body.items():
        try:
            changes[name] = _CONVERTERS[name](value)
        except ValueError as exc:
            problems[name] = [f"{name} {exc}"]
    if problems:
        raise _unprocessable(problems)
    return changes


def _name(value: Any) -> str:
    text = _text(value, MAX_NAME_CHARS)
    if text is None:
        raise ValueError("must not be blank")
    return text


def _description(value: Any) -> str | None:
    return _text(value, MAX_DESCRIPTION_CHARS)


def _text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be text")
    text = value.strip()
    if len(text) > limit:
        raise ValueError(f"must be at most {limit} characters")
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    return text or None


def _mac(value: Any) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    if not _MAC.fullmatch(text):
        raise ValueError("must be a MAC address such as 02:00:00:ab:cd:ef")
    digits = re.sub("[:-]", "", text)
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def _kit_id(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and paths.is_id(value.strip(), 10):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        raise ValueError("must be the id of a kit")
    return value


def _number(low: float, high: float) -> Any:
    def convert(value: Any) -> float | None:
        if value is None or value == "":
            return None
        number: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            number = numbers.parse_float(value)
        if number is None or not low <= number <= high:  # NaN and infinities fail here too
            raise ValueError(f"must be a number from {low:g} to {high:g}")
        return number

    return convert


def _exposure(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if value not in EXPOSURES:
        raise ValueError("must be indoor or outdoor")
    return str(value)


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(tag, str) for tag in items):
        raise ValueError("must be an array of text or a comma-separated text")
    tags = list(dict.fromkeys(tag.strip() for tag in items if tag.strip()))
    if len(tags) > MAX_TAGS or any(len(tag) > MAX_TAG_CHARS or "\x00" in tag for tag in tags):
        raise ValueError(f"takes at most {MAX_TAGS} tags of at most {MAX_TAG_CHARS} characters")
    return tags


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower() if isinstance(value, str) else None
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError("must be true or false")


_CONVERTERS = {
    "name": _name,
    "description": _description,
    "mac_address": _mac,
    "kit_id": _kit_id,
    "latitude": _number(-90.0, 90.0),
    "longitude": _number(-180.0, 180.0),
    "elevation": _number(-11_000.0, 9_000.0),
    "exposure": _exposure,
    "user_tags": _tags,
    "is_private": _flag,
    "precise_location": _flag,
}


def _check_location(latitude: float | None, longitude: float | None) -> None:
    if (latitude is None) != (longitude is None):
        missing = "latitude" if latitude is None else "longitude"
        raise _unprocessable({missing: ["latitude and longitude go together: give both"]})


async def _check_references(
    conn: Connection, changes: Mapping[str, Any], *, device_id: int | None
) -> None:
    """A 422 if the kit does not exist or a live device already has the MAC address."""
    problems: dict[str, list[str]] = {}
    kit_id = changes.get("kit_id")
    if kit_id is not None and not await registry.kit_exists(conn, kit_id):
        problems["kit_id"] = [f"kit_id {kit_id} is not a known kit"]
    mac = changes.get("mac_address")
    if mac is not None and await registry.mac_holder(conn, mac, other_than=device_id):
        problems["mac_address"] = ["mac_address is already taken by another device"]
    if problems:
        raise _unprocessable(problems)


async def _written(write: Any) -> Any:
    """What the write returns; a MAC address taken by a concurrent write is a 422."""
    try:
        return await write
    except storage_errors.UniqueViolation as exc:
        raise _unprocessable(
            {"mac_address": ["mac_address is already taken by another device"]}
        ) from exc


def _unprocessable(problems: dict[str, list[str]]) -> errors.Unprocessable:
    return errors.Unprocessable(
        "The device is not valid: " + "; ".join(m for ms in problems.values() for m in ms),
        code="validation_failed",
        fields=problems,
    )


# Answers ---------------------------------------------------------------------------------------


async def _document(request: web.Request, device_id: int, user: auth.User) -> dict[str, Any]:
    async with state.connection(request) as conn:
        return await _document_on(request, conn, device_id, user)


async def _document_on(
    request: web.Request, conn: Connection, device_id: int, user: auth.User
) -> dict[str, Any]:
    found = await devices.device(conn, device_id)
    if found is None:  # deleted by a concurrent request
        raise paths.device_not_found(device_id)
    device, sensors = found
    return documents.device_document(
        device,
        sensors,
        now=datetime.now(UTC),
        online_window=timedelta(seconds=request.app[state.settings].online_window_s),
        is_owner=auth.is_owner(user, device),
    )


@contextlib.asynccontextmanager
async def _transaction(request: web.Request) -> AsyncIterator[Connection]:
    """A pooled connection in a transaction, committed when the block ends without error."""
    async with state.connection(request) as conn:
        with storage_errors.translated():
            async with conn.transaction():
                yield conn
