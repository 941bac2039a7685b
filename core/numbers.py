"""Numbers written as text, where the API takes a number as a string: in query parameters and
in form or JSON fields.

Python's `float` reads more than a number: other scripts' digits (`"١٢"` is 12), `1_000`, `nan`,
`infinity`. None of those is a number in JSON, and none is one here.
"""

from __future__ import annotations

import math


def parse_float(text: str) -> float | None:
    """The finite number `text` writes in ASCII (spaces around it allowed), or None."""
    if not text.isascii() or "_" in text:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
