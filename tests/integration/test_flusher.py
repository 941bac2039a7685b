"""The embedded cluster's writeback helper: which files it flushes, that a flush starts their
writeback, and that one helper serves each running postmaster and leaves when it does."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage import flusher
from tests.support import until

_CACHESTAT = 451  # the same number on x86_64 and arm64 (Linux 6.5 and later)


class _Range(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class _Stat(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in ("cache", "dirty", "writeback", "evicted", "recently_evicted")
    ]


def dirty_pages(path: Path) -> int:
    """How many of `path`'s cached pages are dirty (the kernel's `cachestat`)."""
    libc = ctypes.CDLL(None, use_errno=True)
    stat = _Stat()
    with open(path, "rb") as file:
        if libc.syscall(
            _CACHESTAT, file.fileno(), ctypes.byref(_Range(0, 0)), ctypes.byref(stat), 0
        ):
            error = ctypes.get_errno()
            raise AssertionError(
                f"cachestat failed ({os.strerror(error)}): these tests read a file's dirty "
                "pages with it, which needs Linux 6.5 or later"
            )
    return int(stat.dirty)


@pytest.fixture
def postmaster() -> Iterator[subprocess.Popen[bytes]]:
    """A process standing for a postmaster: the helper only needs its pid to be alive."""
    process = subprocess.Popen(["sleep", "600"])
    yield process
    process.kill()
    process.wait()


def make_data_dir(root: Path, pid: int) -> Path:
    data_dir = root / "data"
    for folder in ("base/5", "base/16384", "global", "pg_wal"):
        (data_dir / folder).mkdir(parents=True, exist_ok=True)
    (data_dir / "postmaster.pid").write_text(f"{pid}\n{data_dir}\n")
    return data_dir


def test_the_recently_changed_files_of_the_databases_are_chosen(tmp_path: Path) -> None:
    data_dir = make_data_dir(tmp_path, os.getpid())
    now = time.time()
    for name, age_s in [
        ("base/16384/24576", 1),  # a table being written
        ("base/16384/t3_24580", 2),  # a temporary table
        ("base/5/1259", 60),  # untouched for a minute
        ("global/1262", 0),
        ("pg_wal/000000010000000000000001", 0),  # the WAL is flushed by every commit
    ]:
        (data_dir / name).write_bytes(b"\0" * 8192)
        os.utime(data_dir / name, (now - age_s, now - age_s))

    chosen = sorted(flusher.recent_files(data_dir, now - 5))

    assert chosen == sorted(
        str(data_dir / name) for name in ("base/16384/24576", "base/16384/t3_24580", "global/1262")
    )


def test_a_flush_starts_the_writeback_of_a_files_dirty_pages(tmp_path: Path) -> None:
    path = tmp_path / "24576"
    path.write_bytes(os.urandom(4 << 20))
    assert dirty_pages(path) > 0  # the kernel keeps them up to 30 s unless asked

    assert flusher.flush(str(path))

    until(lambda: dirty_pages(path) == 0)


def test_a_file_gone_before_its_flush_is_passed_over(tmp_path: Path) -> None:
    assert not flusher.flush(str(tmp_path / "dropped"))


def test_one_helper_serves_a_postmaster_until_it_stops(
    tmp_path: Path, postmaster: subprocess.Popen[bytes]
) -> None:
    data_dir = make_data_dir(tmp_path, postmaster.pid)
    table = data_dir / "base" / "16384" / "24576"

    assert flusher.start(tmp_path, data_dir)
    assert flusher.running_for(tmp_path) == postmaster.pid  # serving once `start` returns
    assert not flusher.start(tmp_path, data_dir)  # one is enough
    table.write_bytes(os.urandom(1 << 20))
    until(lambda: dirty_pages(table) == 0)  # flushed within a round or two

    postmaster.kill()
    postmaster.wait()
    until(lambda: flusher.running_for(tmp_path) is None)
    log = (tmp_path / flusher.LOG_NAME).read_text()
    assert f"postmaster {postmaster.pid} has stopped" in log


def test_a_restarted_postmaster_gets_a_helper_of_its_own(tmp_path: Path) -> None:
    first = subprocess.Popen(["sleep", "600"])
    second = subprocess.Popen(["sleep", "600"])
    try:
        data_dir = make_data_dir(tmp_path, first.pid)
        assert flusher.start(tmp_path, data_dir)
        until(lambda: flusher.running_for(tmp_path) == first.pid)

        first.kill()  # the restart: a new postmaster, while the old helper has not noticed yet
        first.wait()
        (data_dir / "postmaster.pid").write_text(f"{second.pid}\n{data_dir}\n")
        assert flusher.start(tmp_path, data_dir)

        until(lambda: flusher.running_for(tmp_path) == second.pid)
    finally:
        for process in (first, second):
            process.kill()
            process.wait()
    until(lambda: flusher.running_for(tmp_path) is None)


def test_without_a_postmaster_no_helper_starts(tmp_path: Path) -> None:
    data_dir = make_data_dir(tmp_path, 0)
    (data_dir / "postmaster.pid").unlink()

    assert not flusher.start(tmp_path, data_dir)
    assert flusher.running_for(tmp_path) is None
    result = subprocess.run(
        [sys.executable, "-m", "storage.flusher", str(data_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "nothing to flush" in result.stderr


def test_a_helper_that_cannot_start_is_reported_and_the_cluster_goes_on(
    tmp_path: Path,
    postmaster: subprocess.Popen[bytes],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data_dir = make_data_dir(tmp_path, postmaster.pid)
    monkeypatch.setenv("PATH", str(tmp_path))  # no `setsid` to start it with

    assert not flusher.start(tmp_path, data_dir)

    assert flusher.running_for(tmp_path) is None
    assert "cannot start the writeback helper" in caplog.text
