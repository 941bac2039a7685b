"""The latest reading per series and per device, reduced from a claim before it is written."""

from __future__ import annotations

import math

import numpy as np

from storage import readings
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
