"""Facts about the database server: its TimescaleDB edition and durability settings."""

from __future__ import annotations

from typing import NamedTuple

from storage import errors
from storage.pool import Connection
from storage.queries import SQL


class ServerFacts(NamedTuple):
    """What the services need to know about the server they use."""

    server_version: str
    timescaledb_version: str | None
    license: str | None
    fsync: bool
    synchronous_commit: bool

    @property
    def full_edition(self) -> bool:
        """Whether the Timescale-License edition (compression, continuous aggregates) is there."""
        return self.license == "timescale"

    def describe(self) -> str:
        edition = "Timescale-License" if self.full_edition else "Apache-2"
        return (
            f"PostgreSQL {self.server_version}, TimescaleDB {self.timescaledb_version} "
            f"({edition} edition), fsync={'on' if self.fsync else 'off'}, "
            f"synchronous_commit={'on' if self.synchronous_commit else 'off'}"
        )


async def facts(conn: Connection) -> ServerFacts:
    """The server's version, TimescaleDB edition and durability settings."""
    with errors.translated():
        row = await conn.fetchrow(SQL["server_facts"])
    assert row is not None
    return ServerFacts(
        server_version=row["server_version"],
        timescaledb_version=row["timescaledb_version"],
        license=row["license"],
        fsync=row["fsync"] == "on",
        synchronous_commit=row["synchronous_commit"] not in ("off", "local"),
    )
