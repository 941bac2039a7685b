"""Hypothesis strategies for bad input: JSON written by hand (so it can hold what a JSON
encoder never writes: NaN, ±Infinity, 1e400, duplicate keys), bad timestamps and values."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from hypothesis import strategies as st


class Raw(str):
    """Text written into a JSON document as it is: `NaN`, `1e400`, a broken escape."""


def encode(value: Any) -> str:
    """`value` as JSON text; `Raw` pieces verbatim, dict items as pairs (so keys may repeat)."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, Pairs):
        return "{" + ",".join(f"{json.dumps(k)}:{encode(v)}" for k, v in value.items) + "}"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(v) for v in value) + "]"
    return json.dumps(value)


class Pairs:
    """A JSON object as a list of pairs: the same key may come twice."""

    def __init__(self, items: list[tuple[str, Any]]) -> None:
        self.items = items

    def __repr__(self) -> str:
        return f"Pairs({self.items!r})"


# What a JSON encoder never writes, but a client may send; 1e-400 is merely 0.
NON_FINITE_TOKENS = [Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), Raw("1e400"), Raw("-1e400")]
NON_FINITE = st.sampled_from([*NON_FINITE_TOKENS, Raw("1e-400")])
HUGE_INTEGERS = st.sampled_from(
    [Raw("1" + "0" * 400), Raw("-" + "9" * 30), Raw(str(2**64)), Raw(str(-(2**63) - 1))]
)
# fmt: off
NUMBER_STRINGS = st.sampled_from(
    ["NaN", "nan", "inf", "-inf", "Infinity", "1e400", "-1e400", "12.5", " 3 ", "1_000", "0x10",
     "", "١٢", "1e-400", "+5", "5."]
)
# fmt: on
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    NON_FINITE,
    HUGE_INTEGERS,
    NUMBER_STRINGS,
    st.text(max_size=20),
)
ANY_JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

GOOD_TIMESTAMPS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.timezones()
).map(lambda moment: moment.isoformat())
TIMESTAMPS = st.one_of(
    GOOD_TIMESTAMPS,
    GOOD_TIMESTAMPS,
    st.sampled_from(
        [
            "2024-05-01T10:00:00Z",
            "9999-12-31T23:59:59Z",
            "0001-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "1999-12-31T23:59:59Z",
            "2024-13-01T00:00:00Z",
            "2024-02-30T10:00:00Z",
            "2024-05-01T24:00:01Z",
            "2024-05-01T10:00:00+25:00",
            "2024-05-01T10:00:00+14:00",
            "2024-05-01T10:00:00-23:59",
            "2024-05-01T10:00:00.1234567890Z",
            "2024-05-01 10:00:00",
            "2024-5-1 1:2:3",
            "20240501T100000Z",
            "2024-W18-3",
            "yesterday",
            "",
            "2024-05-01T10:00:00\x00Z",
            "1714557600",
            "1714557600000",
            "-1",
            "NaN",
        ]
    ),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(),
    NON_FINITE,
    HUGE_INTEGERS,
    st.booleans(),
    st.text(max_size=30),
)
VALUES = st.one_of(SCALARS, ANY_JSON)
SENSOR_NAMES = st.one_of(
    st.sampled_from([55, 56, 55, 56, "55", "temp", 10**30, -1, 0, True, None, 55.0]),
    st.text(max_size=10),
    HUGE_INTEGERS,
)


@st.composite
def sensor_items(draw: st.DrawFn) -> Any:
    key = draw(st.sampled_from(["id", "key"]))
    item: dict[str, Any] = {key: draw(SENSOR_NAMES), "value": draw(VALUES)}
    if draw(st.booleans()):
        return Pairs([*item.items(), ("value", draw(VALUES))])  # a duplicate key
    return item


@st.composite
def readings_documents(draw: st.DrawFn) -> Any:
    """A SmartCitizen readings body, mostly of the right shape, with bad parts."""
    entries = draw(
        st.lists(
            st.one_of(
                st.fixed_dictionaries(
                    {
                        "recorded_at": TIMESTAMPS,
                        "sensors": st.lists(
                            st.one_of(sensor_items(), sensor_items(), sensor_items(), ANY_JSON),
                            max_size=5,
                        ),
                    }
                ),
                ANY_JSON,
            ).filter(lambda entry: entry is not None),
            max_size=5,
        )
    )
    shape = draw(st.sampled_from(["plain"] * 6 + ["duplicate", "reversed", "other"]))
    if shape == "plain":
        return {"data": entries}
    if shape == "duplicate":
        return Pairs([("data", draw(ANY_JSON)), ("data", entries)])
    if shape == "reversed":
        return Pairs([("data", entries), ("data", draw(ANY_JSON))])
    return draw(ANY_JSON)


def nested(depth: int, kind: str) -> bytes:
    """A document nested `depth` deep in lists or objects."""
    if kind == "list":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


# Byte-level damage done to an otherwise encoded body.
BROKEN_BYTES = st.sampled_from(
    [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x00", b"\xf4\x90\x80\x80", b"\\ud800", b"\\u0000"]
)


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """The bytes of a readings body: a generated document, maybe damaged, or something else."""
    kind = draw(st.sampled_from(["document"] * 6 + ["damaged", "nested", "binary", "string-bytes"]))
    if kind == "nested":
        return nested(draw(st.integers(1, 200_000)), draw(st.sampled_from(["list", "object"])))
    if kind == "binary":
        return draw(st.binary(max_size=200))
    text = encode(draw(readings_documents())).encode()
    if kind == "document":
        return text
    if kind == "string-bytes":
        # Bad bytes inside a string value, where a parser must look at them.
        return (
            b'{"data":[{"recorded_at":"2024-05-01T10:00:00Z","sensors":[{"key":"t'
            + draw(BROKEN_BYTES)
            + b'","value":1}]}]}'
        )
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(BROKEN_BYTES) + text[at:]
