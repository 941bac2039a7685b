"""Run the query service: `python -m query`."""

from __future__ import annotations

import uvloop
from aiohttp import web

from core import logging as core_logging
from core import process
from core import settings as core_settings
from query.app import create_app
from query.config import QuerySettings

settings = QuerySettings.from_env(core_settings.environ())
core_logging.setup(settings.log_level, json=settings.log_json, process="query")
app = create_app(settings)
process.settle_garbage_collector()
process.favour_the_event_loop()  # the world map is built in a thread
web.run_app(
    app,
    host=settings.host,
    port=settings.port,
    reuse_port=settings.reuse_port,
    loop=uvloop.new_event_loop(),
    shutdown_timeout=settings.shutdown_timeout_s,
    access_log=None,
    print=lambda _: None,
)
