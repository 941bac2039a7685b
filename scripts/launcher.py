"""Runs the whole platform on one machine: database, gateways, workers, query service, nginx.

`make run` uses it through scripts/run.py, and the acceptance tests start and stop it the same
way. Each service is its own process (`python -m ingest | workers | query`); a service process
that dies is restarted, and `stop()` stops them in the order that loses nothing: gateways first
(they commit or refuse what they hold), then the workers (they finish their transaction), then
the query services and nginx.
"""

from __future__ import annotations

import http.client
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from storage import config

logger = logging.getLogger(__name__)

ROOT = config.PROJECT_ROOT
TEMPLATE = ROOT / "deploy" / "nginx" / "sensorium.conf.template"
NGINX = "/usr/sbin/nginx"
_RESTART_LIMIT = 5  # restarts of one process within _RESTART_WINDOW_S before giving up
_RESTART_WINDOW_S = 60.0


class LaunchError(RuntimeError):
    """The platform could not start."""


@dataclass(frozen=True, slots=True)
class Layout:
    """How many processes of each kind, and where they listen."""

    port: int = 8000
    gateways: int = 2
    workers: int = 2
    queries: int = 1
    gateway_base_port: int = 8101
    query_base_port: int = 8201
    state_dir: Path = ROOT / ".local" / "run"

    def gateway_ports(self) -> list[int]:
        return [self.gateway_base_port + i for i in range(self.gateways)]

    def query_ports(self) -> list[int]:
        return [self.query_base_port + i for i in range(self.queries)]


@dataclass
class _Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.running():
            assert self.popen is not None
            self.popen.send_signal(signum)

    def wait(self, timeout: float) -> None:
        if self.popen is None:
            return
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop within %.0fs: killing it", self.name, timeout)
            self.popen.kill()
            self.popen.wait()


class Platform:
    """The running platform; `start()` then `stop()`, or use it as a context manager."""

    def __init__(self, layout: Layout, env: Mapping[str, str], database_url: str | None) -> None:
        self.layout = layout
        self.base_env = dict(env)
        if database_url:
            self.base_env["DATABASE_URL"] = database_url
        self.processes: dict[str, list[_Process]] = {"gateway": [], "worker": [], "query": []}
        self.nginx: _Process | None = None
        self.nginx_cache: Path | None = None
        self.layout.state_dir.mkdir(parents=True, exist_ok=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.layout.port}"

    def __enter__(self) -> Platform:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start every process and wait until each answers; raises LaunchError if one does not."""
        ports = [self.layout.port, *self.layout.gateway_ports(), *self.layout.query_ports()]
        busy = [port for port in ports if _port_open(port)]
        if busy:
            raise LaunchError(f"ports already in use: {busy} (is another Sensorium running?)")
        # nginx spreads a client's requests over the processes of a service: each enforces its
        # share of every rate limit (core/ratelimit.py).
        queries = {"QUERY_RATE_LIMIT_PROCESSES": str(self.layout.queries)}
        gateways = {"INGEST_RATE_LIMIT_PROCESSES": str(self.layout.gateways)}
        try:
            for i, port in enumerate(self.layout.query_ports()):
                self._spawn("query", i, "query", {"QUERY_PORT": str(port), **queries})
            for i in range(self.layout.workers):
                self._spawn("worker", i, "workers", {})
            for i, port in enumerate(self.layout.gateway_ports()):
                self._spawn("gateway", i, "ingest", {"INGEST_PORT": str(port), **gateways})
            for port in [*self.layout.query_ports(), *self.layout.gateway_ports()]:
                self._await_ready(f"http://127.0.0.1:{port}/ready")
            self._start_nginx()
            self._await_ready(f"{self.base_url}/v0/datetime")
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 30.0) -> None:
        """Stop everything in the order that loses nothing acknowledged."""
        try:
            for group in ("gateway", "worker", "query"):
                for process in self.processes[group]:
                    process.signal(signal.SIGTERM)
                for process in self.processes[group]:
                    process.wait(timeout)
            if self.nginx is not None:
                self.nginx.signal(signal.SIGQUIT)
                self.nginx.wait(timeout)
        finally:
            if self.nginx_cache is not None:
                shutil.rmtree(self.nginx_cache, ignore_errors=True)

    def check(self) -> None:
        """Restart any service process that died; raises LaunchError if one keeps dying."""
        for group in self.processes.values():
            for process in group:
                if process.running():
                    continue
                now = time.monotonic()
                process.restarts = [t for t in process.restarts if now - t < _RESTART_WINDOW_S]
                if len(process.restarts) >= _RESTART_LIMIT:
                    raise LaunchError(f"{process.name} keeps dying: see {process.log}")
                code = process.popen.returncode if process.popen else None
                logger.warning("%s exited (%s): restarting it", process.name, code)
                process.restarts.append(now)
                process.start()
        if self.nginx is not None and not self.nginx.running():
            raise LaunchError(f"nginx exited: see {self.nginx.log}")

    def pids(self, group: str) -> list[int]:
        """The process ids of one group (`gateway`, `worker`, `query`)."""
        return [p.popen.pid for p in self.processes[group] if p.popen is not None]

    def restart(self, group: str, index: int) -> None:
        """Start again a process of `group` that was stopped or killed."""
        process = self.processes[group][index]
        if process.popen is not None:
            process.popen.wait()
        process.start()

    def _spawn(self, group: str, index: int, module: str, extra: dict[str, str]) -> None:
        name = f"{group}-{index + 1}"
        env = {**self.base_env, **extra}
        log = self.layout.state_dir / f"{name}.log"
        process = _Process(name, [sys.executable, "-m", module], env, log)
        process.start()
        self.processes[group].append(process)

    def _start_nginx(self) -> None:
        if not Path(NGINX).exists():
            raise LaunchError(f"nginx is not installed ({NGINX}): run `make setup`")
        prefix = self.layout.state_dir / "nginx"
        argv, self.nginx_cache = write_nginx(
            prefix,
            listen=f"127.0.0.1:{self.layout.port}",
            ingest=[f"127.0.0.1:{p}" for p in self.layout.gateway_ports()],
            query=[f"127.0.0.1:{p}" for p in self.layout.query_ports()],
        )
        test = subprocess.run([*argv, "-t"], capture_output=True, text=True, check=False)
        if test.returncode != 0:
            raise LaunchError(f"nginx rejected its configuration:\n{test.stderr}")
        self.nginx = _Process("nginx", argv, dict(os.environ), prefix / "nginx.out")
        self.nginx.start()

    def _await_ready(self, url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for group in self.processes.values():
                for process in group:
                    if not process.running():
                        raise LaunchError(f"{process.name} exited at start: see {process.log}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError, http.client.HTTPException):
                pass
            time.sleep(0.1)
        raise LaunchError(f"{url} did not answer within {timeout:.0f}s")


def write_nginx(
    prefix: Path, *, listen: str, ingest: list[str], query: list[str]
) -> tuple[list[str], Path]:
    """nginx's files for Sensorium under `prefix`: its site (`render_nginx`), its main file and
    a fresh directory for its copy of the world map (`nginx_cache_dir`). Returns the command that
    runs nginx on them, and that directory, to remove once nginx stops."""
    prefix.mkdir(parents=True, exist_ok=True)
    cache = nginx_cache_dir(prefix)
    site = render_nginx(listen=listen, ingest=ingest, query=query, cache_dir=cache)
    (prefix / "sensorium.conf").write_text(site)
    (prefix / "nginx.conf").write_text(NGINX_MAIN.format(prefix=prefix))
    if os.geteuid() == 0:
        shutil.chown(prefix, "nobody")
    conf, errors = str(prefix / "nginx.conf"), str(prefix / "error.log")
    return [NGINX, "-p", str(prefix), "-c", conf, "-e", errors], cache


def render_nginx(listen: str, ingest: list[str], query: list[str], cache_dir: Path) -> str:
    """The nginx site configuration for the given listen address and upstream servers, keeping
    its copy of the world map in `cache_dir`."""
    # A server that refused a connection is skipped for fail_timeout (10 s by default): after
    # all of a service's processes restart, nginx would refuse requests that long while they
    # are already serving. One second keeps the skip useful and the refusals after it short.
    values = {
        "SENSORIUM_LISTEN": listen,
        "INGEST_SERVERS": " ".join(f"server {s} fail_timeout=1s;" for s in ingest),
        "QUERY_SERVERS": " ".join(f"server {s} fail_timeout=1s;" for s in query),
        "SENSORIUM_CACHE_DIR": str(cache_dir),
    }
    text = TEMPLATE.read_text()
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return text


def nginx_cache_dir(prefix: Path) -> Path:
    """A fresh, empty directory for nginx's copy of the world map; remove it once nginx stops.

    Under nginx's prefix, except as root: nginx's workers then run as nobody, who must reach it,
    and the prefix's parents may be private to root (pytest's temporary directories are), so it
    is a directory of its own under the system's temporary one, owned by nobody.
    """
    if os.geteuid() != 0:
        cache = prefix / "cache"
        shutil.rmtree(cache, ignore_errors=True)  # an earlier run's copy is not this one's
        cache.mkdir(parents=True)
        return cache
    cache = Path(tempfile.mkdtemp(prefix="sensorium-nginx-cache-"))
    shutil.chown(cache, "nobody")
    return cache


def free_port(count: int = 1) -> int:
    """The first of `count` consecutive TCP ports on 127.0.0.1 that nothing uses now, chosen
    below the kernel's ephemeral range.

    A port the kernel hands out for outgoing connections (bind to port 0 picks one of those too)
    is unsafe for a server that has not started yet: a client polling it can be given that very
    port as its own and connect to itself, reading its own request back as the answer and
    holding the port so the server cannot bind it.
    """
    low = _ephemeral_low()
    rng = random.SystemRandom()
    for _ in range(200):
        first = rng.randrange(max(1024, low - 20_000), low - count)
        if all(_bindable(port) for port in range(first, first + count)):
            return first
    raise LaunchError(f"no {count} free consecutive ports below {low}")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


NGINX_MAIN = """\
# Written by Sensorium at every start (scripts/launcher.py).
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/sensorium.conf;
}}
"""
