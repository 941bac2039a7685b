"""Gateway settings from the environment."""

from __future__ import annotations

import pytest

from core import settings
from ingest import config


def test_defaults():
    ingest = config.IngestSettings.from_env({})
    assert (ingest.host, ingest.port) == ("127.0.0.1", 8001)
    assert ingest.max_body_bytes == 10 * 1024 * 1024
    assert ingest.commit_wait_ms == 10.0
    assert ingest.commit_max_readings == 20_000
    assert ingest.commit_concurrency == 2
    assert ingest.max_backlog_readings == 5_000_000
    assert ingest.max_loop_lag_ms == 500.0
    assert ingest.db.embedded


def test_variables_override_defaults():
    ingest = config.IngestSettings.from_env(
        {
            "INGEST_HOST": "0.0.0.0",
            "INGEST_PORT": "9000",
            "INGEST_MAX_BODY_BYTES": "2048",
            "INGEST_COMMIT_WAIT_MS": "0.5",
            "INGEST_CACHE_TTL_S": "30",
            "INGEST_MAX_LOOP_LAG_MS": "0",
            "INGEST_REUSE_PORT": "true",
            "INGEST_LOG_JSON": "1",
            "DATABASE_URL": "postgresql://u:secret@db:5432/x",
        }
    )
    assert (ingest.host, ingest.port, ingest.max_body_bytes) == ("0.0.0.0", 9000, 2048)
    assert (ingest.commit_wait_ms, ingest.cache_ttl_s, ingest.max_loop_lag_ms) == (0.5, 30.0, 0.0)
    assert ingest.reuse_port and ingest.log_json
    assert ingest.db.dsn == "postgresql://u:secret@db:5432/x"
    assert "secret" not in repr(ingest)


def test_a_bad_value_names_its_variable():
    with pytest.raises(settings.SettingError, match="INGEST_COMMIT_CONCURRENCY must be at least 1"):
        config.IngestSettings.from_env({"INGEST_COMMIT_CONCURRENCY": "0"})
