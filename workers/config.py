"""Worker settings, read once from the environment by `__main__`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core import settings
from storage.config import DatabaseSettings


# Not slots=True: the defaults must stay readable as class attributes for from_env.
@dataclass(frozen=True)
class WorkerSettings:
    """How a worker process claims, retries and stops."""

    db: DatabaseSettings
    # A claim takes up to this many batches, fewer when they would exceed max_readings_per_claim.
    max_batches_per_claim: int = 500
    max_readings_per_claim: int = 20_000
    # A batch that fails this many times on its own moves to dead_letters.
    max_attempts: int = 5
    # Woken by a notification after a claim that was not full, gather this long before claiming:
    # at moderate rates a claim then holds many batches, and its fixed cost (a dozen statements
    # and a commit) is spread over them, for that much more lag.
    claim_wait_ms: float = 50.0
    # Without a notification, look for batches this often (crashed workers' claims, lost NOTIFY).
    poll_interval_s: float = 1.0
    # On SIGTERM, the transaction in flight gets this long to commit, then is rolled back.
    shutdown_timeout_s: float = 30.0
    # The sensor catalogue is reloaded this often, and whenever a reading names an unknown sensor.
    catalogue_refresh_s: float = 60.0
    log_level: str = "INFO"
    log_json: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WorkerSettings:
        """Settings from WORKERS_* and the database variables; raises SettingError naming a bad
        variable."""
        return cls(
            # One connection claims; the LISTEN connection is outside the pool.
            db=DatabaseSettings.from_env(env, pool_max=2),
            max_batches_per_claim=settings.get_int(
                env, "WORKERS_MAX_BATCHES_PER_CLAIM", cls.max_batches_per_claim, minimum=1
            ),
            max_readings_per_claim=settings.get_int(
                env, "WORKERS_MAX_READINGS_PER_CLAIM", cls.max_readings_per_claim, minimum=1
            ),
            max_attempts=settings.get_int(env, "WORKERS_MAX_ATTEMPTS", cls.max_attempts, minimum=1),
            claim_wait_ms=settings.get_float(env, "WORKERS_CLAIM_WAIT_MS", cls.claim_wait_ms),
            poll_interval_s=settings.get_float(
                env, "WORKERS_POLL_INTERVAL_S", cls.poll_interval_s, minimum=0.01
            ),
            shutdown_timeout_s=settings.get_float(
                env, "WORKERS_SHUTDOWN_TIMEOUT_S", cls.shutdown_timeout_s
            ),
            catalogue_refresh_s=settings.get_float(
                env, "WORKERS_CATALOGUE_REFRESH_S", cls.catalogue_refresh_s, minimum=0.1
            ),
            log_level=settings.get_str(env, "WORKERS_LOG_LEVEL", cls.log_level).upper(),
            log_json=settings.get_bool(env, "WORKERS_LOG_JSON", cls.log_json),
        )
