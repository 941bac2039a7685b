"""Calibrating whole claims: per-sensor equations applied to mixed readings at once."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from storage.models import Sensor
from tests.unit.workers import sck
from workers import calibration, equations
from workers.errors import CalibrationError, UnknownSensors


@pytest.fixture
def calibrator():
    return calibration.Calibrator(sck.SENSORS)


def calibrate(
    calibrator: calibration.Calibrator, sensor_ids: list[int], posted: list[float]
) -> calibration.Calibrated:
    return calibrator.calibrate(
        np.array(sensor_ids, dtype=np.int32), np.array(posted, dtype=np.float64)
    )


def test_posted_values_go_through_reverse_equation_then_equation(calibrator):
    raw, values = calibrate(calibrator, [sck.TEMP, sck.LIGHT, sck.NO2], [25132, 30000, 52000])
    assert raw.tolist() == [25132, 3000, 52]
    assert values[0] == pytest.approx(14.3858, abs=1e-3)
    assert values[1:].tolist() == [3000, 52]


def test_noise_goes_through_the_table(calibrator):
    raw, values = calibrate(calibrator, [sck.NOISE, sck.NOISE, sck.NOISE], [1, 1200, 5000])
    assert raw.tolist() == [1, 1200, 5000]
    assert values.tolist() == [52.5, 80, 110]


def test_mixed_sensors_match_scalar_evaluation(calibrator):
    rng = np.random.default_rng(7)
    sensor_ids = rng.choice([s.id for s in sck.SENSORS], size=2000).astype(np.int32)
    posted = rng.uniform(0, 60000, size=2000)
    raw, values = calibrator.calibrate(sensor_ids, posted)
    by_id = {s.id: s for s in sck.SENSORS}
    for i in range(0, 2000, 37):
        sensor = by_id[int(sensor_ids[i])]
        one = np.array([posted[i]])
        expected_raw = equations.compile_equation(sensor.reverse_equation)(one)[0]
        expected = equations.compile_equation(sensor.equation)(np.array([expected_raw]))[0]
        assert raw[i] == expected_raw
        assert values[i] == expected


def test_readings_keep_their_order(calibrator):
    raw, values = calibrate(
        calibrator, [sck.BAT, sck.NETS, sck.BAT, sck.PANEL, sck.NETS], [500, 3, 700, 4000, 9]
    )
    assert raw.tolist() == [50, 3, 70, 4, 9]
    assert values.tolist() == [50, 3, 70, 4, 9]


def test_non_finite_results_become_nan(calibrator):
    weird = calibration.Calibrator([_sensor(99, "log(x)", "1 / x")])
    raw, values = calibrate(weird, [99, 99, 99], [0, 1, -2])
    assert np.isnan(raw[0]) and raw[1] == 1 and raw[2] == -0.5
    assert np.isnan(values[0]) and values[1] == 0 and np.isnan(values[2])


def test_sensors_without_equations_pass_values_through():
    raw, values = calibrate(calibration.Calibrator([_sensor(55, None, None)]), [55], [21.5])
    assert raw.tolist() == [21.5] and values.tolist() == [21.5]


def test_no_readings(calibrator):
    raw, values = calibrate(calibrator, [], [])
    assert len(raw) == 0 and len(values) == 0


def test_unknown_sensors_are_all_named(calibrator):
    with pytest.raises(UnknownSensors) as caught:
        calibrate(calibrator, [sck.TEMP, 404, 500, 404], [1, 2, 3, 4])
    assert caught.value.sensor_ids == [404, 500]


def test_a_sensor_with_an_invalid_equation_fails_only_its_readings():
    calibrator = calibration.Calibrator([_sensor(1, "x +", None), _sensor(2, "2 * x", None)])
    assert 1 in calibrator and 1 in calibrator.invalid
    assert calibrate(calibrator, [2], [4]).values.tolist() == [8]
    with pytest.raises(CalibrationError, match=r"sensor 1: .*found the end"):
        calibrate(calibrator, [2, 1], [4, 4])


def _sensor(sensor_id: int, equation: str | None, reverse: str | None) -> Sensor:
    return Sensor(sensor_id, "s", None, None, equation, reverse, datetime(2024, 1, 1, tzinfo=UTC))
