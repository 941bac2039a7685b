"""Request bodies of the account endpoints: a JSON object, or a form (urlencoded or multipart)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

from core import errors

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def body(request: web.Request) -> dict[str, Any]:
    """The request's parameters from its body: a form's fields (first value of each, files
    left out) or a JSON object; `{}` for no body. Raises BadRequest for anything else."""
    if request.content_type in FORM_TYPES:
        form = await request.post()
        found: dict[str, Any] = {}
        for key, value in form.items():
            if isinstance(value, str):
                found.setdefault(key, value)
        return found
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad("body", "The body is neither a JSON object nor a form") from None
    if not isinstance(data, dict):
        raise bad("body", "The body must be a JSON object")
    return data


async def parameters(request: web.Request) -> dict[str, Any]:
    """The URL's query parameters overlaid by the body's (for parameters that carry no secret)."""
    return {**_first(request.query), **await body(request)}


def text(params: Mapping[str, Any], name: str) -> str | None:
    """Parameter `name` as stripped text, None if absent or blank; BadRequest if not text."""
    value = params.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise bad(name, f"{name} must be a string")
    return value.strip() or None


def bad(name: str, message: str, code: str = "invalid_request") -> errors.BadRequest:
    """A 400 naming the parameter."""
    return errors.BadRequest(message, code=code, fields={name: [message]})


def _first(query: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in query.items():
        found.setdefault(key, value)
    return found
