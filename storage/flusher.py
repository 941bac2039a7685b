"""The embedded cluster's writeback helper: its new pages go to disk every second, not in bursts.

PostgreSQL 15 grows a table or index file by writing zeroed pages, and on a machine whose kernel
lets dirty data wait 30 s (`storage/writeback.py`) those pages gather into bursts of half a
gigabyte that every commit's WAL flush waits behind. Without root the platform cannot change the
kernel's settings, but it can do for the cluster's own files what the setting would do: ask the
kernel to start writing them back (`sync_file_range` with `SYNC_FILE_RANGE_WRITE`, which does not
wait for the disk, as PostgreSQL's own `*_flush_after` settings do for the pages it writes out).

`storage.embedded` starts one helper per running cluster (`python -m storage.flusher DATA_DIR`)
when the machine's settings make bursts. Once a second it flushes the files of the data
directory's databases (`base/`, where temporary tables live too, and `global/`) that changed
in the last few seconds. It serves the postmaster named in `postmaster.pid` when it started, and
exits once that postmaster has gone. A lock file beside the data directory keeps it to one per
cluster, and names the postmaster it serves.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import functools
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from core import logging as core_logging

logger = logging.getLogger("storage.flusher")  # by name: it runs as __main__

INTERVAL_S = 1.0
# A file changed this recently may still hold dirty pages that no earlier flush started.
RECENT_S = 5.0
# How long a new helper waits for the one before it, which exits within a second of its
# postmaster (a restarted cluster).
TAKE_OVER_S = 10.0
# How long `start` waits for a new helper to hold its lock (it starts in about 0.1 s).
START_WAIT_S = 10.0
LOCK_NAME = "flusher.lock"
LOG_NAME = "flusher.log"
_SYNC_FILE_RANGE_WRITE = 2  # <fcntl.h>


@functools.cache
def _sync_file_range() -> Any:
    """libc's `sync_file_range` (Linux only: elsewhere the helper is never started)."""
    function = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).sync_file_range
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def postmaster_pid(data_dir: Path) -> int | None:
    """The pid of the postmaster running on `data_dir`, or None when none is."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # it runs as another user: it exists
    return pid


def recent_files(data_dir: Path, since: float) -> Iterator[str]:
    """The paths of the files of `data_dir`'s databases modified at `since` or later."""
    folders = [data_dir / "global"]
    try:
        folders += [Path(entry.path) for entry in os.scandir(data_dir / "base") if entry.is_dir()]
    except FileNotFoundError:
        pass
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue  # a database dropped meanwhile
        for entry in entries:
            try:
                if entry.is_file() and entry.stat().st_mtime >= since:
                    yield entry.path
            except FileNotFoundError:
                continue  # a relation dropped or truncated meanwhile


def flush(path: str) -> bool:
    """Start writing back `path`'s dirty pages (without waiting); False if it has gone."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        if _sync_file_range()(fd, 0, 0, _SYNC_FILE_RANGE_WRITE) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error), path)
    finally:
        os.close(fd)
    return True


def serve(data_dir: Path, pid: int, *, interval_s: float = INTERVAL_S) -> int:
    """Flush `data_dir`'s recently changed files every `interval_s` while postmaster `pid` runs;
    the number of rounds."""
    rounds = 0
    while postmaster_pid(data_dir) == pid:
        began = time.time()
        for path in recent_files(data_dir, began - RECENT_S):
            flush(path)
        rounds += 1
        time.sleep(max(0.0, interval_s - (time.time() - began)))
    return rounds


def running_for(root: Path) -> int | None:
    """The postmaster pid the helper of cluster root `root` serves (0 while it starts), or
    None when none runs."""
    try:
        lock = open(root / LOCK_NAME)
    except FileNotFoundError:
        return None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = lock.read().strip()
            return int(text) if text.isdigit() else 0
        return None  # nobody holds it


def start(root: Path, data_dir: Path) -> bool:
    """Start the helper for the cluster in `root` unless one serves its running postmaster, and
    wait until it serves it; whether one was started. It runs detached, as this user, logging
    to `root`/flusher.log."""
    pid = postmaster_pid(data_dir)
    if pid is None or running_for(root) == pid:
        return False
    try:
        with open(root / LOG_NAME, "ab") as log:
            # `setsid -f` starts it in a session of its own and returns at once: the helper is
            # nobody's child here, to outlive this process and be reaped by the system.
            subprocess.run(
                ["setsid", "-f", sys.executable, "-m", "storage.flusher", str(data_dir)],
                cwd=Path(__file__).resolve().parent.parent,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                check=True,
            )
    except (OSError, subprocess.CalledProcessError) as exc:
        # The cluster works without it, as before it was written: say so and go on.
        logger.warning(
            "cannot start the writeback helper (%s): commits may stall while the kernel "
            "writes back in bursts (README, Operations)",
            exc,
            extra={"action": "flusher_failed"},
        )
        return False
    # Return once it holds the lock, so that `running_for` tells it from here on.
    deadline = time.monotonic() + START_WAIT_S
    while running_for(root) != pid:
        if time.monotonic() > deadline:
            logger.warning(
                "the writeback helper did not start in %g s (its log: %s)",
                START_WAIT_S,
                root / LOG_NAME,
                extra={"action": "flusher_failed"},
            )
            return False
        time.sleep(0.02)
    return True


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m storage.flusher DATA_DIR", file=sys.stderr)
        return 2
    data_dir = Path(args[0])
    core_logging.setup("INFO", process="flusher")
    pid = postmaster_pid(data_dir)
    if pid is None:
        logger.info("no postmaster runs on %s: nothing to flush", data_dir)
        return 0
    with open(data_dir.parent / LOCK_NAME, "a+") as lock:
        if not _take(lock, pid):
            return 0
        logger.info(
            "flushing the new pages of %s every %g s while postmaster %d runs",
            data_dir,
            INTERVAL_S,
            pid,
            extra={"action": "flusher_start"},
        )
        try:
            rounds = serve(data_dir, pid)
        except OSError as exc:
            logger.warning(
                "cannot start the writeback of the cluster's files (%s): flusher stopped",
                exc,
                extra={"action": "flusher_failed"},
            )
            return 1
        logger.info(
            "postmaster %d has stopped: flusher done after %d rounds",
            pid,
            rounds,
            extra={"action": "flusher_stop"},
        )
    return 0


def _take(lock: IO[str], pid: int) -> bool:
    """Hold `lock` and write `pid` in it; False when another helper keeps it for `pid` or past
    TAKE_OVER_S."""
    deadline = time.monotonic() + TAKE_OVER_S
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            lock.seek(0)
            if lock.read().strip() == str(pid):
                logger.info("another flusher serves postmaster %d", pid)
                return False
            if time.monotonic() > deadline:
                logger.warning(
                    "the flusher of an earlier postmaster did not leave in %g s: not flushing",
                    TAKE_OVER_S,
                    extra={"action": "flusher_failed"},
                )
                return False
            time.sleep(0.1)
    lock.seek(0)
    lock.truncate()
    lock.write(str(pid))
    lock.flush()
    return True


if __name__ == "__main__":
    raise SystemExit(main())
