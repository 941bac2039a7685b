"""Forward-only migrations: apply each `migrations/NNNN_name.sql` once, in order.

Applied versions are recorded in `schema_migrations`; an advisory lock keeps two processes
starting together from applying the same file twice.
"""

from __future__ import annotations

import logging
from importlib import resources

import psycopg

logger = logging.getLogger(__name__)

_LOCK_ID = 0x5E45_0001


def available() -> list[tuple[str, str]]:
    """Every migration as (version, SQL text), in order."""
    folder = resources.files("storage") / "migrations"
    names = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), (folder / name).read_text()) for name in names]


def apply(dsn: str | None) -> list[str]:
    """Apply the pending migrations to the database at `dsn`; returns the versions applied."""
    applied_now: list[str] = []
    with psycopg.connect(dsn or "", autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, text in available():
                if version in done:
                    continue
                logger.info("applying migration %s", version, extra={"action": "migrate"})
                with conn.transaction():
                    conn.execute(text.encode())
                    conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
                applied_now.append(version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied_now


if __name__ == "__main__":
    # `python -m storage.migrate`: apply pending migrations to the configured database.
    from core import logging as core_logging
    from core import settings as core_settings
    from storage.config import DatabaseSettings

    core_logging.setup("INFO", process="migrate")
    applied = apply(DatabaseSettings.from_env(core_settings.environ()).dsn)
    logger.info("applied %d migrations: %s", len(applied), ", ".join(applied) or "none pending")
