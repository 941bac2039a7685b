"""The kernel's writeback settings on the database's machine, and when they make bursts."""

from __future__ import annotations

from pathlib import Path

from storage import writeback

GIB = 2**30
EXPIRY = {"dirty_expire_centisecs": 3000}
DEFAULT = {"dirty_background_bytes": 0, "dirty_background_ratio": 10, **EXPIRY}
TUNED = {"dirty_background_bytes": 64 << 20, "dirty_background_ratio": 0, **EXPIRY}


def test_the_settings_are_read_from_proc():
    settings = writeback.read()

    assert settings is not None
    assert set(settings) == set(writeback.SETTINGS)
    assert all(value >= 0 for value in settings.values())


def test_settings_that_cannot_be_read_are_none(tmp_path: Path) -> None:
    (tmp_path / "dirty_background_bytes").write_text("0\n")

    assert writeback.read(tmp_path) is None


def test_bursts_form_when_much_dirty_data_may_wait_for_its_expiry():
    assert writeback.bursts(DEFAULT, 23.5 * GIB)
    assert not writeback.bursts(DEFAULT, 2 * GIB)  # a tenth of memory is under 256 MiB
    assert not writeback.bursts(TUNED, 23.5 * GIB)
    assert not writeback.bursts({**DEFAULT, "dirty_expire_centisecs": 500}, 23.5 * GIB)
    assert not writeback.bursts(None, 23.5 * GIB)


def test_the_settings_are_told_by_ratio_or_by_bytes():
    assert writeback.describe(DEFAULT) == (
        "kernel writeback from 10 % of memory of dirty data or after 30 s"
    )
    assert writeback.describe({**TUNED, "dirty_expire_centisecs": 500}) == (
        "kernel writeback from 64 MiB of dirty data or after 5 s"
    )
    assert writeback.describe(None) == "kernel writeback unknown"


def test_the_advice_names_the_setting_only_where_bursts_form():
    advice = writeback.advice(DEFAULT, 23.5 * GIB)

    assert advice is not None
    assert "vm.dirty_background_bytes=67108864" in advice
    assert "10 % of memory" in advice
    assert writeback.advice(TUNED, 23.5 * GIB) is None
