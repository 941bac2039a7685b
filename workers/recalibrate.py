"""Recalibrate stored readings:
`python -m workers.recalibrate --device ID --sensor ID [--from TIME] [--to TIME]`.

Re-derives the calibrated values of one device's sensor from their stored raw values with the
sensor's current equation, one UTC day per transaction, rebuilding that day's hourly and daily
rollups and the latest values that fall in it (workers/recalibration.py says what a reader sees
meanwhile). TIME is ISO 8601 or epoch seconds, UTC unless it says otherwise; `--to` is
exclusive, and an open end runs to the first or last reading. Workers keep the old equation
until they reload the catalogue (WORKERS_CATALOGUE_REFRESH_S): run it again after that to
catch the readings they stored meanwhile. Running it twice is harmless.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from core import settings as core_settings
from core import timeparse
from storage import catalogue, errors, pool
from storage.config import DatabaseSettings
from workers import calibration, recalibration
from workers.errors import WorkerError


def _timestamp(text: str) -> int:
    try:
        return timeparse.parse_timestamp(text)
    except timeparse.TimeParseError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from exc


def _report(day: recalibration.DayRecalibrated) -> None:
    print(
        f"{timeparse.from_micros(day.day_us):%Y-%m-%d}: {day.readings} readings recalibrated, "
        f"{day.changed} changed",
        flush=True,
    )


async def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.recalibrate", description=__doc__)
    parser.add_argument("--device", type=int, required=True, help="device id")
    parser.add_argument("--sensor", type=int, required=True, help="sensor id")
    parser.add_argument("--from", dest="start", type=_timestamp, help="first time (inclusive)")
    parser.add_argument("--to", dest="end", type=_timestamp, help="last time (exclusive)")
    args = parser.parse_args(argv)
    try:
        db = await pool.open(DatabaseSettings.from_env(core_settings.environ()), max_size=1)
        try:
            async with db.acquire() as conn:
                calibrator = calibration.Calibrator(await catalogue.load_sensors(conn))
            changed = await recalibration.recalibrate(
                db, args.device, args.sensor, args.start, args.end, calibrator, progress=_report
            )
        finally:
            await pool.close(db, timeout=5)
    except (WorkerError, errors.StorageError, core_settings.SettingError) as exc:
        # Days already reported stay recalibrated; running again redoes only what differs.
        print(f"recalibration failed: {exc}", file=sys.stderr)
        return 1
    print(f"done: {changed} readings of device {args.device} sensor {args.sensor} changed")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
