"""The kernel's writeback of dirty pages on the database's machine, and what it does to commits.

PostgreSQL 15 adds each new page to a table or index file by writing it zeroed, and Linux keeps
such pages dirty until they are `dirty_expire_centisecs` old (30 s) unless more than
`dirty_background_bytes` (or `dirty_background_ratio` of memory) are dirty first. On a machine
with gigabytes of memory the threshold never comes under sustained ingest, so the kernel writes
what gathered in one burst every 30 s or so, and every commit's WAL flush waits behind it: a few
hundred milliseconds of acknowledgement latency (docs/performance.md, "Writeback bursts").
Setting `vm.dirty_background_bytes` to 64 MiB keeps writeback going instead (README, Operations);
where it is not set, the embedded cluster's writeback helper (`storage/flusher.py`) does the same
for the cluster's own files.
"""

from __future__ import annotations

from pathlib import Path

SETTINGS = ("dirty_background_bytes", "dirty_background_ratio", "dirty_expire_centisecs")
# More dirty data than this waiting for its expiry makes a burst that commits notice.
_BURST_BYTES = 256 * 2**20

Writeback = dict[str, int]


def read(vm: Path = Path("/proc/sys/vm")) -> Writeback | None:
    """This machine's writeback settings; None where they cannot be read (not Linux)."""
    values = {}
    for name in SETTINGS:
        try:
            values[name] = int((vm / name).read_text())
        except (OSError, ValueError):
            return None
    return values


def bursts(settings: Writeback | None, memory_bytes: float) -> bool:
    """Whether more than 256 MiB of dirty data may wait for its expiry (10 s or more), so that
    the database's new pages are written back in bursts that commits wait behind."""
    if settings is None:
        return False
    threshold = float(settings["dirty_background_bytes"])
    if not threshold:
        threshold = memory_bytes * settings["dirty_background_ratio"] / 100
    return threshold > _BURST_BYTES and settings["dirty_expire_centisecs"] >= 1000


def describe(settings: Writeback | None) -> str:
    """`settings` in words."""
    if settings is None:
        return "kernel writeback unknown"
    threshold = settings["dirty_background_bytes"]
    ratio = settings["dirty_background_ratio"]
    start = f"{threshold / 2**20:g} MiB" if threshold else f"{ratio} % of memory"
    expire = settings["dirty_expire_centisecs"] / 100
    return f"kernel writeback from {start} of dirty data or after {expire:g} s"


def advice(settings: Writeback | None, memory_bytes: float) -> str | None:
    """What to tell the operator of a machine that runs the database, or None: nothing to say."""
    if not bursts(settings, memory_bytes):
        return None
    return (
        f"this machine's {describe(settings)} lets the database's new pages be written back in "
        "bursts that stall commits for a few hundred milliseconds under sustained ingest; "
        "set vm.dirty_background_bytes=67108864 to avoid them (README, Operations)"
    )
