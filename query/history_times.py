"""Times in a zone for the readings history: parsing `from`/`to`, stepping back, formatting."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from core.timeparse import from_micros

if TYPE_CHECKING:
    from query.rollup import Span

UTC_ZONE = ZoneInfo("UTC")
# Zones that are UTC all year, so calendar days and weeks are fixed lengths there.
UTC_NAMES = frozenset(
    {"UTC", "Etc/UTC", "Etc/UCT", "UCT", "GMT", "Etc/GMT", "Etc/GMT0", "Etc/GMT+0", "Etc/GMT-0"}
    | {"GMT0", "GMT+0", "GMT-0", "Greenwich", "Etc/Greenwich", "Universal", "Etc/Universal"}
    | {"Zulu", "Etc/Zulu"}
)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*")
_EPOCH = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# A `+` in a query string arrives as a space: "2024-03-31T00:00:00 01:00" meant +01:00.
_SPACED_OFFSET = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?) "
    r"([0-9]{2}(?::?[0-9]{2})?)"
)
_FIXED_UNITS = {
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
    "ms": timedelta(milliseconds=1),
}


def parse_zone(name: str) -> ZoneInfo:
    """The IANA time zone `name` ("Europe/Madrid"); raises ValueError if there is none."""
    if len(name) > 64 or _ZONE_NAME.fullmatch(name) is None:
        raise ValueError(
            f"expected an IANA time zone name such as Europe/Madrid; got {name[:40]!r}"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {name!r}: expected an IANA name such as Europe/Madrid or UTC"
        ) from None


def parse_moment(text: str, zone: ZoneInfo) -> datetime:
    """The UTC moment `text` names: epoch seconds, an ISO 8601 datetime or an ISO 8601 date.

    A date means local midnight in `zone`, and so does a datetime without an offset mean local
    time there. Raises ValueError, also for moments outside [1970, 2200).
    """
    text = text.strip()
    if _EPOCH.fullmatch(text):
        seconds = float(text)
        if not EARLIEST.timestamp() <= seconds < LATEST.timestamp():
            raise ValueError(f"epoch seconds out of range: {text[:40]}")
        moment = datetime.fromtimestamp(seconds, UTC)
    elif _DATE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
            moment = local_midnight(day, zone)
        except ValueError:
            raise ValueError(f"not a date: {text[:40]!r}") from None
        except OverflowError:  # the first or last day of year 1 or 9999, shifted by the zone
            raise ValueError(f"{text[:40]!r} is outside the years 1970 to 2199") from None
    else:
        spaced = _SPACED_OFFSET.fullmatch(text)
        if spaced is not None:
            text = f"{spaced.group(1)}+{spaced.group(2)}"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                "expected an ISO 8601 date (2024-03-31) or datetime (2024-03-31T12:00:00Z), "
                f"or epoch seconds; got {text[:40]!r}"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 with an offset that leaves them
        raise ValueError(f"{text[:40]!r} is outside the years 1970 to 2199") from None
    if not EARLIEST <= moment < LATEST:
        raise ValueError(f"{text[:40]!r} is outside the years 1970 to 2199")
    return moment


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """The UTC moment of midnight at the start of `day` in `zone`."""
    return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)


def before(moment: datetime, span: Span, zone: ZoneInfo) -> datetime:
    """`span` before `moment`, in calendar terms in `zone` for d, w, M and y; not before 1970."""
    fixed = _FIXED_UNITS.get(span.unit)
    try:
        if fixed is not None:
            earlier = moment - span.n * fixed
        else:
            local = moment.astimezone(zone).replace(tzinfo=None)
            if span.unit in ("d", "w"):
                local -= timedelta(days=span.n * (7 if span.unit == "w" else 1))
            else:
                local = _months_before(local, span.n * (12 if span.unit == "y" else 1))
            earlier = local.replace(tzinfo=zone).astimezone(UTC)
    except (OverflowError, ValueError):
        return EARLIEST
    return max(earlier, EARLIEST)


def _months_before(local: datetime, months: int) -> datetime:
    year, month = divmod(local.year * 12 + local.month - 1 - months, 12)
    day = min(local.day, calendar.monthrange(year, month + 1)[1])
    return local.replace(year=year, month=month + 1, day=day)


def format_moment(moment: datetime, zone: ZoneInfo | None) -> str:
    """ISO 8601 to the second, with microseconds only if there are any.

    Without a zone, UTC with `Z` (`2024-03-31T00:00:00Z`); with one, local time with its offset
    (`2024-03-31T00:00:00+01:00`), `Z` where the offset is zero. This is how orjson writes
    `in_zone(moment, zone)` with OPT_UTC_Z, which the responses rely on to format in bulk.
    """
    return orjson.dumps(in_zone(moment, zone), option=orjson.OPT_UTC_Z)[1:-1].decode()


def in_zone(moment: datetime, zone: ZoneInfo | None) -> datetime:
    """`moment` as local time in `zone`, or in UTC without one."""
    return moment.astimezone(zone or UTC)


# Formatted bucket starts, by microseconds since the epoch: every series shares its days and
# hours, so most starts were formatted before. Emptied when full.
_UTC_TEXTS: dict[int, str] = {}
_UTC_TEXTS_MAX = 100_000


def moments(micros: list[int], zone: ZoneInfo | None) -> list[str] | list[datetime]:
    """Each of `micros` (since the epoch) as a response writes it: without a zone the text
    `format_moment` gives, remembered for the next answer; with one, the datetime in `zone`."""
    if zone is not None:
        return [in_zone(from_micros(us), zone) for us in micros]
    texts = _UTC_TEXTS
    found: list[str] = []
    for us in micros:
        text = texts.get(us)
        if text is None:
            if len(texts) >= _UTC_TEXTS_MAX:
                texts.clear()
            text = texts[us] = format_moment(from_micros(us), None)
        found.append(text)
    return found
