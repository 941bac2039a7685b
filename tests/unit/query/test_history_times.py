"""Parsing `from`/`to` in a zone, stepping back by `relative`, formatting, zone offsets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import pytest

from query import history_times
from query.rollup import Span

UTC_ZONE = ZoneInfo("UTC")
MADRID = ZoneInfo("Europe/Madrid")


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("2024-03-31", UTC_ZONE, datetime(2024, 3, 31, tzinfo=UTC)),
        ("2024-03-31", MADRID, datetime(2024, 3, 30, 23, tzinfo=UTC)),  # local midnight
        ("2024-04-01", MADRID, datetime(2024, 3, 31, 22, tzinfo=UTC)),  # after the change
        ("2024-03-31T12:00:00Z", MADRID, datetime(2024, 3, 31, 12, tzinfo=UTC)),
        ("2024-03-31T12:00:00", MADRID, datetime(2024, 3, 31, 10, tzinfo=UTC)),  # local time
        ("2024-03-31T12:00:00", UTC_ZONE, datetime(2024, 3, 31, 12, tzinfo=UTC)),
        ("2024-03-31 12:00", UTC_ZONE, datetime(2024, 3, 31, 12, tzinfo=UTC)),
        ("2024-03-31T12:00:00+05:30", UTC_ZONE, datetime(2024, 3, 31, 6, 30, tzinfo=UTC)),
        ("2024-03-31T12:00:00 05:30", UTC_ZONE, datetime(2024, 3, 31, 6, 30, tzinfo=UTC)),
        ("2024-03-31T12:00:00.250 0100", UTC_ZONE, datetime(2024, 3, 31, 11, 0, 0, 250000, UTC)),
        ("1711886400", MADRID, datetime(2024, 3, 31, 12, tzinfo=UTC)),  # epoch seconds
        ("1711886400.5", UTC_ZONE, datetime(2024, 3, 31, 12, 0, 0, 500000, UTC)),
        ("0", UTC_ZONE, datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_moments_parse_in_the_zone(text, zone, expected):
    assert history_times.parse_moment(text, zone) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2024-02-30",
        "2024-13-01T00:00:00Z",
        "31/03/2024",
        "-1",
        "1e10",
        "2200-01-01",
    ],
)
def test_bad_moments_raise(text):
    with pytest.raises(ValueError):
        history_times.parse_moment(text, UTC_ZONE)


@pytest.mark.parametrize("name", ["Mars/Olympus", "../etc/passwd", "", "UTC+3", "x" * 70, "/etc"])
def test_unknown_zones_raise(name):
    with pytest.raises(ValueError, match="IANA"):
        history_times.parse_zone(name)


def test_known_zones_load():
    assert history_times.parse_zone("Europe/Madrid").key == "Europe/Madrid"
    assert history_times.parse_zone("UTC").key == "UTC"
    assert history_times.parse_zone("America/Argentina/Buenos_Aires").key.endswith("Aires")


@pytest.mark.parametrize(
    ("moment", "span", "zone", "expected"),
    [
        (
            datetime(2024, 5, 1, tzinfo=UTC),
            Span(6, "w"),
            UTC_ZONE,
            datetime(2024, 3, 20, tzinfo=UTC),
        ),
        (
            datetime(2024, 5, 1, tzinfo=UTC),
            Span(2, "h"),
            MADRID,
            datetime(2024, 4, 30, 22, tzinfo=UTC),
        ),
        (
            datetime(2024, 5, 1, tzinfo=UTC),
            Span(90, "s"),
            MADRID,
            datetime(2024, 4, 30, 23, 58, 30, tzinfo=UTC),
        ),
        # a local day across the spring change is 23 hours
        (
            datetime(2024, 3, 31, 22, tzinfo=UTC),
            Span(1, "d"),
            MADRID,
            datetime(2024, 3, 30, 23, tzinfo=UTC),
        ),
        (
            datetime(2024, 3, 31, 10, tzinfo=UTC),
            Span(1, "M"),
            UTC_ZONE,
            datetime(2024, 2, 29, 10, tzinfo=UTC),
        ),
        (
            datetime(2024, 5, 31, 10, tzinfo=UTC),
            Span(3, "M"),
            UTC_ZONE,
            datetime(2024, 2, 29, 10, tzinfo=UTC),
        ),
        (
            datetime(2024, 2, 29, 10, tzinfo=UTC),
            Span(1, "y"),
            UTC_ZONE,
            datetime(2023, 2, 28, 10, tzinfo=UTC),
        ),
        (
            datetime(2024, 1, 15, tzinfo=UTC),
            Span(13, "M"),
            UTC_ZONE,
            datetime(2022, 12, 15, tzinfo=UTC),
        ),
        (datetime(2024, 1, 1, tzinfo=UTC), Span(100, "y"), UTC_ZONE, history_times.EARLIEST),
        (datetime(2024, 1, 1, tzinfo=UTC), Span(9999999, "w"), UTC_ZONE, history_times.EARLIEST),
    ],
)
def test_stepping_back_is_calendar_aware_in_the_zone(moment, span, zone, expected):
    assert history_times.before(moment, span, zone) == expected


@pytest.mark.parametrize(
    ("moment", "zone", "text"),
    [
        (datetime(2024, 3, 31, 12, tzinfo=UTC), None, "2024-03-31T12:00:00Z"),
        (datetime(2024, 3, 31, 12, 0, 0, 500000, UTC), None, "2024-03-31T12:00:00.500000Z"),
        (datetime(2024, 3, 30, 23, tzinfo=UTC), MADRID, "2024-03-31T00:00:00+01:00"),
        (datetime(2024, 3, 31, 22, tzinfo=UTC), MADRID, "2024-04-01T00:00:00+02:00"),
        (datetime(2024, 3, 31, 22, tzinfo=UTC), UTC_ZONE, "2024-03-31T22:00:00Z"),
        (datetime(2024, 1, 31, 22, tzinfo=UTC), ZoneInfo("Europe/London"), "2024-01-31T22:00:00Z"),
        (
            datetime(2024, 7, 31, 22, tzinfo=UTC),
            ZoneInfo("Europe/London"),
            "2024-07-31T23:00:00+01:00",
        ),
        (datetime(2024, 3, 31, 22, 0, 0, 5, UTC), MADRID, "2024-04-01T00:00:00.000005+02:00"),
        (
            datetime(2024, 3, 31, 0, 30, tzinfo=UTC),
            ZoneInfo("Asia/Kolkata"),
            "2024-03-31T06:00:00+05:30",
        ),
    ],
)
def test_moments_format_as_iso_8601(moment, zone, text):
    assert history_times.format_moment(moment, zone) == text


def test_bucket_starts_are_written_as_their_datetimes_would_be(monkeypatch):
    monkeypatch.setattr(history_times, "_UTC_TEXTS", {})
    monkeypatch.setattr(history_times, "_UTC_TEXTS_MAX", 4)
    micros = [1_711_843_200_000_000, 1_711_843_200_000_005, 1_711_843_200_250_000, 0]
    micros += [1_711_846_800_000_000, 1_711_843_200_000_000]  # past the bound, then again
    moments = [datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us) for us in micros]
    expected = orjson.dumps(moments, option=orjson.OPT_UTC_Z)
    for _ in range(2):  # formatted, then remembered
        texts = history_times.moments(micros, None)
        assert orjson.dumps(texts) == expected
        assert texts[0] == "2024-03-31T00:00:00Z" and texts[1] == "2024-03-31T00:00:00.000005Z"
        assert len(history_times._UTC_TEXTS) <= 4
    local = history_times.moments(micros, MADRID)
    assert local == [moment.astimezone(MADRID) for moment in moments]
    assert history_times.format_moment(local[0], MADRID) == "2024-03-31T01:00:00+01:00"
