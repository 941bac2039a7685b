"""Worker settings from the environment: defaults, WORKERS_* overrides, bad values named."""

from __future__ import annotations

import pytest

from core.settings import SettingError
from workers.config import WorkerSettings


def test_defaults():
    settings = WorkerSettings.from_env({})
    assert (settings.max_batches_per_claim, settings.max_readings_per_claim) == (500, 20_000)
    assert (settings.max_attempts, settings.poll_interval_s) == (5, 1.0)
    assert (settings.log_level, settings.log_json) == ("INFO", False)
    assert settings.db.pool_max == 2
    assert settings.claim_wait_ms == 50.0


def test_overrides():
    settings = WorkerSettings.from_env(
        {
            "WORKERS_MAX_BATCHES_PER_CLAIM": "50",
            "WORKERS_MAX_READINGS_PER_CLAIM": "5000",
            "WORKERS_MAX_ATTEMPTS": "3",
            "WORKERS_POLL_INTERVAL_S": "0.5",
            "WORKERS_CLAIM_WAIT_MS": "0",
            "WORKERS_SHUTDOWN_TIMEOUT_S": "10",
            "WORKERS_CATALOGUE_REFRESH_S": "30",
            "WORKERS_LOG_LEVEL": "debug",
            "WORKERS_LOG_JSON": "true",
            "DATABASE_URL": "postgresql://someone:secret@db/sensorium",
        }
    )
    assert settings.max_batches_per_claim == 50
    assert settings.max_readings_per_claim == 5000
    assert settings.max_attempts == 3
    assert settings.poll_interval_s == 0.5
    assert settings.claim_wait_ms == 0
    assert settings.shutdown_timeout_s == 10
    assert settings.catalogue_refresh_s == 30
    assert (settings.log_level, settings.log_json) == ("DEBUG", True)
    assert settings.db.dsn == "postgresql://someone:secret@db/sensorium"
    assert "secret" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WORKERS_MAX_ATTEMPTS", "0"),
        ("WORKERS_MAX_BATCHES_PER_CLAIM", "many"),
        ("WORKERS_POLL_INTERVAL_S", "0"),
        ("WORKERS_LOG_JSON", "perhaps"),
    ],
)
def test_bad_values_name_their_variable(name, value):
    with pytest.raises(SettingError, match=name):
        WorkerSettings.from_env({name: value})
