"""What a worker process keeps of the catalogue: the calibrator of every sensor, reloaded when
stale or incomplete, and the (device, sensor) components it knows exist."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from storage import catalogue as storage_catalogue
from storage.pool import Connection
from workers import calibration

logger = logging.getLogger(__name__)

# Beyond this many known components the memory is cleared rather than grown.
MAX_KNOWN_COMPONENTS = 1_000_000


class Catalogue:
    """Compiled calibrations of every sensor, loaded from the database and kept for a while.

    Equations compile once per distinct text (equations.compile_equation caches them), so a
    reload costs one small query. Components known to exist are not written again until the
    next periodic reload, which forgets them (so one deleted meanwhile comes back within
    `refresh_s` if its device keeps posting).
    """

    def __init__(self, refresh_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._refresh_s = refresh_s
        self._clock = clock
        self._calibrator: calibration.Calibrator | None = None
        self._loaded_at = 0.0
        self._components: set[tuple[int, int]] = set()
        self._pending: set[tuple[int, int]] = set()

    async def current(self, conn: Connection) -> calibration.Calibrator:
        """The calibrator, reloaded first if never loaded or older than the refresh interval."""
        if self._calibrator is None or self._clock() - self._loaded_at >= self._refresh_s:
            self._components.clear()
            return await self.reload(conn)
        return self._calibrator

    async def reload(self, conn: Connection) -> calibration.Calibrator:
        """Load the catalogue again (a sensor was added, changed or removed).

        Raises StorageUnavailable or StorageError.
        """
        sensors = await storage_catalogue.load_sensors(conn)
        calibrator = calibration.Calibrator(sensors)
        previous = self._calibrator.invalid if self._calibrator is not None else {}
        for sensor_id, error in calibrator.invalid.items():
            if previous.get(sensor_id) != error:
                logger.warning(
                    "sensor %d has an invalid calibration, its readings will fail: %s",
                    sensor_id,
                    error,
                    extra={"action": "invalid_calibration", "sensor_id": sensor_id},
                )
        self._calibrator, self._loaded_at = calibrator, self._clock()
        logger.debug("loaded %d sensors", len(calibrator), extra={"action": "catalogue_loaded"})
        return calibrator

    def unknown_components(
        self, device_ids: npt.NDArray[np.int64], sensor_ids: npt.NDArray[np.int32]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
        """The (device, sensor) pairs not known to be components, which the caller's
        transaction is about to make components (see `commit_components`)."""
        pairs = list(zip(device_ids.tolist(), sensor_ids.tolist(), strict=True))
        unknown = np.fromiter((p not in self._components for p in pairs), np.bool_, len(pairs))
        self._pending = {p for p, new in zip(pairs, unknown.tolist(), strict=True) if new}
        return device_ids[unknown], sensor_ids[unknown]

    def commit_components(self) -> None:
        """Remember the pairs of the last `unknown_components` call: their transaction committed."""
        if len(self._components) + len(self._pending) > MAX_KNOWN_COMPONENTS:
            self._components.clear()
        self._components |= self._pending
        self._pending = set()

    def forget_pending_components(self) -> None:
        """Forget the pairs of the last `unknown_components` call: their transaction failed."""
        self._pending = set()
