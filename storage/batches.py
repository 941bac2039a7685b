"""The staging table: batches written by the gateway, claimed and removed by the workers."""

from __future__ import annotations

from collections.abc import Sequence

from storage import errors, packing
from storage.models import Backlog, DeadLetter, StagedBatch
from storage.pool import Connection
from storage.queries import SQL

CHANNEL = "sensorium_batches"


async def stage(conn: Connection, batches: Sequence[tuple[int, bytes, int]]) -> None:
    """Write (device_id, payload, n_readings) batches with one binary COPY, committed on return.

    The caller answers the devices only after this returns: the COPY is its own transaction,
    committed with synchronous_commit on. Raises StorageUnavailable when the database is down.
    """
    body = packing.batches_copy_body(list(batches))
    with errors.translated():
        await conn.copy_to_table(
            "ingest_batches",
            source=memoryview(body),  # type: ignore[arg-type]  # not bytes: asyncpg takes bytes for a file name; stubs omit buffers
            columns=["device_id", "n_readings", "payload"],
            format="binary",
        )


async def claim(conn: Connection, limit: int) -> list[StagedBatch]:
    """Lock up to `limit` batches for this transaction; others skip them."""
    with errors.translated():
        rows = await conn.fetch(SQL["claim_batches"], limit)
    return [StagedBatch(*row) for row in rows]


async def claim_one(conn: Connection, batch_id: int) -> StagedBatch | None:
    """Lock the batch `batch_id` for this transaction, or None if gone or held by another."""
    with errors.translated():
        row = await conn.fetchrow(SQL["claim_batch_by_id"], batch_id)
    return StagedBatch(*row) if row else None


async def delete(conn: Connection, batch_ids: Sequence[int]) -> None:
    """Remove stored batches (in the transaction that stored their readings)."""
    with errors.translated():
        await conn.execute(SQL["delete_batches"], list(batch_ids))


async def record_failure(conn: Connection, batch_id: int, error: str, max_attempts: int) -> bool:
    """Count a failed attempt; returns True when the batch moved to dead_letters."""
    with errors.translated():
        async with conn.transaction():
            attempts = await conn.fetchval(SQL["count_failure"], batch_id, error[:2000])
            if attempts is None or attempts < max_attempts:
                return False
            await conn.fetchval(SQL["move_to_dead_letters"], batch_id)
    return True


async def dead_letters(conn: Connection, limit: int = 100) -> list[DeadLetter]:
    """Dead letters not yet replayed, oldest first."""
    with errors.translated():
        rows = await conn.fetch(SQL["list_dead_letters"], limit)
    return [DeadLetter(*row) for row in rows]


async def replay(conn: Connection, dead_letter_id: int) -> int | None:
    """Stage a dead letter again; returns the new batch id, or None if already replayed."""
    with errors.translated():
        batch_id: int | None = await conn.fetchval(SQL["replay_dead_letter"], dead_letter_id)
    return batch_id


async def backlog(conn: Connection) -> Backlog:
    """How many batches and readings wait in staging."""
    with errors.translated():
        row = await conn.fetchrow(SQL["staging_backlog"])
    assert row is not None
    return Backlog(row["batches"], row["readings"])
