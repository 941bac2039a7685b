"""Pagination: `page` and `per_page` in, `Link`, `Total` and `Per-Page` headers out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from yarl import URL

from core import errors

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000


class PageRequest(NamedTuple):
    """Which page a request asks for (pages count from 1)."""

    page: int
    per_page: int

    @property
    def offset(self) -> int:
        """Rows before this page."""
        return (self.page - 1) * self.per_page


def requested(query: Mapping[str, str]) -> PageRequest:
    """The page `query` asks for; raises BadRequest naming a bad `page` or `per_page`."""
    return PageRequest(
        _number(query, "page", 1, MAX_PAGE),
        _number(query, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE),
    )


def headers(url: URL, request: PageRequest, total: int) -> dict[str, str]:
    """`Total`, `Per-Page` and, where there are other pages, `Link` (first, prev, next, last)."""
    last = max(1, -(-total // request.per_page))
    links: list[tuple[str, int]] = []
    if request.page > 1:
        links += [("first", 1), ("prev", min(request.page - 1, last))]
    if request.page < last:
        links += [("next", request.page + 1), ("last", last)]
    found = {"Total": str(total), "Per-Page": str(request.per_page)}
    if links:
        found["Link"] = ", ".join(
            f'<{url.update_query(page=str(page))}>; rel="{rel}"' for rel, page in links
        )
    return found


def _number(query: Mapping[str, str], name: str, default: int, maximum: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    digits = raw.isascii() and raw.isdigit() and len(raw) <= 12
    if not digits or not 1 <= int(raw) <= maximum:
        message = f"{name} must be a whole number from 1 to {maximum}"
        raise errors.BadRequest(message, code="invalid_pagination", fields={name: [message]})
    return int(raw)
