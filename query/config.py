"""The query service's settings, read once from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from core import ratelimit, settings
from query.accounts_config import AccountSettings
from storage.config import DatabaseSettings


# Not slotted: from_env reads the defaults as class attributes.
@dataclass(frozen=True)
class QuerySettings:
    """Where the query service listens and how it answers."""

    db: DatabaseSettings
    host: str = "127.0.0.1"
    port: int = 8002
    reuse_port: bool = False
    online_window_s: int = 600
    # Device documents kept in memory while their changes are followed (query/document_cache.py):
    # about 7 KB each with 10 sensors; 0 reads every document from the database.
    document_cache_entries: int = 5000
    document_cache_ttl_s: float = 300.0
    worldmap_proxy_cache_s: int = 1
    shutdown_timeout_s: float = 10.0
    log_level: str = "INFO"
    log_json: bool = False
    rate_limits: ratelimit.RateLimitSettings = ratelimit.QUERY_LIMITS
    accounts: AccountSettings = field(default_factory=AccountSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> QuerySettings:
        """Settings from QUERY_* variables and the database variables."""
        return cls(
            db=DatabaseSettings.from_env(env, pool_max=10),
            host=settings.get_str(env, "QUERY_HOST", cls.host),
            port=settings.get_int(env, "QUERY_PORT", cls.port, minimum=1),
            reuse_port=settings.get_bool(env, "QUERY_REUSE_PORT", cls.reuse_port),
            online_window_s=settings.get_int(env, "QUERY_ONLINE_WINDOW_S", cls.online_window_s, 1),
            document_cache_entries=settings.get_int(
                env, "QUERY_DOCUMENT_CACHE_ENTRIES", cls.document_cache_entries, 0
            ),
            document_cache_ttl_s=settings.get_float(
                env, "QUERY_DOCUMENT_CACHE_TTL_S", cls.document_cache_ttl_s, 1.0
            ),
            worldmap_proxy_cache_s=settings.get_int(
                env, "QUERY_WORLDMAP_PROXY_CACHE_S", cls.worldmap_proxy_cache_s, 1
            ),
            shutdown_timeout_s=settings.get_float(
                env, "QUERY_SHUTDOWN_TIMEOUT_S", cls.shutdown_timeout_s
            ),
            log_level=settings.get_str(env, "QUERY_LOG_LEVEL", cls.log_level),
            log_json=settings.get_bool(env, "QUERY_LOG_JSON", cls.log_json),
            rate_limits=ratelimit.RateLimitSettings.from_env(
                env, prefix="QUERY", default_quota=ratelimit.QUERY_LIMITS.quota
            ),
            accounts=AccountSettings.from_env(env),
        )
