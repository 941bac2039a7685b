"""Worker errors: a calibration that cannot be parsed, readings of sensors nobody knows."""

from __future__ import annotations

from collections.abc import Iterable


class WorkerError(Exception):
    """The worker could not process a batch."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


class CalibrationError(WorkerError):
    """A calibration equation is not valid."""


class UnknownSensors(WorkerError):
    """Readings name sensors that are not in the catalogue."""

    def __init__(self, sensor_ids: Iterable[int]) -> None:
        self.sensor_ids = sorted(set(sensor_ids))
        super().__init__(f"sensors not in the catalogue: {self.sensor_ids}")
