"""The named SQL blocks of `storage/sql/*.sql`, parsed once at import.

A block is `-- name --`, one description line, then the query, as procrastinate writes them.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import LiteralString, cast

_BLOCK = re.compile(r"^-- ([a-z0-9_]+) --\n-- [^\n]*\n(.*?)(?=^-- [a-z0-9_]+ --\n|\Z)", re.M | re.S)


def _load() -> dict[str, LiteralString]:
    found: dict[str, LiteralString] = {}
    folder = resources.files("storage") / "sql"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        for name, body in _BLOCK.findall(entry.read_text()):
            if name in found:
                raise RuntimeError(f"SQL block {name!r} is defined twice ({entry.name})")
            found[name] = cast(LiteralString, body.strip())
    return found


SQL: dict[str, LiteralString] = _load()
