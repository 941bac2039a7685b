"""Location helpers: geohash encoding and the public rounding of coordinates."""

from __future__ import annotations

_BASE32 = "0123456789bcdefghjkmnpqrstuvwxyz"
PUBLIC_DECIMALS = 3  # about 110 m of latitude: enough for a map, not enough to find a door


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
    """A coordinate as shown to others: rounded to about 100 m unless the owner allows precision."""
    if value is None or precise:
        return value
    return round(value, PUBLIC_DECIMALS)
