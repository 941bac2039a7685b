"""The processes a benchmark measures: the query service, nginx in front of it, and the bare
HTTP server that gives the ceiling, each a real process on a free port; and their CPU time.

They are started as `make run` starts them (scripts/launcher.py: `python -m query` with its
settings in the environment, nginx with the project's site template), but alone, on ports of
their own, against the benchmark database.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import harness
from scripts import launcher

STATE_DIR = harness.ROOT / ".local" / "bench"
_TICKS = os.sysconf("SC_CLK_TCK")
_UNLIMITED = 1_000_000_000


class ServiceError(RuntimeError):
    """A benchmarked process did not start."""


@dataclass
class Process:
    """A started process; `stop()` ends it (and its children, its own process group)."""

    name: str
    port: int
    popen: subprocess.Popen[bytes]
    log: Path
    extra_pids: list[int] = field(default_factory=list)
    stopped: bool = False  # stopped on purpose: its exit is no failure
    remove_after: Path | None = None  # a directory of its own, removed once it stopped

    @property
    def pids(self) -> list[int]:
        """The process and, for nginx, its workers."""
        return [self.popen.pid, *children(self.popen.pid), *self.extra_pids]

    def stop(self, timeout: float = 20.0) -> None:
        self.stopped = True
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if self.remove_after is not None:
            shutil.rmtree(self.remove_after, ignore_errors=True)

    def check(self) -> None:
        """Raise ServiceError if the process exited without being stopped."""
        if not self.stopped and self.popen.poll() is not None:
            tail = self.log.read_text(errors="replace").splitlines()[-20:]
            raise ServiceError(f"{self.name} exited ({self.popen.returncode}):\n" + "\n".join(tail))


def _spawn(name: str, argv: list[str], env: Mapping[str, str], port: int) -> Process:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    log = STATE_DIR / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=harness.ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Process(name, port, popen, log)


def start_query(database_url: str, *, pool_max: int | None = None) -> Process:
    """`python -m query` on a free port against `database_url`, once it answers /ready and
    its world map is built."""
    port = launcher.free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "QUERY_HOST": "127.0.0.1",
        "QUERY_PORT": str(port),
        "QUERY_LOG_LEVEL": "WARNING",
        # One client address drives all the load: quotas so high nothing is refused, while the
        # limiter still does its work on every request, as in production.
        **{
            f"{name}_{part}": str(_UNLIMITED)
            for name in ("QUERY_RATE_LIMIT", "RATE_LIMIT_IP_CEILING")
            for part in ("PER_MIN", "BURST")
        },
    }
    if pool_max is not None:
        env["DATABASE_POOL_MAX"] = str(pool_max)
    process = _spawn("query", [sys.executable, "-m", "query"], env, port)
    try:
        wait_for(process, f"http://127.0.0.1:{port}/ready")
        wait_for(process, f"http://127.0.0.1:{port}/v0/devices/world_map", timeout=120)
    except BaseException:
        process.stop()
        raise
    return process


def start_ceiling() -> Process:
    """The bare HTTP server (benchmarks/ceiling_server.py) on a free port."""
    port = launcher.free_port()
    argv = [sys.executable, "-m", "benchmarks.ceiling_server", str(port)]
    process = _spawn("ceiling", argv, os.environ, port)
    try:
        wait_for(process, f"http://127.0.0.1:{port}/empty")
    except BaseException:
        process.stop()
        raise
    return process


def start_nginx(query: Process) -> Process:
    """nginx with the project's site configuration, in front of `query` only."""
    if not Path(launcher.NGINX).exists():
        raise ServiceError(f"nginx is not installed ({launcher.NGINX}): run `make setup`")
    port = launcher.free_port()
    upstream = [f"127.0.0.1:{query.port}"]
    # No gateway runs here: the ingest upstream points at the query service, and no benchmarked
    # request is routed to it.
    argv, cache = launcher.write_nginx(
        STATE_DIR / "nginx", listen=f"127.0.0.1:{port}", ingest=upstream, query=upstream
    )
    process = _spawn("nginx", argv, os.environ, port)
    process.remove_after = cache
    try:
        wait_for(process, f"http://127.0.0.1:{port}/ready")
    except BaseException:
        process.stop()
        raise
    return process


def wait_for(process: Process, url: str, timeout: float = 60.0) -> None:
    """Wait until `url` answers 200; raises ServiceError if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.check()
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise ServiceError(f"{url} did not answer 200 within {timeout:.0f}s: see {process.log}")


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU seconds used so far by the live processes among `pids`."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / _TICKS


def children(pid: int) -> list[int]:
    """The child processes of `pid` (none if it is gone)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]
