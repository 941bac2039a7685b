"""Summaries of a claim before it touches the database: latest reading per series, per device.

A claim of thousands of readings holds far fewer series (device, sensor); their latest values
are reduced here with one sort, so the database upserts one row per series, not per reading.
Pure: no I/O.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from storage import readings

_KEY_LIMIT = 1 << 31


def latest_per_series(
    times: npt.NDArray[np.int64],
    device_ids: npt.NDArray[np.int64],
    sensor_ids: npt.NDArray[np.int32],
    raw_values: npt.NDArray[np.float64],
    values: npt.NDArray[np.float64],
) -> readings.SeriesLatest:
    """Each series' newest reading and the newest before it, sorted by (device, sensor).

    A (device, sensor, time) given twice counts once, as its first occurrence: the one the
    deduplicating insert keeps.
    """
    n = len(times)
    if n == 0:
        return _empty()
    order = _series_time_order(times, device_ids, sensor_ids)
    devices, sensors, ordered_times = device_ids[order], sensor_ids[order], times[order]
    new_series = np.empty(n, dtype=np.bool_)
    new_series[0] = True
    np.not_equal(devices[1:], devices[:-1], out=new_series[1:])
    new_series[1:] |= sensors[1:] != sensors[:-1]
    first = new_series.copy()
    first[1:] |= ordered_times[1:] != ordered_times[:-1]
    if not first.all():  # repeats of a reading: keep the first (the sort is stable)
        order, new_series = order[first], new_series[first]
        devices, sensors, ordered_times = devices[first], sensors[first], ordered_times[first]
    last = np.empty(len(order), dtype=np.bool_)
    last[-1] = True
    last[:-1] = new_series[1:]
    ends = np.flatnonzero(last)
    previous = np.maximum(ends - 1, 0)
    newest_rows, previous_rows = order[ends], order[previous]
    return readings.SeriesLatest(
        devices[ends],
        sensors[ends],
        ordered_times[ends],
        raw_values[newest_rows],
        values[newest_rows],
        ~new_series[ends],
        ordered_times[previous],
        raw_values[previous_rows],
        values[previous_rows],
    )


def newest_per_device(
    latest: readings.SeriesLatest,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Each device of `latest` (in id order) and the time of its newest reading."""
    if len(latest.device_ids) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(
        np.concatenate(([True], latest.device_ids[1:] != latest.device_ids[:-1]))
    )
    return latest.device_ids[starts], np.maximum.reduceat(latest.times, starts)


def _series_time_order(
    times: npt.NDArray[np.int64],
    device_ids: npt.NDArray[np.int64],
    sensor_ids: npt.NDArray[np.int32],
) -> npt.NDArray[np.intp]:
    """Indexes sorting readings by device, sensor and time, stable among equals."""
    if device_ids.min() >= 0 and device_ids.max() < _KEY_LIMIT and sensor_ids.min() >= 0:
        # One int64 key for the series sorts faster than two columns.
        series = (device_ids << 32) | sensor_ids.astype(np.int64)
        return np.lexsort((times, series))
    return np.lexsort((times, sensor_ids, device_ids))


def _empty() -> readings.SeriesLatest:
    integers, floats = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    return readings.SeriesLatest(
        integers,
        np.empty(0, dtype=np.int32),
        integers,
        floats,
        floats,
        np.empty(0, dtype=np.bool_),
        integers,
        floats,
        floats,
    )
