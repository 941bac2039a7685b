"""Calibration of whole claims at once: posted values to raw values to calibrated values.

A sensor's `reverse_equation` turns a posted value into its `raw_value`, and its `equation` turns
the raw value into the calibrated `value`, as on SmartCitizen. Readings are grouped by sensor with
one sort, and each sensor's compiled equations run once over its whole slice. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

from workers import equations
from workers.errors import CalibrationError, UnknownSensors


class SensorCalibration(Protocol):
    """What calibration needs of a sensor (storage.models.Sensor has it)."""

    @property
    def id(self) -> int: ...
    @property
    def equation(self) -> str | None: ...
    @property
    def reverse_equation(self) -> str | None: ...


class Calibrated(NamedTuple):
    """Raw and calibrated values, in the order of the readings given; NaN where not finite."""

    raw_values: equations.Array
    values: equations.Array


class Calibrator:
    """The compiled equations of a catalogue of sensors.

    A sensor whose equation does not parse is kept with its error, so that only its readings
    fail (and their batches reach the dead letters, to be replayed once it is fixed).
    """

    def __init__(self, sensors: Iterable[SensorCalibration]) -> None:
        self._pairs: dict[int, tuple[equations.Equation, equations.Equation]] = {}
        self.invalid: dict[int, str] = {}
        for sensor in sensors:
            try:
                self._pairs[sensor.id] = (
                    equations.compile_equation(sensor.reverse_equation),
                    equations.compile_equation(sensor.equation),
                )
            except CalibrationError as exc:
                self.invalid[sensor.id] = str(exc)

    def __contains__(self, sensor_id: int) -> bool:
        return sensor_id in self._pairs or sensor_id in self.invalid

    def __len__(self) -> int:
        return len(self._pairs) + len(self.invalid)

    def calibrate(self, sensor_ids: npt.NDArray[np.int32], posted: equations.Array) -> Calibrated:
        """Raw values (reverse_equation of posted) and values (equation of raw), per reading.

        Raises UnknownSensors naming every sensor id not in the catalogue, and CalibrationError
        if a sensor present has an equation that does not parse.
        """
        n = len(sensor_ids)
        if n == 0:
            return Calibrated(np.empty(0), np.empty(0))
        order = np.argsort(sensor_ids, kind="stable")
        grouped = sensor_ids[order]
        starts = np.flatnonzero(np.concatenate(([True], grouped[1:] != grouped[:-1])))
        ends = np.append(starts[1:], n)
        present = grouped[starts].tolist()
        self._check(present)
        posted_sorted = posted[order]
        raw_sorted = np.empty(n)
        values_sorted = np.empty(n)
        for sensor_id, start, end in zip(present, starts.tolist(), ends.tolist(), strict=True):
            reverse, forward = self._pairs[sensor_id]
            raw = reverse(posted_sorted[start:end])
            raw_sorted[start:end] = raw
            values_sorted[start:end] = forward(raw)
        raw_values = np.empty(n)
        values = np.empty(n)
        raw_values[order] = raw_sorted
        values[order] = values_sorted
        return Calibrated(raw_values, values)

    def equation(self, sensor_id: int) -> equations.Equation:
        """The compiled equation turning the sensor's raw values into calibrated values.

        Raises UnknownSensors if the sensor is not in the catalogue, and CalibrationError if its
        equation does not parse.
        """
        self._check([sensor_id])
        return self._pairs[sensor_id][1]

    def _check(self, sensor_ids: list[int]) -> None:
        unknown = [s for s in sensor_ids if s not in self._pairs and s not in self.invalid]
        if unknown:
            raise UnknownSensors(unknown)
        for sensor_id in sensor_ids:
            if sensor_id in self.invalid:
                raise CalibrationError(f"sensor {sensor_id}: {self.invalid[sensor_id]}")
