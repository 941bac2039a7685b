"""`page`/`per_page` and the Link, Total and Per-Page headers (no database)."""

from __future__ import annotations

import pytest
from yarl import URL

from core import errors
from query import pagination

URL_ = URL("http://example.org/v0/devices?q%5Bname_cont%5D=a&page=2&per_page=10")


def links(headers):
    found = {}
    for part in headers["Link"].split(", "):
        url, rel = part.split("; ")
        found[rel.removeprefix('rel="').removesuffix('"')] = URL(url[1:-1])
    return found


def test_defaults():
    assert pagination.requested({}) == pagination.PageRequest(1, 25)
    assert pagination.requested({"page": "", "per_page": ""}) == pagination.PageRequest(1, 25)
    assert pagination.requested({"page": "3", "per_page": "100"}).offset == 200


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("page", "0"),
        ("page", "-1"),
        ("page", "1.0"),
        ("page", "x"),
        ("page", "1000001"),
        ("page", "9" * 40),
        ("page", "²"),
        ("per_page", "0"),
        ("per_page", "101"),
        ("per_page", " 5"),
    ],
)
def test_bad_values(name, value):
    with pytest.raises(errors.BadRequest) as caught:
        pagination.requested({name: value})
    assert list(caught.value.fields or {}) == [name]
    assert "100" in caught.value.message or "1000000" in caught.value.message


def test_a_middle_page_links_everywhere_and_keeps_the_query():
    headers = pagination.headers(URL_, pagination.PageRequest(2, 10), 35)
    assert headers["Total"] == "35" and headers["Per-Page"] == "10"
    found = links(headers)
    assert {rel: url.query["page"] for rel, url in found.items()} == {
        "first": "1",
        "prev": "1",
        "next": "3",
        "last": "4",
    }
    assert all(url.query["q[name_cont]"] == "a" for url in found.values())
    assert all(url.query["per_page"] == "10" for url in found.values())


def test_first_last_and_beyond():
    first = links(pagination.headers(URL_, pagination.PageRequest(1, 10), 35))
    assert set(first) == {"next", "last"}
    last = links(pagination.headers(URL_, pagination.PageRequest(4, 10), 35))
    assert set(last) == {"first", "prev"}
    beyond = links(pagination.headers(URL_, pagination.PageRequest(9, 10), 35))
    assert beyond["prev"].query["page"] == "4"


def test_one_page_or_none_has_no_links():
    assert "Link" not in pagination.headers(URL_, pagination.PageRequest(1, 10), 10)
    empty = pagination.headers(URL_, pagination.PageRequest(1, 10), 0)
    assert empty == {"Total": "0", "Per-Page": "10"}
