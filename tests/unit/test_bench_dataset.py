"""The benchmark dataset's loading progress is told by rows, not by blocks: its blocks range from
a chunk of hourly readings (60,000 rows) to a million minute readings."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from benchmarks import dataset

END = datetime(2026, 12, 8, tzinfo=UTC)


def test_progress_is_logged_by_the_share_of_rows_loaded(caplog: pytest.LogCaptureFixture) -> None:
    progress = dataset._Progress(1_000)
    with caplog.at_level(logging.INFO, logger=dataset.logger.name):
        for _ in range(10):
            progress.block_done(10)  # ten small blocks: a tenth of the rows
        progress.block_done(450)
        progress.block_done(450)

    shares = [record.getMessage().split("%")[0] for record in caplog.records]
    assert shares == ["history 10", "history 55", "history 100"]


def test_the_blocks_rows_add_up_to_the_dataset() -> None:
    scale = dataset.SCALES["default"]
    end_us = dataset._micros(END)

    readings = dataset._readings_blocks(scale, end_us)
    hourly = dataset._rollup_blocks(
        scale, end_us, "readings_hourly", dataset.HOUR_US, scale.hourly_days, 7
    )

    assert sum(block.rows for block in readings) == 35_520_000
    assert sum(block.rows for block in hourly) == 7_200_000
    assert min(block.rows for block in readings) < max(block.rows for block in readings) / 10
