"""The ingest benchmark's database and readings: a fleet of SCK 2.1 devices with device tokens,
in a database of its own, and the grid of readings they post.

The database (`<benchmark database>_ingest`, `sensorium_bench_ingest` by default) is made fresh
at every run: the ingest benchmark writes millions of readings, and every figure (the ceiling
included) is measured from an empty `readings` hypertable. Devices are inserted directly, each
with its kit's components (as after its first post) and a token made and hashed by
core/tokens.py; one more device is the probe whose readings are timed until they can be queried.

Readings are laid on a grid shared by the COPY ceiling and the load generator: request `j` of a
stream belongs to device `1 + j % devices`, which posts its `seq = j // devices`-th request,
holding timestamps `seq * per_request + i` (i < per_request) spaced `spacing_us` apart from the
stream's base, each with the kit's 10 sensors. No reading is ever posted twice, so every
acknowledged reading must be stored exactly once.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import numpy.typing as npt
import orjson
import psycopg
from psycopg import sql

from benchmarks import dataset
from core import tokens
from storage import migrate

logger = logging.getLogger(__name__)

SENSOR_IDS = dataset.SENSOR_IDS  # SCK 2.1: the 10 sensors a kit posts
PROBE_SENSOR = 55  # temp
SPACING_US = 10_000_000  # 10 s between a device's timestamps
DAY_US = 86_400_000_000
_LEVEL = np.array([80.0, 55.0, 20.0, 55.0, 101.3, 12.0, 18.0, 8.0, 450.0, 120.0])


@dataclass(frozen=True, slots=True)
class Fleet:
    """The devices made for a run: ids 1..devices with their tokens, and the probe device."""

    dsn: str
    database: str
    tokens: list[str]  # tokens[i] is device i + 1's
    probe_id: int
    probe_token: str
    made_s: float

    @property
    def devices(self) -> int:
        return len(self.tokens)


def database_dsn(server_dsn: str, name: str) -> str:
    """`server_dsn` with its database replaced by `name`."""
    parts = urlsplit(server_dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


_USER = """
INSERT INTO users (username, email, city, country_code)
VALUES ('bench_ingest', 'bench_ingest@sensorium.invalid', 'Barcelona', 'ES')
RETURNING id
"""

_DEVICES = """
INSERT INTO devices (id, owner_id, name, kit_id, mac_address, latitude, longitude, exposure,
                     device_token_hash, hardware_version)
SELECT i, %(owner)s, 'Ingest bench device ' || i, %(kit)s,
       '06:' || lpad(to_hex((i >> 24) & 255), 2, '0') || ':'
            || lpad(to_hex((i >> 16) & 255), 2, '0') || ':' || lpad(to_hex((i >> 8) & 255), 2, '0')
            || ':' || lpad(to_hex(i & 255), 2, '0') || ':00',
       -60 + 130 * ((i * 0.618033988749895) - floor(i * 0.618033988749895)),
       -180 + 360 * ((i * 0.754877666246693) - floor(i * 0.754877666246693)),
       'outdoor', h, '2.1'
  FROM unnest(%(hashes)s::bytea[]) WITH ORDINALITY AS t(h, i)
"""

_COMPONENTS = """
INSERT INTO components (device_id, sensor_id, key)
SELECT d.id, ks.sensor_id, ks.key
  FROM devices d JOIN kit_sensors ks ON ks.kit_id = d.kit_id
 ORDER BY d.id, ks.sensor_id
"""


def make(server_dsn: str, database: str, devices: int) -> Fleet:
    """A fresh database `database` with `devices` devices (ids 1..devices) and a probe device."""
    started = time.monotonic()
    drop(server_dsn, database)
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    dsn = database_dsn(server_dsn, database)
    migrate.apply(dsn)
    plain = [tokens.new_token() for _ in range(devices + 1)]
    with psycopg.connect(dsn) as conn:
        row = conn.execute(_USER).fetchone()
        assert row is not None
        conn.execute(
            _DEVICES,
            {
                "owner": row[0],
                "kit": dataset.KIT_ID,
                "hashes": [tokens.hash_token(token) for token in plain],
            },
        )
        conn.execute(_COMPONENTS)
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('devices', 'id'), (SELECT max(id) FROM devices))"
        )
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return Fleet(
        dsn=dsn,
        database=database,
        tokens=plain[:devices],
        probe_id=devices + 1,
        probe_token=plain[devices],
        made_s=time.monotonic() - started,
    )


@contextlib.contextmanager
def exclusive(server_dsn: str, database: str) -> Iterator[None]:
    """Hold the server's advisory lock of `database` for the duration: a second benchmark run
    on the same server waits for the first to finish with the database rather than dropping
    it under it (and they would only slow each other down anyway)."""
    digest = hashlib.sha256(f"sensorium-bench:{database}".encode()).digest()
    key = int.from_bytes(digest[:8], signed=True)
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        if not (row and row[0]):
            logger.warning("another benchmark run is using %s: waiting for it", database)
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


def drop(server_dsn: str, database: str) -> None:
    with psycopg.connect(server_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )


def base_us(offset_days: int) -> int:
    """The start of a stream's grid: midnight 60 days ago, plus `offset_days` days, so streams
    never overlap and every timestamp is in the past."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = midnight - timedelta(days=60 - offset_days)
    return int(start.timestamp()) * 1_000_000


@dataclass(frozen=True, slots=True)
class Grid:
    """Readings of a stream of requests (see the module docstring)."""

    devices: int
    per_request: int  # timestamps per request; each has the 10 sensors
    base_us: int
    spacing_us: int = SPACING_US

    @property
    def readings_per_request(self) -> int:
        return self.per_request * len(SENSOR_IDS)

    def rows(
        self, first: int, count: int
    ) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int32], npt.NDArray[np.float64]
    ]:
        """Times (µs), device ids, sensor ids and values of requests first..first+count."""
        requests = np.arange(first, first + count, dtype=np.int64)
        devices = 1 + requests % self.devices
        slots = (requests // self.devices)[:, None] * self.per_request + np.arange(self.per_request)
        n_sensors = len(SENSOR_IDS)
        times = np.repeat((self.base_us + slots * self.spacing_us).ravel(), n_sensors)
        device_ids = np.repeat(devices, self.per_request * n_sensors)
        sensor_index = np.tile(np.arange(n_sensors), count * self.per_request)
        sensor_ids = np.asarray(SENSOR_IDS, dtype=np.int32)[sensor_index]
        values = _LEVEL[sensor_index] + (device_ids % 97 + times // self.spacing_us % 13) * 0.01
        return times, device_ids, sensor_ids, values


def sensor_blocks(count: int = 16) -> list[bytes]:
    """Pre-encoded `sensors` arrays of one timestamp (the 10 sensors by id, plausible values),
    as the load generator splices them into bodies."""
    blocks = []
    for k in range(count):
        entries = [
            {"id": sensor_id, "value": round(float(level) + 0.37 * k + 0.01 * i, 2)}
            for i, (sensor_id, level) in enumerate(zip(SENSOR_IDS, _LEVEL, strict=True))
        ]
        blocks.append(orjson.dumps(entries))
    return blocks
