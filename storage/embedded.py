"""The embedded TimescaleDB cluster: a project-local PostgreSQL 15 on a loopback port of its own.

Created on first use under `.local/pg` with `initdb`, configured for durability (fsync and
synchronous_commit on) and for TimescaleDB, then started with `pg_ctl`. PostgreSQL refuses to run
as root, so when we are root the cluster belongs to, and runs as, the `postgres` user.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from storage import config, flusher, writeback

logger = logging.getLogger(__name__)

PG_BIN = Path("/usr/lib/postgresql/15/bin")
_SETUP_HINT = (
    "run `make setup` (scripts/install-system.sh) to install PostgreSQL 15 and TimescaleDB"
)


class EmbeddedError(RuntimeError):
    """The embedded database could not be set up or started."""


@dataclass(frozen=True, slots=True)
class Cluster:
    """A PostgreSQL cluster in `root` listening on 127.0.0.1:`port`."""

    root: Path = config.EMBEDDED_DIR
    port: int = config.EMBEDDED_PORT

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_file(self) -> Path:
        return self.root / "postgresql.log"

    def dsn(self, database: str = config.EMBEDDED_DATABASE) -> str:
        """The address of `database` in this cluster."""
        return config.embedded_dsn(database, self.port)

    def ensure_running(self) -> None:
        """Create the cluster if needed, start it if stopped, and wait until it accepts queries.

        Raises EmbeddedError with the server's log tail when it cannot start.
        """
        _check_installed()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self._write_settings()
        if not self.is_running():
            self._start()
        self._create_database(config.EMBEDDED_DATABASE)
        self._ensure_flusher()

    def is_running(self) -> bool:
        """Whether the server of this data directory is up."""
        if not (self.data_dir / "PG_VERSION").exists():
            return False
        result = self._run(
            [str(PG_BIN / "pg_ctl"), "status", "-D", str(self.data_dir)], check=False
        )
        return result.returncode == 0

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: roll back open transactions; `immediate`: crash-stop)."""
        if self.is_running():
            self._run([str(PG_BIN / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", mode, "-w"])

    def start(self) -> None:
        """Start a stopped server and wait until it accepts connections."""
        if not self.is_running():
            self._start()
        self._ensure_flusher()

    def recreate_database(self, name: str) -> None:
        """Drop the database `name` (all its data) and create it empty."""
        self._psql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._psql("postgres", f'CREATE DATABASE "{name}"')

    # -- steps ---------------------------------------------------------------------------------

    def _initdb(self) -> None:
        logger.info(
            "creating the embedded cluster in %s", self.data_dir, extra={"action": "initdb"}
        )
        self.root.mkdir(parents=True, exist_ok=True)
        self._hand_over(self.root)
        if os.geteuid() == 0 and self._run(["test", "-w", str(self.root)], check=False).returncode:
            raise EmbeddedError(
                f"the postgres user, who runs the server when you are root, cannot reach "
                f"{self.root}: make its parent directories traversable (chmod o+x) or put the "
                "project somewhere they are"
            )
        self._run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                config.EMBEDDED_USER,
                "--auth-local=trust",
                "--auth-host=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]
        )

    def _write_settings(self) -> None:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self._hand_over(self.socket_dir)
        conf = self.data_dir / "postgresql.auto.conf"
        text = (
            "# Written by storage/embedded.py; edits are overwritten at start.\n"
            + "\n".join(f"{k} = '{v}'" for k, v in server_settings(self).items())
            + "\n"
        )
        if not conf.exists() or conf.read_text() != text:
            conf.write_text(text)
            self._hand_over(conf)
            if self.is_running():
                logger.warning("embedded settings changed: restarting the cluster")
                self._run(
                    [
                        str(PG_BIN / "pg_ctl"),
                        "restart",
                        "-D",
                        str(self.data_dir),
                        "-w",
                        "-l",
                        str(self.log_file),
                        "-t",
                        "120",
                    ]
                )

    def _start(self) -> None:
        logger.info(
            "starting the embedded cluster on 127.0.0.1:%d",
            self.port,
            extra={"action": "cluster_start"},
        )
        if _port_in_use(self.port):
            raise EmbeddedError(
                f"port {self.port} is taken by another server (another Sensorium checkout's "
                "database? run `make db-down` there), so this checkout's database cannot start"
            )
        self.log_file.touch()
        self._hand_over(self.log_file)
        result = self._run(
            [
                str(PG_BIN / "pg_ctl"),
                "start",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                "120",
            ],
            check=False,
        )
        if result.returncode != 0:
            tail = "\n".join(self.log_file.read_text(errors="replace").splitlines()[-15:])
            raise EmbeddedError(f"the embedded database did not start:\n{result.stderr}\n{tail}")

    def _ensure_flusher(self) -> None:
        """Where this machine's writeback makes bursts, have the cluster's new pages written
        back every second by the helper of `storage.flusher` (one per running cluster)."""
        settings = writeback.read()
        if writeback.bursts(settings, memory_bytes()) and flusher.start(self.root, self.data_dir):
            logger.info(
                "started the writeback helper: with this machine's %s, the cluster's new pages "
                "would be written back in bursts that stall commits (storage/flusher.py, log in "
                "%s)",
                writeback.describe(settings),
                self.root / flusher.LOG_NAME,
                extra={"action": "flusher_started"},
            )

    def _create_database(self, name: str) -> None:
        query = f"SELECT 1 FROM pg_database WHERE datname = '{name}'"
        found = self._psql("postgres", query, check=False)
        for _ in range(50):
            found = self._psql("postgres", query, check=False)
            if found.returncode == 0:
                break
            time.sleep(0.1)  # the server may still be finishing recovery after pg_ctl returned
        if found.stdout.strip() != "1":
            self._psql("postgres", f'CREATE DATABASE "{name}"')

    def _psql(
        self, database: str, command: str, *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = [
            str(PG_BIN / "psql"),
            "-X",
            "-q",
            "-tA",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            config.EMBEDDED_USER,
            "-d",
            database,
            "-c",
            command,
        ]
        return self._run(argv, check=check)

    def _hand_over(self, path: Path) -> None:
        """When running as root, give `path` to the postgres user, who runs the server."""
        if os.geteuid() == 0:
            account = _postgres_account()
            os.chown(path, account.pw_uid, account.pw_gid)

    def _run(self, argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, cwd="/", check=False)
        if check and result.returncode != 0:
            raise EmbeddedError(f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}")
        return result


def memory_bytes() -> int:
    """This machine's memory."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def server_settings(cluster: Cluster) -> dict[str, str]:
    """The embedded server's settings: durable, sized to this machine, TimescaleDB loaded."""
    memory = memory_bytes()
    shared_mb = max(128, min(memory // 4, 8 << 30) >> 20)
    return {
        "listen_addresses": "127.0.0.1",
        "port": str(cluster.port),
        "unix_socket_directories": str(cluster.socket_dir),
        "shared_preload_libraries": "timescaledb",
        # Acknowledged means durable: never run the embedded store without these.
        "fsync": "on",
        "synchronous_commit": "on",
        "full_page_writes": "on",
        "max_connections": "300",
        "shared_buffers": f"{shared_mb}MB",
        "effective_cache_size": f"{max(256, memory // 2 >> 20)}MB",
        "work_mem": "16MB",
        "maintenance_work_mem": "256MB",
        "wal_buffers": "64MB",
        "max_wal_size": "8GB",
        "checkpoint_timeout": "15min",
        "checkpoint_completion_target": "0.9",
        "wal_compression": "lz4",
        "jit": "off",
        "timescaledb.telemetry_level": "off",
        # The Apache-2 edition has no background policies, and the job scheduler's connection to
        # every database would block CREATE DATABASE ... TEMPLATE, which the tests use.
        "timescaledb.max_background_workers": "0",
        "log_min_messages": "warning",
        "log_line_prefix": "%m [%p] %q%u@%d ",
    }


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _check_installed() -> None:
    if not (PG_BIN / "postgres").exists():
        raise EmbeddedError(f"PostgreSQL 15 is not installed ({PG_BIN}): {_SETUP_HINT}")
    pkglib = Path("/usr/lib/postgresql/15/lib")
    if not (pkglib / "timescaledb.so").exists():
        raise EmbeddedError(f"the TimescaleDB extension is not installed: {_SETUP_HINT}")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        raise EmbeddedError("running as root needs `runuser` (util-linux) to start PostgreSQL")


def _postgres_account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise EmbeddedError(
            f"no `postgres` user to run the server as root: {_SETUP_HINT}"
        ) from None
