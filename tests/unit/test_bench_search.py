"""The ingest benchmark's search for the highest sustained rate, against a simulated platform of
known capacity: the gateways acknowledge whatever is offered, the workers store up to the
capacity, and the staging backlog grows by the rest. The search must end close below the
capacity wherever the closed-loop run puts its first screen, within its screens."""

from __future__ import annotations

import base64
import dataclasses
import time
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
import pytest

from benchmarks import harness, ingest_fleet, ingest_load

PER_REQUEST = 10
READINGS = PER_REQUEST * len(ingest_fleet.SENSOR_IDS)
CAPACITY = 80_000.0  # readings/s the simulated workers store


class _SimulatedBench:
    """Stands in for ingest_load.Bench: each step is computed, not run."""

    def __init__(self, closed_stored: float, settings: ingest_load.IngestSettings) -> None:
        self.closed_stored = closed_stored  # what the closed-loop run appears to store
        self.settings = settings
        self.offered: list[float | None] = []  # readings/s of each step, None: closed loop

    def drain(self, *, below: int = 0) -> None:
        pass

    def step(
        self,
        per_request: int,
        *,
        mode: str,
        rate: float | None,
        windows: int,
        window_s: float,
        probe: bool = False,
    ) -> ingest_load.Step:
        offered = None if rate is None else rate * READINGS
        self.offered.append(offered)
        acked = 1.2 * CAPACITY if offered is None else offered
        stored = self.closed_stored if offered is None else min(offered, CAPACITY)
        spans = [(i * window_s, (i + 1) * window_s) for i in range(windows)]
        latencies = base64.b64encode(np.full(10, 5.0, dtype=np.float32).tobytes()).decode()
        window = {
            "statuses": {"200": 1},
            "connection_errors": 0,
            "cpu_s": 0.0,
            "latencies": latencies,
        }
        output = {
            "windows": [{**window, "acked_readings": int(acked * window_s)} for _ in spans],
            "unanswered": 0,
            "max_waiting": 0,
            "never_sent": 0,
        }
        end = windows * window_s
        backlog = [(t / 2, int((acked - stored) * t / 2)) for t in range(int(2 * end) + 1)]
        return ingest_load.Step(
            mode=mode,
            per_request=per_request,
            rate=rate,
            windows=spans,
            outputs=[output],
            backlog=backlog,
            cpu=[{"at": t, "gateways": 0.0, "workers": 0.0} for t in (0.0, *(b for _, b in spans))],
        )


def _search(closed_stored: float) -> tuple[float, _SimulatedBench, list[str]]:
    settings = dataclasses.replace(ingest_load.DEFAULT, retries=0)
    bench = _SimulatedBench(closed_stored, settings)
    deadline = time.monotonic() + 3600
    final, story = ingest_load.sustained_runs(cast(Any, bench), PER_REQUEST, deadline)
    assert final.rate is not None
    return final.rate * READINGS, bench, story


@pytest.mark.parametrize(
    "closed_stored",
    [0.6 * CAPACITY, 0.8 * CAPACITY, 0.97 * CAPACITY, 1.3 * CAPACITY, 2.0 * CAPACITY],
)
def test_the_search_ends_within_a_twentieth_below_the_capacity(closed_stored):
    found, bench, story = _search(closed_stored)
    # The highest rate that holds: the backlog grows by at most 2 % of the rate.
    limit = CAPACITY / (1 - ingest_load._SUSTAINED_SLOPE)

    assert 0.95 * CAPACITY <= found <= limit, story
    screens = bench.offered[1:-1]
    assert len(screens) <= bench.settings.screens
    # The final run is at the highest screened rate that held.
    held = [rate for rate in screens if rate is not None and rate <= limit]
    assert found == pytest.approx(max(held))


def test_the_search_stops_screening_once_the_bracket_is_narrow():
    found, bench, story = _search(0.97 * CAPACITY)

    # 77,600 held, 93,120 (20 % more) did not, nor did 85,007 between them; 81,219 between
    # 77,600 and 85,007 held, and 85,007 / 81,219 < 1.05.
    assert len(bench.offered) == 1 + 4 + 1, story
    assert found == pytest.approx(81_219, rel=1e-3)


def test_the_search_stops_screening_when_the_deadline_leaves_only_the_final_run():
    settings = dataclasses.replace(ingest_load.DEFAULT, retries=0)
    bench = _SimulatedBench(0.5 * CAPACITY, settings)
    final, story = ingest_load.sustained_runs(cast(Any, bench), PER_REQUEST, time.monotonic())

    assert len(bench.offered) == 1 + 1 + 1, story  # closed loop, one screen, the final run
    assert final.rate == bench.offered[1] / READINGS


@pytest.mark.parametrize("offered", [0.9 * CAPACITY, 1.25 * CAPACITY])
def test_a_final_run_meets_the_rate_target_only_if_it_held(offered):
    bench = _SimulatedBench(CAPACITY, ingest_load.DEFAULT)
    final = bench.step(PER_REQUEST, mode="open", rate=offered / READINGS, windows=3, window_s=10)
    # Both store more than the target asks: only the backlog's growth can tell them apart.
    target = harness.Target("rate", 0.5 * CAPACITY, True, "≥ 25% of ceiling")
    held = offered <= CAPACITY

    result = ingest_load.search_result("ingest_100", "ingest", final, target)

    assert result.summary()["rate"].median >= 0.5 * CAPACITY
    assert result.target_met() is held
    assert (result.unmet is None) is held
    ceilings: dict[str, harness.Result] = {}
    assert result.as_dict(ceilings)["target"]["met"] is held
    report = harness.Report("default", datetime.now(UTC), {}, {}, {}, results=[result])
    verdict = "pass" if held else "**miss** (its final run did not hold: backlog grew"
    assert f"≥ 25% of ceiling: {verdict}" in report._row(result)
