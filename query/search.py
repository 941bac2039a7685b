"""Search over users (username, city) and devices (name, description, city): the public ones,
and the private ones of the reader (all of them for an admin); test devices only for test keys,
live ones only for live credentials.

Results take the shapes of the SmartCitizen v0 reference: `{"id", "type": "User", "username",
"avatar", "city", "url", ...}` and `{"id", "type": "Device", "name", "description", "owner_id",
"owner_username", "city", "url", ...}`, closest matches first (the whole name, then its
beginning, then anywhere).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from yarl import URL

from core import errors
from storage import listings

MAX_QUERY_CHARS = 100


def search_text(query: Mapping[str, str]) -> str:
    """The text to search for; raises BadRequest when `q` is missing, blank or too long."""
    text = query.get("q", "").strip()
    problem = None
    if not text:
        problem = "q is required: the text to search for"
    elif len(text) > MAX_QUERY_CHARS:
        problem = f"q is at most {MAX_QUERY_CHARS} characters"
    elif "\x00" in text:
        problem = "q must not contain NUL characters"
    if problem is not None:
        raise errors.BadRequest(problem, code="invalid_search", fields={"q": [problem]})
    return text


def result(hit: listings.SearchHit, base: URL) -> dict[str, Any]:
    """One search result in the v0 reference shape."""
    if hit.type == "User":
        found: dict[str, Any] = {
            "id": hit.id,
            "type": "User",
            "username": hit.name,
            "avatar": hit.avatar,
            "city": hit.city,
            "url": str(base.with_path(f"/v0/users/{hit.id}")),
        }
    else:
        found = {
            "id": hit.id,
            "type": "Device",
            "name": hit.name,
            "description": hit.description,
            "owner_id": hit.owner_id,
            "owner_username": hit.owner_username,
            "city": hit.city,
            "url": str(base.with_path(f"/v0/devices/{hit.id}")),
        }
    found["country_code"] = hit.country_code
    found["country"] = None
    return found
