"""Inspect and replay dead letters: `python -m workers.deadletters list | replay ID... | --all`.

A batch lands in `dead_letters` after failing `WORKERS_MAX_ATTEMPTS` times (a sensor with an
equation that does not parse, say). Once the cause is fixed, replaying stages the batch again,
exactly as it was acknowledged, and the workers store it like any other.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from core import settings as core_settings
from storage import batches, pool
from storage.config import DatabaseSettings
from storage.models import DeadLetter


async def pending(db: pool.Pool, limit: int = 1000) -> list[DeadLetter]:
    """Dead letters not replayed yet, oldest first."""
    async with db.acquire() as conn:
        return await batches.dead_letters(conn, limit)


async def replay(db: pool.Pool, letter_ids: Sequence[int]) -> dict[int, int | None]:
    """Stage each dead letter again; maps each id to its new batch id (None: already replayed)."""
    replayed: dict[int, int | None] = {}
    async with db.acquire() as conn:
        for letter_id in letter_ids:
            replayed[letter_id] = await batches.replay(conn, letter_id)
    return replayed


def _describe(letter: DeadLetter) -> str:
    return (
        f"{letter.id:>8}  device {letter.device_id:<8} {letter.n_readings:>6} readings  "
        f"received {letter.received_at:%Y-%m-%d %H:%M:%S}  after {letter.attempts} attempts: "
        f"{letter.error.splitlines()[0][:120]}"
    )


async def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.deadletters", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="show dead letters not replayed yet")
    replaying = commands.add_parser("replay", help="stage dead letters again")
    replaying.add_argument("ids", nargs="*", type=int)
    replaying.add_argument("--all", action="store_true", help="every dead letter not replayed")
    args = parser.parse_args(argv)
    db = await pool.open(DatabaseSettings.from_env(core_settings.environ()), max_size=1)
    try:
        letters = await pending(db)
        if args.command == "list":
            print("\n".join(_describe(letter) for letter in letters) or "no dead letters")
            return 0
        ids = [letter.id for letter in letters] if args.all else args.ids
        if not ids:
            parser.error("name the dead letters to replay, or --all")
        for letter_id, batch_id in (await replay(db, ids)).items():
            outcome = f"staged as batch {batch_id}" if batch_id else "not found or already replayed"
            print(f"dead letter {letter_id}: {outcome}")
        return 0
    finally:
        await pool.close(db, timeout=5)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
