"""The latest reading per series and per device, and hourly and daily rollups, reduced from a
claim before it is written."""

from __future__ import annotations

import math

import numpy as np
import pytest

from storage import readings, rollups
from tests.unit.workers.brute_force import FIELDS, summarise
from workers import aggregation

Row = tuple[int, int, int, float]


def latest_of(rows: list[Row]) -> readings.SeriesLatest:
    """rows: (time, device, sensor, value); raw_value = value * 10."""
    times, devices, sensors, posted = zip(*rows, strict=True) if rows else ([], [], [], [])
    values = np.array(posted, dtype=np.float64)
    return aggregation.latest_per_series(
        np.array(times, dtype=np.int64),
        np.array(devices, dtype=np.int64),
        np.array(sensors, dtype=np.int32),
        values * 10,
        values,
    )


def as_rows(latest: readings.SeriesLatest) -> list[tuple[object, ...]]:
    return [
        (
            int(d),
            int(s),
            int(t),
            float(v),
            float(r),
            (int(pt), float(pv), float(pr)) if hp else None,
        )
        for d, s, t, r, v, hp, pt, pr, pv in zip(*latest, strict=True)
    ]


def test_newest_and_second_newest_per_series_sorted_by_device_and_sensor():
    latest = latest_of(
        [
            (300, 2, 12, 3.0),
            (100, 1, 12, 1.0),
            (500, 1, 14, 5.0),
            (200, 1, 12, 2.0),
            (150, 1, 12, 1.5),
        ]
    )
    assert as_rows(latest) == [
        (1, 12, 200, 2.0, 20.0, (150, 1.5, 15.0)),
        (1, 14, 500, 5.0, 50.0, None),
        (2, 12, 300, 3.0, 30.0, None),
    ]


def test_a_repeated_reading_counts_once_as_its_first_occurrence():
    latest = latest_of([(100, 1, 12, 1.0), (200, 1, 12, 2.0), (200, 1, 12, 9.0)])
    assert as_rows(latest) == [(1, 12, 200, 2.0, 20.0, (100, 1.0, 10.0))]


def test_only_repeats_have_no_previous_reading():
    assert as_rows(latest_of([(100, 1, 12, 1.0), (100, 1, 12, 2.0)])) == [
        (1, 12, 100, 1.0, 10.0, None)
    ]


def test_nan_values_are_carried():
    (row,) = as_rows(latest_of([(100, 1, 12, float("nan"))]))
    assert math.isnan(float(row[3]))  # type: ignore[arg-type]  # a float, see as_rows


def test_large_device_ids_fall_back_to_a_three_column_sort():
    big = 1 << 40
    latest = latest_of([(100, big, 12, 1.0), (50, big, 12, 0.5), (70, 3, 12, 7.0)])
    assert as_rows(latest) == [
        (3, 12, 70, 7.0, 70.0, None),
        (big, 12, 100, 1.0, 10.0, (50, 0.5, 5.0)),
    ]


def test_matches_a_plain_python_reduction():
    rng = np.random.default_rng(3)
    n = 5000
    rows = list(
        zip(
            rng.integers(0, 50, n).tolist(),
            rng.integers(1, 20, n).tolist(),
            rng.choice([7, 12, 13], n).tolist(),
            rng.random(n).tolist(),
            strict=True,
        )
    )
    series: dict[tuple[int, int], dict[int, float]] = {}
    for t, d, s, v in rows:
        series.setdefault((d, s), {}).setdefault(t, v)  # first occurrence of a time wins
    expected = []
    for (d, s), by_time in sorted(series.items()):
        times = sorted(by_time)
        prev = (times[-2], by_time[times[-2]], by_time[times[-2]] * 10) if len(times) > 1 else None
        expected.append((d, s, times[-1], by_time[times[-1]], by_time[times[-1]] * 10, prev))
    assert as_rows(latest_of(rows)) == expected


def test_newest_per_device():
    latest = latest_of([(100, 1, 12, 1.0), (300, 1, 13, 1.0), (200, 2, 12, 1.0), (50, 1, 14, 1.0)])
    devices, newest = aggregation.newest_per_device(latest)
    assert devices.tolist() == [1, 2]
    assert newest.tolist() == [300, 200]


def test_empty_claim():
    latest = latest_of([])
    assert as_rows(latest) == []
    devices, newest = aggregation.newest_per_device(latest)
    assert len(devices) == 0 and len(newest) == 0


HOUR, DAY = rollups.HOUR_US, rollups.DAY_US


Key = tuple[int, ...]  # device, sensor, bucket
Reading = tuple[int, int, int, float, float]  # time, device, sensor, raw value, value


def rollup_rows(summaries: rollups.Rollups) -> dict[Key, dict[str, object]]:
    """Rollups as {(device, sensor, bucket): {field: value, raw_field: value}}, with the fields
    of a bucket without values as None (the database stores them as NULL)."""
    found = {}
    for i, key in enumerate(zip(*summaries[:3], strict=True)):
        row: dict[str, object] = {}
        for prefix, summary in (("", summaries.values), ("raw_", summaries.raw)):
            fields = {name: column[i].item() for name, column in zip(FIELDS, summary, strict=True)}
            if fields["count"] == 0:
                fields = dict.fromkeys(FIELDS[1:], None) | {"count": 0}
            row |= {prefix + name: value for name, value in fields.items()}
        found[tuple(int(k) for k in key)] = row
    return found


def brute_force(rows: list[Reading], width: int) -> dict[Key, dict[str, object]]:
    buckets: dict[Key, list[tuple[int, float, float]]] = {}
    for t, d, s, raw_value, value in rows:
        buckets.setdefault((d, s, t - t % width), []).append((t, raw_value, value))
    expected: dict[Key, dict[str, object]] = {}
    for key, points in buckets.items():
        calibrated = summarise([(t, v) for t, _, v in points])
        raw = summarise([(t, r) for t, r, _ in points])
        expected[key] = calibrated | {f"raw_{field}": x for field, x in raw.items()}
    return expected


def rollups_of(rows: list[Reading]) -> tuple[rollups.Rollups, rollups.Rollups]:
    """Hourly and daily rollups of readings, each (time, device, sensor) once."""
    columns: list[tuple[float, ...]] = list(zip(*rows, strict=True)) if rows else [()] * 5
    return aggregation.rollups_per_bucket(
        np.array(columns[0], dtype=np.int64),
        np.array(columns[1], dtype=np.int64),
        np.array(columns[2], dtype=np.int32),
        np.array(columns[3], dtype=np.float64),
        np.array(columns[4], dtype=np.float64),
    )


def assert_matches(found: rollups.Rollups, expected: dict[Key, dict[str, object]]) -> None:
    rows = rollup_rows(found)
    assert list(rows) == sorted(expected)  # sorted by device, sensor, bucket: the lock order
    for key, summary in expected.items():
        for name, value in summary.items():
            if name.endswith(("sum", "sum_sq")) and value is not None:
                assert rows[key][name] == pytest.approx(value, rel=1e-12), (key, name)
            else:
                assert rows[key][name] == value, (key, name)


def test_rollups_match_a_plain_python_reduction():
    rng = np.random.default_rng(5)
    n = 4000
    keys = {
        (int(t), int(d), int(s))
        for t, d, s in zip(
            rng.integers(-2 * DAY, 3 * DAY, n),
            rng.integers(1, 6, n),
            rng.choice([7, 12, 13], n),
            strict=True,
        )
    }
    rows = []
    for t, d, s in keys:  # a set: arbitrary order, each reading once
        raw = float(rng.normal(100, 30))
        value = raw / 3 if rng.random() > 0.2 else math.nan
        rows.append((t, d, s, math.nan if rng.random() < 0.1 else raw, value))

    hourly, daily = rollups_of(rows)

    assert_matches(hourly, brute_force(rows, HOUR))
    assert_matches(daily, brute_force(rows, DAY))


def test_buckets_are_utc_hours_and_days_also_before_1970():
    rows = [(t, 1, 12, 1.0, 2.0) for t in (-1, 0, HOUR - 1, HOUR, DAY - 1, DAY, -DAY - 1)]
    hourly, daily = rollups_of(rows)
    assert hourly.buckets.tolist() == [-DAY - HOUR, -HOUR, 0, HOUR, DAY - HOUR, DAY]
    assert daily.buckets.tolist() == [-2 * DAY, -DAY, 0, DAY]
    assert daily.values.counts.tolist() == [1, 1, 4, 1]


def test_first_and_last_skip_missing_values_and_an_empty_bucket_counts_zero():
    nan = math.nan
    rows = [
        (10, 1, 12, nan, nan),
        (20, 1, 12, 5.0, nan),
        (30, 1, 12, 6.0, 3.0),
        (40, 1, 12, nan, 4.0),
        (50, 1, 12, nan, nan),
        (HOUR + 5, 1, 12, nan, nan),
    ]
    hourly, _ = rollups_of(rows)
    first, empty = rollup_rows(hourly).values()
    assert (first["count"], first["first_time"], first["last_time"], first["sum"]) == (
        2,
        30,
        40,
        7.0,
    )
    assert (first["raw_count"], first["raw_first_value"], first["raw_last_value"]) == (2, 5.0, 6.0)
    assert (empty["count"], empty["raw_count"], empty["min"]) == (0, 0, None)


def test_no_readings_no_rollups():
    hourly, daily = rollups_of([])
    assert len(hourly.device_ids) == 0 and len(daily.values.counts) == 0
