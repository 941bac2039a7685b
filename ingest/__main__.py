"""Run the ingest gateway: `python -m ingest`."""

from __future__ import annotations

import logging

import uvloop
from aiohttp import web

from core import logging as core_logging
from core import process
from core import settings as core_settings
from ingest import app, config

logger = logging.getLogger("ingest")


def main() -> None:
    """Read the settings, set up logging and serve until SIGINT or SIGTERM."""
    try:
        settings = config.IngestSettings.from_env(core_settings.environ())
    except core_settings.SettingError as exc:
        raise SystemExit(f"ingest: {exc}") from None
    core_logging.setup(settings.log_level, json=settings.log_json, process="ingest")
    host, port = settings.host, settings.port
    application = app.create_app(settings)
    process.settle_garbage_collector()
    web.run_app(
        application,
        host=host,
        port=port,
        loop=uvloop.new_event_loop(),
        shutdown_timeout=settings.shutdown_timeout_s,
        access_log=None,
        reuse_port=settings.reuse_port or None,
        handler_cancellation=False,
        print=lambda _: logger.info("gateway ready on http://%s:%d", host, port),
    )


if __name__ == "__main__":
    main()
