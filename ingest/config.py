"""The gateway's settings, read once from the environment by `__main__`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core import ratelimit, settings
from storage.config import DatabaseSettings

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class IngestSettings:
    """Where the gateway listens and how it commits, bounds and caches."""

    db: DatabaseSettings
    host: str = "127.0.0.1"
    port: int = 8001
    reuse_port: bool = False
    # Request bodies, after gzip decompression.
    max_body_bytes: int = 10 * MIB
    # Group commit: gather up to this long or this many readings, with this many COPYs in flight.
    # Each COPY and its commit cost the gateway and PostgreSQL about as much as handling two or
    # three 100-reading requests, so a group of several requests pays for itself many times over
    # in readings/s; the wait is bought with that much acknowledgement latency.
    commit_wait_ms: float = 10.0
    commit_max_readings: int = 20_000
    commit_concurrency: int = 2
    # Backpressure: readings waiting in this process, and readings waiting in staging.
    max_pending_readings: int = 500_000
    max_backlog_readings: int = 5_000_000
    backlog_poll_ms: float = 500.0
    # Short of CPU: posts are refused while the event loop runs timers this late, several in a
    # row (0: never).
    max_loop_lag_ms: float = 500.0
    retry_after_s: int = 1
    # Every database operation of a request (look-up or staging) ends within this time.
    db_timeout_s: float = 5.0
    # Devices and token holders: kept this long while the gateway listens for changes to them
    # (each change drops its entries at once), and at most cache_unwatched_ttl_s while it does not.
    cache_ttl_s: float = 300.0
    cache_unwatched_ttl_s: float = 10.0
    cache_max_entries: int = 100_000
    shutdown_timeout_s: float = 30.0
    log_level: str = "INFO"
    log_json: bool = False
    # Readings posts per device (and credential), and every request per client IP.
    rate_limits: ratelimit.RateLimitSettings = ratelimit.INGEST_LIMITS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> IngestSettings:
        """Settings from `INGEST_*` variables (and the database's), defaults for what is unset."""
        default: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(cls)}

        def num(name: str, minimum: float = 0.0) -> float:
            return settings.get_float(env, f"INGEST_{name.upper()}", default[name], minimum)

        def whole(name: str, minimum: int = 0) -> int:
            return settings.get_int(env, f"INGEST_{name.upper()}", default[name], minimum)

        return cls(
            db=DatabaseSettings.from_env(env),
            host=settings.get_str(env, "INGEST_HOST", default["host"]),
            port=whole("port"),
            reuse_port=settings.get_bool(env, "INGEST_REUSE_PORT", default["reuse_port"]),
            max_body_bytes=whole("max_body_bytes", 1024),
            commit_wait_ms=num("commit_wait_ms"),
            commit_max_readings=whole("commit_max_readings", 1),
            commit_concurrency=whole("commit_concurrency", 1),
            max_pending_readings=whole("max_pending_readings", 1),
            max_backlog_readings=whole("max_backlog_readings"),
            backlog_poll_ms=num("backlog_poll_ms", 10.0),
            max_loop_lag_ms=num("max_loop_lag_ms"),
            retry_after_s=whole("retry_after_s", 1),
            db_timeout_s=num("db_timeout_s", 0.1),
            cache_ttl_s=num("cache_ttl_s"),
            cache_unwatched_ttl_s=num("cache_unwatched_ttl_s"),
            cache_max_entries=whole("cache_max_entries", 1),
            shutdown_timeout_s=num("shutdown_timeout_s"),
            log_level=settings.get_str(env, "INGEST_LOG_LEVEL", default["log_level"]),
            log_json=settings.get_bool(env, "INGEST_LOG_JSON", default["log_json"]),
            rate_limits=ratelimit.RateLimitSettings.from_env(
                env, prefix="INGEST_DEVICE", default_quota=ratelimit.INGEST_LIMITS.quota
            ),
        )
