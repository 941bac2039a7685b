from __future__ import annotations

import asyncio
import time

import pytest

from ingest import backpressure


def test_timers_late_in_a_row_mean_short_of_cpu_until_one_runs_on_time():
    lag = backpressure.LoopLag(max_lag_s=0.2, interval_s=0.05, sustained=3)
    lag.record(0.01)
    assert not lag.overloaded
    lag.record(0.3)
    lag.record(0.3)
    assert not lag.overloaded
    lag.record(0.4)
    assert lag.overloaded
    assert (lag.lag_s, lag.late) == (0.4, 3)
    lag.record(0.3)
    assert lag.overloaded
    lag.record(0.2)  # at the bound is not over it
    assert not lag.overloaded
    assert lag.late == 0


def test_one_long_stall_refuses_nothing():
    lag = backpressure.LoopLag(max_lag_s=0.2, interval_s=0.05, sustained=3)
    for lag_s in (5.0, 0.01, 0.3, 0.3, 0.01, 0.3):
        lag.record(lag_s)
        assert not lag.overloaded


def test_a_bound_of_zero_never_refuses():
    lag = backpressure.LoopLag(max_lag_s=0.0, interval_s=0.05)
    lag.record(10.0)
    assert not lag.overloaded


@pytest.mark.timeout(10)
async def test_a_blocked_loop_is_measured():
    lag = backpressure.LoopLag(max_lag_s=0.1, interval_s=0.01, sustained=2)
    task = asyncio.create_task(lag.run())
    try:
        await asyncio.sleep(0)  # the first timer is set
        for late in (1, 2):
            time.sleep(0.3)  # noqa: ASYNC251  # the loop is held, as by a burst of work
            while lag.late < late:  # noqa: ASYNC110  # the late timer runs next
                await asyncio.sleep(0)
            assert lag.lag_s >= 0.2
        assert lag.overloaded
        while lag.overloaded:  # noqa: ASYNC110  # then one on time
            await asyncio.sleep(0.01)
        assert lag.lag_s <= 0.1
    finally:
        task.cancel()
