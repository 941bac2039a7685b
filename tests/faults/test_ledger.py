"""The oracle itself: a verdict finds each kind of broken promise, and a clean run is clean."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from tests.faults import ledger


def _rows(batch: ledger.Batch) -> Iterator[tuple[int, int, datetime, float]]:
    for step in batch.steps:
        moment = ledger._EPOCH + timedelta(microseconds=step.time_us)
        for sensor, value in zip(ledger.SENSORS, step.values, strict=False):
            yield (batch.device_id, sensor, moment, value)


def test_batches_carry_distinct_readings_and_the_asked_number():
    book = ledger.Ledger()
    first, second = book.new_batch(7, 95), book.new_batch(7, 95)
    assert first.readings == second.readings == 95
    keys = {(r[0], r[1], r[2]) for batch in (first, second) for r in _rows(batch)}
    assert len(keys) == 190


def test_a_clean_database_gives_a_clean_verdict():
    book = ledger.Ledger()
    ok, unknown, fail = (book.new_batch(1, 30) for _ in range(3))
    book.record(ok, "ok")
    book.record(unknown, "unknown")
    book.record(fail, "fail")
    verdict = book.judge([*_rows(ok), *list(_rows(unknown))[:5]])
    assert (verdict.sent, verdict.acknowledged, verdict.stored) == (90, 30, 35)
    verdict.assert_clean()


@pytest.mark.parametrize(
    ("damage", "field"),
    [
        (lambda rows: rows[1:], "lost"),
        (lambda rows: [*rows, rows[0]], "duplicated"),
        (lambda rows: [(*rows[0][:3], rows[0][3] + 1), *rows[1:]], "mismatched"),
        (lambda rows: [*rows, (1, 10, rows[0][2] - timedelta(days=1), 1.0)], "unexpected"),
    ],
)
def test_each_broken_promise_is_found(damage, field):
    book = ledger.Ledger()
    batch = book.new_batch(1, 20)
    book.record(batch, "ok")
    verdict = book.judge(damage(list(_rows(batch))))
    assert getattr(verdict, field) == 1
    with pytest.raises(AssertionError, match=field):
        verdict.assert_clean()


def test_a_reading_refused_for_good_and_stored_is_unexpected():
    book = ledger.Ledger()
    batch = book.new_batch(1, 10)
    book.record(batch, "fail")
    assert book.judge(_rows(batch)).unexpected == 10


def test_a_reading_acknowledged_once_is_ok_whatever_else_happened_to_it():
    book = ledger.Ledger()
    batch = book.new_batch(1, 10)
    for outcome in ("unknown", "ok", "fail", "unknown"):
        book.record(batch, outcome)
    assert book.counts() == {"ok": 10}
    assert book.judge([]).lost == 10
