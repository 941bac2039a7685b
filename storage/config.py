"""Where the database is: an explicit server (DATABASE_URL or PG*) or the embedded cluster."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from core import settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EMBEDDED_DIR = PROJECT_ROOT / ".local" / "pg"
EMBEDDED_PORT = 54329
EMBEDDED_USER = "sensorium"
EMBEDDED_DATABASE = "sensorium"
_LIBPQ_VARIABLES = ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE")


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """How to reach the database; `dsn` is None when libpq's PG* variables say it."""

    dsn: str | None = field(repr=False)
    embedded: bool
    pool_min: int = 2
    pool_max: int = 10
    command_timeout_s: float = 60.0
    # A server with fsync or synchronous_commit off may serve only a throwaway instance.
    throwaway: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, pool_max: int = 10) -> DatabaseSettings:
        """DATABASE_URL, else the PG* variables, else the embedded cluster's address."""
        pool = settings.get_int(env, "DATABASE_POOL_MAX", pool_max, minimum=1)
        timeout = settings.get_float(env, "DATABASE_COMMAND_TIMEOUT_S", 60.0, minimum=0.1)
        throwaway = settings.get_bool(env, "DATABASE_THROWAWAY", False)
        if env.get("DATABASE_URL"):
            dsn, embedded = env.get("DATABASE_URL"), False
        elif any(env.get(name) for name in _LIBPQ_VARIABLES):
            dsn, embedded = None, False
        else:
            dsn, embedded = embedded_dsn(), True
        return cls(dsn, embedded, min(2, pool), pool, timeout, throwaway)

    @property
    def display(self) -> str:
        """The address without any password, for logs."""
        if self.dsn is None:
            return "the server named by the PG* variables"
        scheme, _, rest = self.dsn.partition("://")
        credentials, at, host = rest.rpartition("@")
        if at and ":" in credentials:
            credentials = credentials.split(":", 1)[0] + ":***"
        return f"{scheme}://{credentials}{at}{host}" if at else self.dsn


def embedded_dsn(database: str = EMBEDDED_DATABASE, port: int = EMBEDDED_PORT) -> str:
    """The address of a database in the embedded cluster."""
    return f"postgresql://{EMBEDDED_USER}@127.0.0.1:{port}/{database}"
