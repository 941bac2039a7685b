"""Time parsing shared by the services: ISO 8601, epoch seconds, and the SCK 1.x clock format.

Times travel as integer microseconds since the Unix epoch (UTC); naive times mean UTC.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROS = 1_000_000

# "2013-10-28 1:34:26" as the SCK 1.x firmware writes it: fields without zero padding.
_LOOSE = re.compile(
    r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,6}))?)?)?\s*$",
    re.ASCII,  # "\d" would be any script's digits, which int() reads too
)


class TimeParseError(ValueError):
    """Not a timestamp: expected ISO 8601 or epoch seconds."""


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch of an aware or naive-UTC datetime."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * MICROS + delta.microseconds


def from_micros(micros: int) -> datetime:
    """The aware UTC datetime of `micros` since the epoch."""
    return EPOCH + timedelta(microseconds=micros)


def parse_timestamp(value: object) -> int:
    """Microseconds since the epoch of an ISO 8601 string or epoch seconds (number or string).

    Raises TimeParseError for anything else, including booleans and non-finite numbers.
    """
    if type(value) is str and len(value) > 10 and value[4] == "-":
        # The usual `2024-03-01T10:00:00Z`: straight to fromisoformat, the hot path of ingest.
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            # Whole seconds are exact in a float; microseconds are added as an int.
            return math.floor(moment.timestamp()) * MICROS + moment.microsecond
    if isinstance(value, bool):
        raise TimeParseError("a boolean is not a timestamp")
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:  # float() of one past ~1e308 raises; all are far out
            raise TimeParseError("epoch seconds out of range")
        return _epoch_seconds(float(value))
    if isinstance(value, float):
        return _epoch_seconds(value)
    if not isinstance(value, str):
        raise TimeParseError("expected an ISO 8601 string or epoch seconds")
    text = value.strip()
    if _is_number(text):
        return _epoch_seconds(float(text))
    try:
        return to_micros(datetime.fromisoformat(text))
    except ValueError:
        pass
    match = _LOOSE.match(text)
    if match is None:
        raise TimeParseError(f"{value[:40]!r} is not ISO 8601 or epoch seconds")
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise TimeParseError(f"{value[:40]!r}: {exc}") from None
    return to_micros(moment)


def format_clock(moment: datetime) -> str:
    """The SCK 1.x clock string `UTC:yyyy,m,d,H,M,S#` (month and day without padding)."""
    moment = moment.astimezone(UTC)
    return (
        f"UTC:{moment.year},{moment.month},{moment.day},"
        f"{moment.hour:02d},{moment.minute:02d},{moment.second:02d}#"
    )


def _is_number(text: str) -> bool:
    """Whether `text` is a number in ASCII digits, optionally negative, without `_`: float()
    alone would also read other scripts' digits, `1_000`, `+1`, `nan` and `inf`."""
    if not text or not text.isascii() or "_" in text or not (text[0].isdigit() or text[0] == "-"):
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def _epoch_seconds(seconds: float) -> int:
    if not math.isfinite(seconds) or abs(seconds) > 1e11:
        raise TimeParseError("epoch seconds out of range")
    return round(seconds * MICROS)
