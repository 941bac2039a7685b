"""Location helpers: geohash encoding and the public rounding of coordinates."""

from __future__ import annotations

import functools
from decimal import ROUND_HALF_UP, Decimal

_BASE32 = "0123456789bcdefghjkmnpqrstuvwxyz"
PUBLIC_DECIMALS = 3  # about 110 m of latitude: enough for a map, not enough to find a door
_PUBLIC_STEP = Decimal(1).scaleb(-PUBLIC_DECIMALS)


# Devices stay where they are: a document's coordinates are mostly the ones shown last time,
# so both are remembered (a few MB for every device of a large fleet).
_REMEMBERED = 1 << 16


@functools.lru_cache(maxsize=_REMEMBERED)
def geohash(latitude: float, longitude: float, precision: int = 9) -> str:
    """The geohash of a point, `precision` characters long."""
    lat_range, lon_range = [-90.0, 90.0], [-180.0, 180.0]
    chars: list[str] = []
    bits, bit_count, even = 0, 0, True
    while len(chars) < precision:
        span, value = (lon_range, longitude) if even else (lat_range, latitude)
        middle = (span[0] + span[1]) / 2
        bits <<= 1
        if value >= middle:
            bits |= 1
            span[0] = middle
        else:
            span[1] = middle
        even = not even
        bit_count += 1
        if bit_count == 5:
            chars.append(_BASE32[bits])
            bits, bit_count = 0, 0
    return "".join(chars)


def public_coordinate(value: float | None, precise: bool) -> float | None:
    """A coordinate as shown to others: rounded to about 100 m unless the owner allows precision.

    Rounded as PostgreSQL rounds `value::numeric` (its 15 significant digits, halves away from
    zero), so the listings' SQL, which filters and measures `near` distances on the rounded
    coordinates, rounds exactly as the documents show them (Python's `round` would give 2.156
    for 2.1565, whose binary value is just below the half; PostgreSQL gives 2.157).
    """
    if value is None or precise:
        return value
    return _rounded(value)


@functools.lru_cache(maxsize=_REMEMBERED)
def _rounded(value: float) -> float:
    rounded = float(Decimal(f"{value:.15g}").quantize(_PUBLIC_STEP, rounding=ROUND_HALF_UP))
    return rounded + 0.0  # -0.0 shows as 0.0, as PostgreSQL's numeric has no negative zero
