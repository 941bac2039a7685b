"""Ransack-style filters: `q[<field>_<predicate>]=value` on an allowlist, and `q[sort]`.

Predicates: `eq not_eq lt lteq gt gteq` compare; `cont start end` match text (case-insensitive,
wildcards taken literally); `in` takes a list (`q[id_in]=1,2` or `q[id_in][]=1&q[id_in][]=2`);
`null` takes `true` or `false`. `q[sort]=field asc|desc` (several keys separated by commas;
ransack's `q[s]` works too). A blank value drops its condition, as in ransack. Values are checked
against the field's kind here and bound as parameters by storage; they never become SQL.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from typing import Any

from multidict import MultiMapping

from core import errors, numbers, timeparse
from storage import listings

MAX_CONDITIONS = 20
MAX_VALUES = 100
MAX_VALUE_CHARS = 200
MAX_SORT_KEYS = 3
SORT_KEYS = frozenset({"sort", "s", "sorts"})

_KEY = re.compile(r"q\[([A-Za-z0-9_]{1,64})\](\[\])?")
_INT = re.compile(r"-?[0-9]{1,18}")  # ASCII digits: "\d" is any script's
_BY_LENGTH = sorted(listings.PREDICATES, key=len, reverse=True)


def criteria(
    query: MultiMapping[str], fields: Mapping[str, listings.Field], *, limit: int, offset: int
) -> listings.Criteria:
    """The conditions and order that `query` asks for; raises BadRequest naming what is wrong."""
    values: dict[str, list[str]] = {}
    listed: set[str] = set()
    for key, value in query.items():
        if not key.startswith("q["):
            continue
        match = _KEY.fullmatch(key)
        if match is None:
            raise _invalid(key[:80], "is not a filter: expected q[<field>_<predicate>]")
        name = match.group(1)
        values.setdefault(name, []).append(value)
        if match.group(2):
            listed.add(name)
    sort = [v for name in SORT_KEYS & values.keys() for v in values.pop(name)]
    if len(values) > MAX_CONDITIONS:
        raise _invalid("q", f"at most {MAX_CONDITIONS} conditions are allowed")
    conditions = [
        condition
        for name, given in values.items()
        if (condition := _condition(name, given, name in listed, fields)) is not None
    ]
    return listings.Criteria(conditions, _order(sort, fields), limit, offset)


def split(name: str, fields: Mapping[str, listings.Field]) -> tuple[str, listings.Predicate]:
    """`name` as (field, predicate); raises BadRequest for an unknown field or predicate."""
    unknown_field = None
    for predicate in _BY_LENGTH:
        field = name.removesuffix("_" + predicate)
        if field != name:
            if field in fields:
                return field, predicate
            unknown_field = unknown_field or field
    if unknown_field is not None:
        raise _invalid(
            f"q[{name}]",
            f"{unknown_field!r} is not a filterable field; filterable: {', '.join(fields)}",
        )
    raise _invalid(
        f"q[{name}]",
        f"no known predicate in {name!r}; predicates: {', '.join(listings.PREDICATES)}",
    )


def _condition(
    name: str, given: list[str], listed: bool, fields: Mapping[str, listings.Field]
) -> listings.Condition | None:
    field, predicate = split(name, fields)
    kind = fields[field].kind
    where = f"q[{name}]"
    if predicate in listings.TEXT_PREDICATES and kind != "text":
        raise _invalid(where, f"{predicate} applies to text fields only; {field} is not text")
    if predicate == "in":
        items = given if listed else [part for value in given for part in value.split(",")]
        items = [item.strip() for item in items if item.strip()]
        if len(items) > MAX_VALUES:
            raise _invalid(where, f"at most {MAX_VALUES} values are allowed")
        if not items:
            return None
        return listings.Condition(field, predicate, [_value(where, kind, i) for i in items])
    if len(given) > 1 or listed:
        raise _invalid(where, "takes one value")
    value = given[0].strip()
    if not value:
        return None
    if predicate == "null":
        if value.lower() not in ("true", "false", "1", "0"):
            raise _invalid(where, "must be true or false")
        return listings.Condition(field, predicate, value.lower() in ("true", "1"))
    if predicate in listings.TEXT_PREDICATES:
        return listings.Condition(field, predicate, _value(where, "text", value))
    return listings.Condition(field, predicate, _value(where, kind, value))


def _value(where: str, kind: listings.Kind, raw: str) -> Any:
    if len(raw) > MAX_VALUE_CHARS:
        raise _invalid(where, f"values are at most {MAX_VALUE_CHARS} characters")
    if kind == "text":
        if "\x00" in raw:
            raise _invalid(where, "must not contain NUL characters")
        return raw
    if kind == "int":
        if _INT.fullmatch(raw) is None:
            raise _invalid(where, f"{raw[:40]!r} is not a whole number")
        return int(raw)
    if kind == "float":
        number = numbers.parse_float(raw)
        if number is None:
            raise _invalid(where, f"{raw[:40]!r} is not a number")
        return number
    if kind == "time":
        try:
            return timeparse.from_micros(timeparse.parse_timestamp(raw))
        except (timeparse.TimeParseError, OverflowError):
            raise _invalid(
                where, f"{raw[:40]!r} is not an ISO 8601 time or epoch seconds"
            ) from None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise _invalid(where, f"{raw[:40]!r} is not a UUID") from None


def _order(sort: list[str], fields: Mapping[str, listings.Field]) -> list[listings.Order]:
    keys = [key.strip() for value in sort for key in value.split(",") if key.strip()]
    if len(keys) > MAX_SORT_KEYS:
        raise _invalid("q[sort]", f"at most {MAX_SORT_KEYS} sort keys are allowed")
    order = []
    for key in keys:
        field, _, direction = key.partition(" ")
        direction = direction.strip().lower() or "asc"
        if field not in fields:
            raise _invalid(
                "q[sort]", f"{field[:40]!r} is not a sortable field; sortable: {', '.join(fields)}"
            )
        if direction not in ("asc", "desc"):
            raise _invalid("q[sort]", f"direction must be asc or desc, not {direction[:10]!r}")
        order.append(listings.Order(field, direction == "desc"))
    return order


def _invalid(name: str, message: str) -> errors.BadRequest:
    return errors.BadRequest(
        f"{name} {message}", code="invalid_filter", fields={name: [f"{name} {message}"]}
    )
