"""Run one worker process: `python -m workers` (settings from WORKERS_* and PG*/DATABASE_URL)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import uvloop

from core import logging as core_logging
from core import process
from core import settings as core_settings
from workers import config, worker

logger = logging.getLogger("workers")


async def main(settings: config.WorkerSettings) -> int:
    """Run a worker until SIGTERM or SIGINT; the exit status (1 if it failed)."""
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    try:
        await worker.Worker(settings).run(stop)
    except Exception:
        logger.exception("worker failed", extra={"action": "worker_failed"})
        return 1
    return 0


if __name__ == "__main__":
    try:
        settings = config.WorkerSettings.from_env(core_settings.environ())
    except core_settings.SettingError as exc:
        sys.exit(f"workers: {exc}")
    core_logging.setup(settings.log_level, json=settings.log_json, process="workers")
    process.settle_garbage_collector()
    sys.exit(uvloop.run(main(settings)))
