"""The schema: migrations apply once, readings is a hypertable with its unique series index."""

from __future__ import annotations

import psycopg

from storage import migrate


def test_migrations_are_recorded_and_not_reapplied(database_dsn):
    assert migrate.apply(database_dsn) == []
    with psycopg.connect(database_dsn) as conn:
        versions = [
            row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")
        ]
    assert versions == [version for version, _ in migrate.available()]


def test_readings_is_a_hypertable_without_the_default_time_index(database_dsn):
    with psycopg.connect(database_dsn) as conn:
        hypertables = conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables"
        ).fetchall()
        conn.execute("INSERT INTO readings VALUES ('2024-01-01T00:00:00Z', 1, 12, 1.0, 2.0)")
        indexes = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'readings'"
        ).fetchall()
    assert ("readings",) in hypertables
    assert [row[0] for row in indexes] == [
        "CREATE UNIQUE INDEX readings_series_time_key ON public.readings "
        'USING btree (device_id, sensor_id, "time")'
    ]


def test_staged_payloads_are_compressed_with_lz4(database_dsn):
    payload = bytes(range(256)) * 16  # 4 KiB, past the size at which a value is compressed
    with psycopg.connect(database_dsn) as conn:
        conn.execute(
            "INSERT INTO ingest_batches (device_id, n_readings, payload) VALUES (1, 1, %s)",
            (payload,),
        )
        method, stored = conn.execute(
            "SELECT pg_column_compression(payload), payload FROM ingest_batches"
        ).fetchone()
    assert (method, stored) == ("lz4", payload)
