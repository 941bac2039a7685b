"""Rollups computed the slow obvious way, to check the fast ones against."""

from __future__ import annotations

import math

FIELDS = (
    "count",
    "sum",
    "sum_sq",
    "min",
    "max",
    "first_time",
    "first_value",
    "last_time",
    "last_value",
)


def summarise(points: list[tuple[int, float | None]]) -> dict[str, object]:
    """The rollup of (time, value) points; None (or NaN) values count nowhere."""
    present = sorted((t, v) for t, v in points if v is not None and not math.isnan(v))
    if not present:
        return dict.fromkeys(FIELDS[1:], None) | {"count": 0}
    values = [v for _, v in present]
    return {
        "count": len(values),
        "sum": math.fsum(values),
        "sum_sq": math.fsum(v * v for v in values),
        "min": min(values),
        "max": max(values),
        "first_time": present[0][0],
        "first_value": present[0][1],
        "last_time": present[-1][0],
        "last_value": present[-1][1],
    }
