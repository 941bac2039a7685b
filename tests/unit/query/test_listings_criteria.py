"""Parsing ransack-style `q[...]` parameters into storage criteria (no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import pytest
from multidict import MultiDict

from core import errors
from query import filters
from storage import listings
from storage.listings import Condition, Order

FIELDS = listings.DEVICE_FIELDS


def parse(*pairs, fields=FIELDS):
    return filters.criteria(MultiDict(pairs), fields, limit=25, offset=0)


def test_no_filters():
    criteria = parse(("page", "2"), ("q", "plain search text"))
    assert (list(criteria.conditions), list(criteria.order)) == ([], [])
    assert (criteria.limit, criteria.offset) == (25, 0)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("q[id_eq]", "12", Condition("id", "eq", 12)),
        ("q[id_not_eq]", "-3", Condition("id", "not_eq", -3)),
        ("q[latitude_lteq]", "41.5", Condition("latitude", "lteq", 41.5)),
        ("q[name_cont]", " park ", Condition("name", "cont", "park")),
        ("q[name_start]", "%_", Condition("name", "start", "%_")),
        ("q[city_end]", "na", Condition("city", "end", "na")),
        ("q[kit_id_in]", "3, 26", Condition("kit_id", "in", [3, 26])),
        ("q[city_in]", "Barcelona", Condition("city", "in", ["Barcelona"])),
        ("q[last_reading_at_null]", "TRUE", Condition("last_reading_at", "null", True)),
        ("q[last_reading_at_null]", "0", Condition("last_reading_at", "null", False)),
        (
            "q[created_at_gt]",
            "2024-05-01",
            Condition("created_at", "gt", datetime(2024, 5, 1, tzinfo=UTC)),
        ),
        (
            "q[created_at_lt]",
            "1714521600",
            Condition("created_at", "lt", datetime(2024, 5, 1, tzinfo=UTC)),
        ),
        (
            "q[uuid_eq]",
            "12345678-1234-5678-1234-567812345678",
            Condition("uuid", "eq", UUID("12345678-1234-5678-1234-567812345678")),
        ),
    ],
)
def test_conditions(key, value, expected):
    assert list(parse((key, value)).conditions) == [expected]


def test_the_longest_predicate_wins_and_fields_may_end_like_one():
    fields = {"thing_not": listings.Field("a", "int"), "thing": listings.Field("b", "int")}
    assert filters.split("thing_not_eq", fields) == ("thing", "not_eq")
    assert filters.split("thing_not_in", fields) == ("thing_not", "in")


def test_in_takes_the_array_form_without_splitting():
    criteria = parse(("q[city_in][]", "a,b"), ("q[city_in][]", "c"))
    assert list(criteria.conditions) == [Condition("city", "in", ["a,b", "c"])]


def test_blank_values_drop_their_condition_as_in_ransack():
    assert list(parse(("q[name_eq]", ""), ("q[id_in]", " , "), ("q[id_null]", "")).conditions) == []


@pytest.mark.parametrize(
    ("pairs", "named"),
    [
        ([("q[password_hash_eq]", "x")], "q[password_hash_eq]"),
        ([("q[name_matches]", "x")], "q[name_matches]"),
        ([("q[id_cont]", "1")], "q[id_cont]"),
        ([("q[id_eq]", "1"), ("q[id_eq]", "2")], "q[id_eq]"),
        ([("q[id_eq][]", "1")], "q[id_eq]"),
        ([("q[id_eq]", "1.5")], "q[id_eq]"),
        ([("q[id_eq]", "9" * 19)], "q[id_eq]"),
        ([("q[latitude_gt]", "inf")], "q[latitude_gt]"),
        ([("q[latitude_gt]", "1_000")], "q[latitude_gt]"),
        ([("q[created_at_gt]", "1e300")], "q[created_at_gt]"),
        ([("q[name_eq]", "x" * 201)], "q[name_eq]"),
        ([("q[name_eq]", "a\x00")], "q[name_eq]"),
        ([("q[uuid_eq]", "1234")], "q[uuid_eq]"),
        ([("q[]", "x")], "q[]"),
        ([("q[a-b_eq]", "x")], "q[a-b_eq]"),
        ([("q[sort]", "name up")], "q[sort]"),
        ([("q[sort]", "mac_address")], "q[sort]"),
        ([("q[sort]", "id,name,city,country_code")], "q[sort]"),
        ([], "q"),
    ],
)
def test_refusals_name_the_parameter(pairs, named):
    if named == "q":
        predicates = ("eq", "not_eq", "lt", "lteq", "gt", "gteq", "in")
        pairs = [(f"q[{f}_{p}]", "1") for f in ("id", "owner_id", "kit_id") for p in predicates]
        assert len(pairs) == 21
    with pytest.raises(errors.BadRequest) as caught:
        parse(*pairs)
    assert caught.value.code == "invalid_filter"
    assert list(caught.value.fields or {}) == [named]


def test_at_most_twenty_conditions():
    twenty = [(f"q[{field}_null]", "true") for field in list(FIELDS)[:10]]
    twenty += [(f"q[{field}_not_eq]", "1") for field in ("id", "owner_id", "kit_id")]
    twenty += [(f"q[{field}_eq]", "x") for field in ("name", "city", "exposure", "description")]
    twenty += [(f"q[{field}_cont]", "x") for field in ("name", "city", "country_code")]
    assert len(twenty) == 20
    assert len(parse(*twenty).conditions) == 20
    with pytest.raises(errors.BadRequest):
        parse(*twenty, ("q[owner_username_eq]", "x"))


def test_sort_keys():
    criteria = parse(("q[sort]", "name desc, city"), ("q[s]", "id ASC"))
    assert sorted(criteria.order) == sorted(
        [Order("name", True), Order("city", False), Order("id", False)]
    )


def test_no_secret_is_an_allowed_field():
    for fields in (
        listings.DEVICE_FIELDS,
        listings.SENSOR_FIELDS,
        listings.KIT_FIELDS,
        listings.MEASUREMENT_FIELDS,
    ):
        for name, field in fields.items():
            for secret in ("password", "token", "hash", "email", "mac"):
                assert secret not in name and secret not in field.column


def test_like_escape():
    assert listings.like_escape("100%_a\\b") == "100\\%\\_a\\\\b"
