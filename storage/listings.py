"""Listings: pages of devices, sensors, kits and measurements, filtered on allowlisted fields.

Each listing is one named block of `sql/listings.sql` that selects from a subquery named
`listed`; conditions, order and page are appended here. Only the SQL of allowlisted fields
(`Field.column`, a column of `listed`) and of the fixed predicates below is ever written into a
statement: every value the caller gives is bound as a parameter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, LiteralString, NamedTuple
from uuid import UUID

from storage import errors
from storage.models import DeviceSensor
from storage.pool import Connection
from storage.queries import SQL

Kind = Literal["int", "float", "text", "time", "uuid"]
Predicate = Literal[
    "eq", "not_eq", "lt", "lteq", "gt", "gteq", "cont", "start", "end", "in", "null"
]
PREDICATES: tuple[Predicate, ...] = (
    "eq", "not_eq", "lt", "lteq", "gt", "gteq", "cont", "start", "end", "in", "null",
)  # fmt: skip
TEXT_PREDICATES = frozenset({"cont", "start", "end"})


class Field(NamedTuple):
    """A filterable, sortable field of a listing: a column of its `listed` subquery."""

    column: LiteralString
    kind: Kind


class Condition(NamedTuple):
    """`field predicate value`: `value` is of the field's kind (a list for `in`, a bool for
    `null`, the text to look for with `cont`, `start` and `end`)."""

    field: str
    predicate: Predicate
    value: Any


class Order(NamedTuple):
    """One sort key."""

    field: str
    descending: bool = False


class Criteria(NamedTuple):
    """What to list, in which order, and which page (`limit` rows after `offset`)."""

    conditions: Sequence[Condition] = ()
    order: Sequence[Order] = ()
    limit: int = 25
    offset: int = 0


class Near(NamedTuple):
    """Devices by distance from a point, optionally within `within_km`."""

    latitude: float
    longitude: float
    within_km: float | None = None


class Reader(NamedTuple):
    """Who lists: private devices are listed only for their owner or an admin; test devices
    only for test keys, live devices only for live credentials (anonymous readers are live)."""

    user_id: int | None
    admin: bool
    is_test: bool = False


class Tagged(NamedTuple):
    """Devices with any of `tags`, user tags or system tags computed at `now`."""

    tags: Sequence[str]
    now: datetime
    online_window: timedelta


class Page(NamedTuple):
    """A page of rows and how many rows match in all."""

    total: int
    rows: list[Any]


class CatalogueSensor(NamedTuple):
    """A sensor of the catalogue with its measurement (None fields when it has none)."""

    id: int
    uuid: UUID
    parent_id: int | None
    name: str
    description: str | None
    unit: str | None
    default_key: str | None
    measurement_id: int | None
    created_at: datetime
    updated_at: datetime
    measurement_uuid: UUID | None
    measurement_name: str | None
    measurement_description: str | None
    measurement_unit: str | None
    measurement_definition: str | None


class Kit(NamedTuple):
    """A kit with its sensors."""

    id: int
    uuid: UUID
    slug: str
    name: str
    description: str | None
    version: str | None
    created_at: datetime
    updated_at: datetime
    sensors: list[CatalogueSensor]


class Measurement(NamedTuple):
    """A measurement: what a sensor measures."""

    id: int
    uuid: UUID
    name: str
    description: str | None
    unit: str | None
    definition: str | None
    created_at: datetime
    updated_at: datetime


class SearchHit(NamedTuple):
    """A user or a public device matching a search."""

    type: str
    id: int
    name: str
    description: str | None
    owner_id: int | None
    owner_username: str | None
    avatar: str | None
    city: str | None
    country_code: str | None
    rank: int


_COMMON: dict[str, Field] = {
    "id": Field("id", "int"),
    "uuid": Field("uuid", "uuid"),
    "name": Field("name", "text"),
    "description": Field("description", "text"),
    "created_at": Field("created_at", "time"),
    "updated_at": Field("updated_at", "time"),
}
# Never here: secrets (password and token hashes), e-mail addresses, MAC addresses, and exact
# coordinates (latitude and longitude are the ones the reader is shown).
DEVICE_FIELDS: Mapping[str, Field] = {
    **_COMMON,
    "owner_id": Field("owner_id", "int"),
    "owner_username": Field("owner_username", "text"),
    "kit_id": Field("kit_id", "int"),
    "exposure": Field("exposure", "text"),
    "city": Field("city", "text"),
    "country_code": Field("country_code", "text"),
    "latitude": Field("public_latitude", "float"),
    "longitude": Field("public_longitude", "float"),
    "last_reading_at": Field("last_reading_at", "time"),
}
SENSOR_FIELDS: Mapping[str, Field] = {
    **_COMMON,
    "parent_id": Field("parent_id", "int"),
    "unit": Field("unit", "text"),
    "default_key": Field("default_key", "text"),
    "measurement_id": Field("measurement_id", "int"),
}
KIT_FIELDS: Mapping[str, Field] = {
    **_COMMON,
    "slug": Field("slug", "text"),
    "version": Field("version", "text"),
}
MEASUREMENT_FIELDS: Mapping[str, Field] = {
    **_COMMON,
    "unit": Field("unit", "text"),
    "definition": Field("definition", "text"),
}

_CASTS: dict[Kind, LiteralString] = {
    "int": "bigint",
    "float": "float8",
    "text": "text",
    "time": "timestamptz",
    "uuid": "uuid",
}
_OPERATORS: dict[str, LiteralString] = {
    "eq": "=",
    "not_eq": "<>",
    "lt": "<",
    "lteq": "<=",
    "gt": ">",
    "gteq": ">=",
}


async def devices(
    conn: Connection,
    criteria: Criteria,
    *,
    reader: Reader,
    tagged: Tagged | None = None,
    near: Near | None = None,
) -> Page:
    """A page of devices (rows as mappings, as `devices.device` returns them) that `reader` may
    see, by distance first when `near` is given. Raises StorageError."""
    params: list[Any] = [
        reader.user_id,
        reader.admin,
        list(tagged.tags) if tagged else None,
        tagged.now if tagged else None,
        tagged.online_window if tagged else None,
        near.latitude if near else None,
        near.longitude if near else None,
        near.within_km if near else None,
        reader.is_test,
    ]
    order = [*criteria.order, Order("distance_km")] if near else criteria.order
    total, rows = await _page(
        conn, SQL["listings_devices"], params, criteria._replace(order=order), DEVICE_FIELDS
    )
    return Page(total, [dict(row) for row in rows])


async def device_sensors(
    conn: Connection, devices: Sequence[tuple[int, int | None]]
) -> dict[int, list[DeviceSensor]]:
    """The sensors of each (device id, kit id), with latest readings, in one query."""
    found: dict[int, list[DeviceSensor]] = {device_id: [] for device_id, _ in devices}
    with errors.translated():
        rows = await conn.fetch(
            SQL["listings_device_sensors"],
            [device_id for device_id, _ in devices],
            [kit_id for _, kit_id in devices],
        )
    for row in rows:
        found[row[0]].append(DeviceSensor(*row[1:]))
    return found


async def sensors(conn: Connection, criteria: Criteria) -> Page:
    """A page of the sensor catalogue (CatalogueSensor rows). Raises StorageError."""
    total, rows = await _page(conn, SQL["listings_sensors"], [], criteria, SENSOR_FIELDS)
    return Page(total, [CatalogueSensor(*row) for row in rows])


async def kits(conn: Connection, criteria: Criteria) -> Page:
    """A page of kits (Kit rows, each with its sensors). Raises StorageError."""
    total, rows = await _page(conn, SQL["listings_kits"], [], criteria, KIT_FIELDS)
    by_kit: dict[int, list[CatalogueSensor]] = {row["id"]: [] for row in rows}
    if rows:
        with errors.translated():
            sensor_rows = await conn.fetch(SQL["listings_kit_sensors"], list(by_kit))
        for sensor_row in sensor_rows:
            by_kit[sensor_row[0]].append(CatalogueSensor(*sensor_row[1:]))
    return Page(total, [Kit._make([*row, by_kit[row["id"]]]) for row in rows])


async def measurements(conn: Connection, criteria: Criteria) -> Page:
    """A page of measurements (Measurement rows). Raises StorageError."""
    total, rows = await _page(conn, SQL["listings_measurements"], [], criteria, MEASUREMENT_FIELDS)
    return Page(total, [Measurement(*row) for row in rows])


async def search(conn: Connection, text: str, *, reader: Reader, limit: int, offset: int) -> Page:
    """Users and the devices `reader` may see whose names (or cities, descriptions) contain
    `text`, closest matches first (SearchHit rows). Raises StorageError."""
    escaped = like_escape(text)
    params: list[Any] = [
        text,
        f"%{escaped}%",
        f"{escaped}%",
        reader.user_id,
        reader.admin,
        reader.is_test,
    ]
    order: LiteralString = " ORDER BY rank, lower(name), type, id"
    total, rows = await _run(conn, SQL["listings_search"], params, order, limit, offset)
    return Page(total, [SearchHit(*row) for row in rows])


def like_escape(text: str) -> str:
    """`text` with LIKE's wildcards and its escape character (a backslash, PostgreSQL's default,
    so trigram indexes serve the pattern) escaped."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _page(
    conn: Connection,
    base: LiteralString,
    params: list[Any],
    criteria: Criteria,
    fields: Mapping[str, Field],
) -> tuple[int, list[Any]]:
    where = "".join(_condition(c, fields, params) for c in criteria.conditions)
    keys = [*criteria.order, Order("id")]
    order = ", ".join(_order_key(key, fields) for key in keys)
    return await _run(
        conn, base + where, params, " ORDER BY " + order, criteria.limit, criteria.offset
    )


async def _run(
    conn: Connection,
    query: LiteralString,
    params: list[Any],
    order: LiteralString,
    limit: int,
    offset: int,
) -> tuple[int, list[Any]]:
    page = f"{query}{order} LIMIT ${len(params) + 1} OFFSET ${len(params) + 2}"
    with errors.translated():
        rows = await conn.fetch(page, *params, limit, offset)
        if 0 < len(rows) < limit or (not rows and not offset):
            total = offset + len(rows)  # the last page: no need to count
        else:
            total = await conn.fetchval(f"SELECT count(*) FROM ({query}) AS matching", *params)
    return total, list(rows)


def _condition(condition: Condition, fields: Mapping[str, Field], params: list[Any]) -> str:
    field = fields[condition.field]
    column, predicate, value = field.column, condition.predicate, condition.value
    if predicate == "null":
        return f" AND {column} IS {'' if value else 'NOT '}NULL"
    params.append(value)
    placeholder = f"${len(params)}::{_CASTS[field.kind]}"
    if predicate == "in":
        return f" AND {column} = ANY({placeholder}[])"
    if predicate in TEXT_PREDICATES:
        escaped = like_escape(str(value))
        params[-1] = {"cont": f"%{escaped}%", "start": f"{escaped}%", "end": f"%{escaped}"}[
            predicate
        ]
        return f" AND {column} ILIKE ${len(params)}::text"
    return f" AND {column} {_OPERATORS[predicate]} {placeholder}"


def _order_key(key: Order, fields: Mapping[str, Field]) -> str:
    column = "distance_km" if key.field == "distance_km" else fields[key.field].column
    return f"{column} {'DESC' if key.descending else 'ASC'} NULLS LAST"
