"""What the benchmark reports about the machine it ran on."""

from __future__ import annotations

from benchmarks import harness


def test_the_kernels_writeback_is_read_from_proc():
    settings = harness.writeback()

    assert settings is not None
    assert set(settings) == set(harness.WRITEBACK_SETTINGS)
    assert all(value >= 0 for value in settings.values())


def test_writeback_by_ratio_and_by_bytes_are_told_apart():
    by_ratio = {"dirty_background_bytes": 0, "dirty_background_ratio": 10}
    by_bytes = {"dirty_background_bytes": 64 << 20, "dirty_background_ratio": 0}

    assert harness.writeback_text({**by_ratio, "dirty_expire_centisecs": 3000}) == (
        "kernel writeback from 10 % of memory of dirty data or after 30 s"
    )
    assert harness.writeback_text({**by_bytes, "dirty_expire_centisecs": 500}) == (
        "kernel writeback from 64 MiB of dirty data or after 5 s"
    )
    assert harness.writeback_text(None) == "kernel writeback unknown"


def test_writeback_bursts_are_told_when_dirty_data_waits_for_its_expiry():
    default = {"dirty_background_bytes": 0, "dirty_background_ratio": 10}
    expiry = {"dirty_expire_centisecs": 3000}

    assert harness.writeback_bursts({**default, **expiry}, memory_gib=23.5)
    assert not harness.writeback_bursts({**default, **expiry}, memory_gib=2.0)
    assert not harness.writeback_bursts(
        {"dirty_background_bytes": 64 << 20, "dirty_background_ratio": 0, **expiry},
        memory_gib=23.5,
    )
    assert not harness.writeback_bursts({**default, "dirty_expire_centisecs": 500}, memory_gib=23.5)
    assert not harness.writeback_bursts(None, memory_gib=23.5)
