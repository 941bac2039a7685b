"""A TCP relay to the test's database that a test can start late or cut, to see what a service
does while its database is out of reach."""

from __future__ import annotations

import asyncio
from typing import Any

from psycopg import conninfo

from scripts import launcher
from storage import config as storage_config


class Proxy:
    """A TCP relay to the database that can be cut (its connections dropped) and restored."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = launcher.free_port()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.relays: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        for writer in list(self.writers):
            writer.close()
        if self.relays:
            await asyncio.wait(self.relays)

    async def _relay(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.relays.add(task)
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.close()
            return
        self.writers |= {client_writer, server_writer}
        try:
            await asyncio.gather(
                self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer)
            )
        finally:
            self.writers -= {client_writer, server_writer}
            self.relays.discard(task)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


def to(database_dsn: str) -> Proxy:
    """A relay to the database of `database_dsn` (not started)."""
    parts = conninfo.conninfo_to_dict(database_dsn)
    return Proxy(str(parts.get("host", "127.0.0.1")), int(str(parts.get("port", 5432))))


def through(database_dsn: str, proxy: Proxy) -> storage_config.DatabaseSettings:
    """Settings that reach the database of `database_dsn` through `proxy`."""
    parts = conninfo.conninfo_to_dict(database_dsn)
    dsn = f"postgresql://{parts['user']}@127.0.0.1:{proxy.port}/{parts['dbname']}"
    return storage_config.DatabaseSettings(
        dsn=dsn, embedded=False, pool_min=1, pool_max=3, command_timeout_s=5
    )
