"""Recalibration: re-derive a series' calibrated values from its stored raw values, with the
sensor's current equation, and keep its rollups and latest values exact.

The work goes one UTC day per transaction, so memory and lock times stay bounded however long
the range, and each day's values, its hourly and daily rollups and the latest values that fall
in it change together. The day's rollup rows are locked first: claims storing readings of the
series that day wait, then fold their readings into the rebuilt rows (see storage.rollups).

Consistency: each day is atomic; a range is not. While a recalibration runs, readers see days
already done with the new equation and the others with the old one, and a failure leaves the
days done so far recalibrated (running it again is safe: it only rewrites values that differ).
Readings stored during the run by workers whose catalogue still holds the old equation (for up
to WORKERS_CATALOGUE_REFRESH_S after the change) keep the value they were stored with, and the
rollups count them as stored; run it again after that delay to catch them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple

from storage import readings, rollups
from storage.pool import Connection, Pool
from workers import equations
from workers.calibration import Calibrator
from workers.processing import transaction

logger = logging.getLogger(__name__)

# Readings read and rewritten at once within a day: bounds memory for dense series.
PAGE_ROWS = 50_000


class DayRecalibrated(NamedTuple):
    """One UTC day of a recalibration, committed."""

    day_us: int  # its midnight, µs since the Unix epoch
    readings: int  # readings of the range that day, re-derived
    changed: int  # of those, readings whose value changed


async def recalibrate(
    pool: Pool,
    device_id: int,
    sensor_id: int,
    start_us: int | None,
    end_us: int | None,
    calibrator: Calibrator,
    *,
    progress: Callable[[DayRecalibrated], None] | None = None,
    page_rows: int = PAGE_ROWS,
) -> int:
    """Re-derive the `value` of a series' readings in [start_us, end_us) (None: unbounded) from
    their `raw_value` with the sensor's equation in `calibrator`; returns how many changed.

    Each UTC day with readings in the range is one transaction (`progress` hears of each after
    its commit) that rewrites the values, rebuilds the day's hourly and daily rollups from the
    stored readings and re-reads the latest values that fall in it. Raises UnknownSensors or
    CalibrationError before touching anything if the sensor has no usable equation, and
    StorageUnavailable or StorageError (days committed before stay recalibrated).
    """
    equation = calibrator.equation(sensor_id)
    changed = 0
    async with transaction(pool) as conn:
        found = await readings.next_reading_time(conn, device_id, sensor_id, start_us, end_us)
    while found is not None:
        day_us, next_day_us = rollups.whole_days(found, found + 1)
        start = day_us if start_us is None else max(day_us, start_us)
        end = next_day_us if end_us is None else min(next_day_us, end_us)
        async with transaction(pool) as conn:
            day = await _recalibrate_day(
                conn, device_id, sensor_id, (day_us, start, end), equation, page_rows
            )
            found = await readings.next_reading_time(conn, device_id, sensor_id, end, end_us)
        changed += day.changed
        logger.debug(
            "recalibrated %d readings of %d/%d (%d changed)",
            day.readings,
            device_id,
            sensor_id,
            day.changed,
            extra={"action": "day_recalibrated", "device_id": device_id, "sensor_id": sensor_id},
        )
        if progress is not None:
            progress(day)
    return changed


async def _recalibrate_day(
    conn: Connection,
    device_id: int,
    sensor_id: int,
    bounds: tuple[int, int, int],
    equation: equations.Equation,
    page_rows: int,
) -> DayRecalibrated:
    """Within one transaction: recalibrate [start, end) of the day starting at `day_us`."""
    day_us, start, end = bounds
    # Rollup rows first, as claims take them (hourly, then daily, in key order), so that
    # nothing can add to the day's rollups between the rewrite and the rebuild.
    await rollups.lock(conn, device_id, sensor_id, day_us, day_us + rollups.DAY_US)
    seen = changed = 0
    cursor = start
    while cursor < end:
        times, raw = await readings.raw_values(conn, device_id, sensor_id, cursor, end, page_rows)
        if len(times) == 0:
            break
        changed += await readings.set_values(conn, device_id, sensor_id, times, equation(raw))
        seen += len(times)
        if len(times) < page_rows:
            break
        cursor = int(times[-1]) + 1
    await rollups.rebuild(conn, device_id, sensor_id, day_us, day_us + rollups.DAY_US)
    await readings.refresh_latest_values(conn, device_id, sensor_id, start, end)
    return DayRecalibrated(day_us, seen, changed)
