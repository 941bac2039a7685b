"""The parameters of `GET /v0/devices/:id/readings`, checked and turned into one request.

Every bad parameter is reported at once in a 400 whose `fields` name it and say what is
accepted. Parameters this endpoint does not know (`access_token`, `pretty`, ...) are left to
others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from multidict import MultiMapping

from core import errors
from query import history_times, rollup

FORMATS = ("json", "csv", "ndjson")
DEFAULT_RELATIVE = rollup.Span(6, "w")
MAX_SENSORS = 20
MAX_LIMIT = 1_000_000_000
_MAX_KEY = 64
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


Query = MultiMapping[str]


@dataclass(frozen=True, slots=True)
class HistoryParams:
    """A checked history request; exactly one of `sensor_ids` and `sensor_keys` is set."""

    sensor_ids: tuple[int, ...] | None
    sensor_keys: tuple[str, ...] | None
    several: bool
    rollup: rollup.Span | None
    function: str
    start: datetime
    end: datetime
    zone: ZoneInfo | None
    all_intervals: bool
    limit: int | None
    raw: bool
    format: str

    @property
    def bucket_zone(self) -> ZoneInfo:
        """The zone calendar buckets and date-only times are in (UTC unless `tz` was given)."""
        return self.zone or history_times.UTC_ZONE


class _Problems:
    """Messages per parameter, raised together."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.fields.setdefault(name, []).append(message)

    def raise_any(self) -> None:
        if self.fields:
            names = ", ".join(self.fields)
            raise errors.BadRequest(
                f"Invalid parameters: {names}", code="invalid_parameter", fields=self.fields
            )


def parse(query: Query, now: datetime) -> HistoryParams:
    """The checked request; raises core.errors.BadRequest naming each bad parameter."""
    problems = _Problems()
    fmt = _choice(query, "format", FORMATS, "json", problems)
    ids, keys, several = _sensors(query, problems)
    span = _span(query, "rollup", problems)
    if span is None and fmt == "json" and "rollup" not in problems.fields:
        problems.add("rollup", "required: <n><unit> as in 1h, 15m or 1d")
    function = _choice(query, "function", rollup.FUNCTIONS, "avg", problems)
    zone = _zone(query, problems)
    start, end = _range(query, zone or history_times.UTC_ZONE, now, problems)
    all_intervals = _flag(query, "all_intervals", problems)
    if all_intervals and span is None and "rollup" not in problems.fields:
        problems.add("all_intervals", "needs a rollup: raw readings have no intervals")
    limit = _limit(query, problems)
    raw = _flag(query, "raw", problems)
    problems.raise_any()
    return HistoryParams(
        sensor_ids=ids,
        sensor_keys=keys,
        several=several,
        rollup=span,
        function=function,
        start=start,
        end=end,
        zone=zone,
        all_intervals=all_intervals,
        limit=limit,
        raw=raw,
        format=fmt,
    )


def _items(query: Query, name: str) -> list[str]:
    """A parameter's comma-separated items, over all its repetitions."""
    return [item.strip() for value in query.getall(name, []) for item in value.split(",")]


def _sensors(
    query: Query, problems: _Problems
) -> tuple[tuple[int, ...] | None, tuple[str, ...] | None, bool]:
    ids, keys = _items(query, "sensor_id"), _items(query, "sensor_key")
    if ids and keys:
        problems.add("sensor_id", "give sensor_id or sensor_key, not both")
        return None, None, False
    if not ids and not keys:
        problems.add("sensor_id", "required (or sensor_key): a sensor id, or several as 12,13,14")
        return None, None, False
    name, items = ("sensor_id", ids) if ids else ("sensor_key", keys)
    if len(items) > MAX_SENSORS:
        problems.add(name, f"at most {MAX_SENSORS} sensors in one request")
        return None, None, False
    unique = tuple(dict.fromkeys(items))
    if ids:
        if not all(_is_whole(item) and 0 < int(item) < 2**31 for item in ids):
            problems.add("sensor_id", "expected sensor ids (whole numbers), as in 55 or 55,56")
            return None, None, False
        return tuple(int(item) for item in unique), None, len(items) > 1
    if not all(0 < len(item) <= _MAX_KEY and "\x00" not in item for item in keys):
        problems.add("sensor_key", f"expected sensor keys of 1 to {_MAX_KEY} characters, no NUL")
        return None, None, False
    return None, unique, len(items) > 1


def _choice(
    query: Query, name: str, accepted: tuple[str, ...], default: str, problems: _Problems
) -> str:
    value = query.get(name)
    if value is None:
        return default
    if value not in accepted:
        problems.add(name, f"expected one of {', '.join(accepted)}; got {value[:40]!r}")
        return default
    return value


def _span(query: Query, name: str, problems: _Problems) -> rollup.Span | None:
    value = query.get(name)
    if value is None:
        return None
    try:
        return rollup.parse_span(value)
    except ValueError as exc:
        problems.add(name, str(exc))
        return None


def _zone(query: Query, problems: _Problems) -> ZoneInfo | None:
    value = query.get("tz")
    if value is None:
        return None
    try:
        return history_times.parse_zone(value)
    except ValueError as exc:
        problems.add("tz", str(exc))
        return None


def _next_second(now: datetime) -> datetime:
    """`now` rounded up to a whole second: the default `to`, shown as `YYYY-MM-DDTHH:MM:SSZ`."""
    whole = now.astimezone(UTC).replace(microsecond=0)
    return whole + timedelta(seconds=1) if whole != now else whole


def _range(
    query: Query, zone: ZoneInfo, now: datetime, problems: _Problems
) -> tuple[datetime, datetime]:
    end = _moment(query, "to", zone, problems) or _next_second(now)
    start = _moment(query, "from", zone, problems)
    if start is None:
        relative = _span(query, "relative", problems) or DEFAULT_RELATIVE
        start = history_times.before(end, relative, zone)
    if start >= end and not {"from", "to", "relative"} & problems.fields.keys():
        name = "from" if "from" in query else "to"
        problems.add(name, "from must be before to (the range is [from, to))")
    return start, end


def _moment(query: Query, name: str, zone: ZoneInfo, problems: _Problems) -> datetime | None:
    value = query.get(name)
    if value is None:
        return None
    try:
        return history_times.parse_moment(value, zone)
    except ValueError as exc:
        problems.add(name, str(exc))
        return None


def _flag(query: Query, name: str, problems: _Problems) -> bool:
    value = query.get(name)
    if value is None:
        return False
    if value.lower() in _TRUE:
        return True
    if value.lower() not in _FALSE:
        problems.add(name, f"expected true or false; got {value[:40]!r}")
    return False


def _limit(query: Query, problems: _Problems) -> int | None:
    value = query.get("limit")
    if value is None:
        return None
    if not _is_whole(value) or not 0 < int(value) <= MAX_LIMIT:
        problems.add("limit", f"expected a whole number from 1 to {MAX_LIMIT}; got {value[:40]!r}")
        return None
    return int(value)


def _is_whole(text: str) -> bool:
    return 0 < len(text) <= 10 and text.isascii() and text.isdigit()
