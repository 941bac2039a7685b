"""Summaries of a claim before it touches the database: latest reading per series, per device,
and hourly and daily rollups of the readings it stored.

A claim of thousands of readings holds far fewer series (device, sensor) and buckets; they are
reduced here with one sort each, so the database upserts one row per series or bucket, not per
reading. Pure: no I/O.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from storage import readings, rollups

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


def rollups_per_bucket(
    times: npt.NDArray[np.int64],
    device_ids: npt.NDArray[np.int64],
    sensor_ids: npt.NDArray[np.int32],
    raw_values: npt.NDArray[np.float64],
    values: npt.NDArray[np.float64],
) -> tuple[rollups.Rollups, rollups.Rollups]:
    """Hourly and daily (UTC) summaries of readings, each sorted by (device, sensor, bucket).

    Each (device, sensor, time) must appear once (as the readings an insert stored do). NaN
    values are absent values: they count nowhere, and a bucket of nothing but NaN has a count
    of 0 (its row still exists, as the bucket holds readings).
    """
    if len(times) == 0:
        return _no_rollups(), _no_rollups()
    order = _series_time_order(times, device_ids, sensor_ids)
    ordered_times, devices, sensors = times[order], device_ids[order], sensor_ids[order]
    ordered_raw, ordered_values = raw_values[order], values[order]
    new_series = np.empty(len(order), dtype=np.bool_)
    new_series[0] = True
    np.not_equal(devices[1:], devices[:-1], out=new_series[1:])
    new_series[1:] |= sensors[1:] != sensors[:-1]
    sorted_readings = (ordered_times, devices, sensors, ordered_raw, ordered_values, new_series)
    return (
        _rollups(*sorted_readings, rollups.HOUR_US),
        _rollups(*sorted_readings, rollups.DAY_US),
    )


def _rollups(
    times: npt.NDArray[np.int64],
    devices: npt.NDArray[np.int64],
    sensors: npt.NDArray[np.int32],
    raw_values: npt.NDArray[np.float64],
    values: npt.NDArray[np.float64],
    new_series: npt.NDArray[np.bool_],
    width: int,
) -> rollups.Rollups:
    """Summaries of readings sorted by series and time, in buckets of `width` microseconds."""
    buckets = times - np.mod(times, width)  # floor, for times before 1970 too
    new_bucket = new_series.copy()
    new_bucket[1:] |= buckets[1:] != buckets[:-1]
    starts = np.flatnonzero(new_bucket)
    return rollups.Rollups(
        devices[starts],
        sensors[starts],
        buckets[starts],
        _summary(times, values, starts),
        _summary(times, raw_values, starts),
    )


def _summary(
    times: npt.NDArray[np.int64], column: npt.NDArray[np.float64], starts: npt.NDArray[np.intp]
) -> rollups.Summary:
    """The summary of each group of `column` (groups begin at `starts`, times ascending)."""
    n = len(column)
    present = ~np.isnan(column)
    if present.all():  # the usual case: plain reductions
        counts = np.diff(starts, append=n).astype(np.int64)
        firsts = starts
        lasts = np.append(starts[1:], n) - 1
        return rollups.Summary(
            counts,
            np.add.reduceat(column, starts),
            np.add.reduceat(column * column, starts),
            np.minimum.reduceat(column, starts),
            np.maximum.reduceat(column, starts),
            times[firsts],
            column[firsts],
            times[lasts],
            column[lasts],
        )
    zeroed = np.where(present, column, 0.0)
    index = np.arange(n)
    # In a group of nothing but NaN these point outside it; its count of 0 makes them unused.
    firsts = np.minimum(np.minimum.reduceat(np.where(present, index, n), starts), n - 1)
    lasts = np.maximum.reduceat(np.where(present, index, -1), starts)
    return rollups.Summary(
        np.add.reduceat(present.astype(np.int64), starts),
        np.add.reduceat(zeroed, starts),
        np.add.reduceat(zeroed * zeroed, starts),
        np.minimum.reduceat(np.where(present, column, np.inf), starts),
        np.maximum.reduceat(np.where(present, column, -np.inf), starts),
        times[firsts],
        column[firsts],
        times[lasts],
        column[lasts],
    )


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


def _no_rollups() -> rollups.Rollups:
    integers, floats = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    summary = rollups.Summary(
        integers, floats, floats, floats, floats, integers, floats, integers, floats
    )
    return rollups.Rollups(integers, np.empty(0, dtype=np.int32), integers, summary, summary)
