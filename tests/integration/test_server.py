"""The server the tests run on is durable and has TimescaleDB; its edition is detected."""

from __future__ import annotations

from storage import server


async def test_facts_report_durability_and_the_timescaledb_edition(db_pool):
    async with db_pool.acquire() as conn:
        facts = await server.facts(conn)
    assert facts.fsync and facts.synchronous_commit
    assert facts.timescaledb_version is not None
    assert facts.license in {"apache", "timescale"}
    assert "TimescaleDB" in facts.describe()
