"""The processes of the ingest benchmark, started as `make run` starts them (scripts/launcher.py:
`python -m ingest`, `python -m workers`, `python -m query`, settings in the environment) against
the ingest benchmark's database, with rate limits off; and the CPU time and peak memory of them
and of the database's processes.

The gateways share one port with SO_REUSEPORT (INGEST_REUSE_PORT), so the kernel spreads the
load generator's connections over them and no proxy takes a share of the two cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from benchmarks import harness, services
from scripts import launcher

# The cluster-wide processes that work for every database's writes.
_AUXILIARY = ("walwriter", "checkpointer", "background writer")


def _env(dsn: str, extra: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": dsn,
        "RATE_LIMIT_ENABLED": "false",
        "INGEST_LOG_LEVEL": "WARNING",
        "WORKERS_LOG_LEVEL": "WARNING",
        "QUERY_LOG_LEVEL": "WARNING",
        **extra,
    }


def _spawn(name: str, module: str, env: dict[str, str], port: int) -> services.Process:
    services.STATE_DIR.mkdir(parents=True, exist_ok=True)
    log = services.STATE_DIR / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            [sys.executable, "-m", module],
            env=env,
            cwd=harness.ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return services.Process(name, port, popen, log)


@dataclass
class Platform:
    """Gateways on one shared port, workers, and a query service for the probe's reads."""

    gateways: list[services.Process]
    workers: list[services.Process]
    query: services.Process

    @property
    def gateway_port(self) -> int:
        return self.gateways[0].port

    def all(self) -> list[services.Process]:
        return [*self.gateways, *self.workers, self.query]

    def check(self) -> None:
        for process in self.all():
            process.check()

    def stop_gateways(self) -> None:
        for process in self.gateways:
            process.stop(30.0)

    def stop(self) -> None:
        """Gateways first (they commit what they accepted), then workers, then the query."""
        for group in (self.gateways, self.workers, [self.query]):
            for process in group:
                process.stop(30.0)


def start(dsn: str, *, gateways: int, workers: int) -> Platform:
    started: list[services.Process] = []
    try:
        port = launcher.free_port()
        for i in range(gateways):
            env = _env(
                dsn,
                {"INGEST_HOST": "127.0.0.1", "INGEST_PORT": str(port), "INGEST_REUSE_PORT": "true"},
            )
            started.append(_spawn(f"ingest-gateway-{i + 1}", "ingest", env, port))
        for i in range(workers):
            started.append(_spawn(f"ingest-worker-{i + 1}", "workers", _env(dsn, {}), 0))
        query_port = launcher.free_port()
        env = _env(dsn, {"QUERY_HOST": "127.0.0.1", "QUERY_PORT": str(query_port)})
        query = _spawn("ingest-query", "query", env, query_port)
        started.append(query)
        for process in started[:gateways]:
            # Each gateway answers /ready once it listens; through the shared port any of them
            # may answer, so wait until every process is alive and the port answers a few times.
            services.wait_for(process, f"http://127.0.0.1:{port}/ready")
        services.wait_for(query, f"http://127.0.0.1:{query_port}/ready")
        for process in started:
            process.check()
    except BaseException:
        for process in reversed(started):
            process.stop()
        raise
    return Platform(started[:gateways], started[gateways : gateways + workers], query)


def tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    found = [pid]
    for child in services.children(pid):
        found.extend(tree(child))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU seconds of the live processes among `pids`."""
    return services.cpu_seconds(pids)


def peak_rss_mib(pid: int) -> float | None:
    """The peak resident set (VmHWM) of a live process, in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Postgres:
    """The local cluster's processes that work for the benchmark database: its backends (by
    the database name in their process titles, children of the postmaster) and the WAL
    writer, checkpointer and background writer, which serve every database of the cluster."""

    def __init__(self, dsn: str, database: str) -> None:
        with psycopg.connect(dsn) as conn:
            row = conn.execute("SELECT pg_backend_pid()").fetchone()
            assert row is not None
            # Read while connected: the backend exits when the connection closes.
            stat = Path(f"/proc/{row[0]}/stat").read_text().rsplit(")", 1)[1].split()
        self.postmaster = int(stat[1])  # the parent of every backend
        self.database = database
        self.dsn = dsn

    def pids(self) -> tuple[list[int], list[int]]:
        """(the benchmark database's backends, the auxiliary processes)."""
        backends, auxiliary = [], []
        for pid in services.children(self.postmaster):
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if f" {self.database} " in title:
                backends.append(pid)
            elif any(name in title for name in _AUXILIARY):
                auxiliary.append(pid)
        return backends, auxiliary

    def cpu(self) -> float:
        backends, auxiliary = self.pids()
        return cpu_seconds(backends + auxiliary)

    def cpu_by_client(self, clients: dict[str, list[int]]) -> dict[str, float]:
        """CPU seconds of the backends serving each group of client processes (by the client
        port of each backend, and the process `ss` says owns that port); {} without `ss`."""
        ports = _client_ports(urlsplit(self.dsn).port or 5432)
        if ports is None:
            return {}
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid, client_port FROM pg_stat_activity"
                " WHERE datname = current_database() AND client_port IS NOT NULL"
            ).fetchall()
        owner = {pid: name for name, pids in clients.items() for pid in pids}
        groups: dict[str, list[int]] = {name: [] for name in clients}
        for backend, port in rows:
            name = owner.get(ports.get(int(port), -1))
            if name is not None:
                groups[name].append(int(backend))
        return {name: cpu_seconds(backends) for name, backends in groups.items()}

    def wal(self) -> dict[str, float]:
        """The cluster's WAL so far: bytes inserted (exact, from the insert position) and
        full-page images (from pg_stat_wal, which busy backends report up to a second late)."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn, wal_fpi FROM pg_stat_wal"
            ).fetchone()
        assert row is not None
        return {"wal_bytes": float(row[0]), "wal_fpi": float(row[1])}

    def peak_backend_rss_mib(self) -> float | None:
        """The largest peak resident set of a backend (shared buffers it touched included)."""
        sizes = [size for pid in self.pids()[0] if (size := peak_rss_mib(pid)) is not None]
        return max(sizes) if sizes else None


def _client_ports(server_port: int) -> dict[int, int] | None:
    """Local TCP port -> owning process, for connections to `server_port` on this machine."""
    try:
        listing = subprocess.run(
            ["ss", "-tnpH", "state", "established"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    ports: dict[int, int] = {}
    for line in listing.splitlines():
        fields = line.split()
        if len(fields) < 5 or "pid=" not in line:
            continue
        local, peer = fields[2], fields[3]
        if not peer.endswith(f":{server_port}"):
            continue
        pid_text = line.split("pid=", 1)[1].split(",", 1)[0]
        try:
            ports[int(local.rsplit(":", 1)[1])] = int(pid_text)
        except ValueError:
            continue
    return ports
