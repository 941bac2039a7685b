"""`make run`: the whole platform on this machine, with the demo fleet and a device simulator.

Uses the embedded TimescaleDB unless DATABASE_URL or PG* name a server. Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import subprocess
import sys
import time

from core import logging as core_logging
from core import settings as core_settings
from scripts import launcher
from storage import config, demo, embedded, flusher, migrate, server, writeback
from storage import pool as storage_pool

logger = logging.getLogger("sensorium.run")


async def _seed(db: config.DatabaseSettings) -> demo.Demo:
    conn = await storage_pool.connect(db)
    try:
        logger.info("database: %s", (await server.facts(conn)).describe())
        return await demo.seed(conn)
    finally:
        await conn.close()


# A reading stamped with the shell's current time, for the example in the banner.
_EXAMPLE_BODY = (
    '{"data":[{"recorded_at":"\'$(date -u +%FT%TZ)\'","sensors":[{"id":"temp","value":21.5}]}]}'
)


def _banner(platform: launcher.Platform, fleet: demo.Demo, db: config.DatabaseSettings) -> str:
    base = platform.base_url
    device = fleet.devices[0]
    legacy = next(d for d in fleet.devices if d.kit_id == demo.SCK_1_1)
    layout = platform.layout
    return f"""
Sensorium is running.

  API (one base URL)   {base}/v0/
  gateways             {", ".join(f"127.0.0.1:{p}" for p in layout.gateway_ports())} (ingest)
  query services       {", ".join(f"127.0.0.1:{p}" for p in layout.query_ports())}
  workers              {layout.workers} processes
  database             {db.display}{" (embedded)" if db.embedded else ""}
  logs                 {layout.state_dir}/

Demo user   {fleet.username} / {fleet.password}
  access token         {fleet.access_token}
Demo device {device.id} "{device.name}"
  device token         {device.token}

Post a reading by hand:
  curl -s -X POST {base}/v0/devices/{device.id}/readings \\
       -H 'Authorization: Bearer {device.token}' \\
       -H 'Content-Type: application/json' -d '{_EXAMPLE_BODY}'
Read it back:
  curl -s {base}/v0/devices/{device.id}
The legacy SCK 1.1 device {legacy.id} (MAC {legacy.mac_address}) posts to {base}/v0/add.

The device simulator is posting for the demo fleet. Ctrl-C stops everything.
"""


def main() -> int:
    env = core_settings.environ()
    core_logging.setup(env.get("RUN_LOG_LEVEL", "INFO"), process="run")
    db = config.DatabaseSettings.from_env(env)
    cluster = embedded.Cluster() if db.embedded else None
    started_cluster = cluster is not None and not cluster.is_running()
    if cluster is not None:
        cluster.ensure_running()
        # The database runs here: say so if this machine's writeback would stall its commits
        # and the cluster's writeback helper (started where it would) does not run.
        advice = writeback.advice(writeback.read(), embedded.memory_bytes())
        if advice is not None and flusher.running_for(cluster.root) is None:
            logger.info("database host: %s", advice, extra={"action": "writeback_advice"})
    migrate.apply(db.dsn)
    fleet = asyncio.run(_seed(db))
    layout = launcher.Layout(
        port=core_settings.get_int(env, "RUN_PORT", 8000, minimum=1),
        gateways=core_settings.get_int(env, "RUN_GATEWAYS", 2, minimum=1),
        workers=core_settings.get_int(env, "RUN_WORKERS", 2, minimum=1),
        queries=core_settings.get_int(env, "RUN_QUERIES", 1, minimum=1),
    )
    stop = False

    def request_stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    platform = launcher.Platform(layout, env, db.dsn)
    simulator: subprocess.Popen[bytes] | None = None
    try:
        platform.start()
        print(_banner(platform, fleet, db), flush=True)
        if not core_settings.get_bool(env, "RUN_SIMULATOR", True):
            logger.info("device simulator off (RUN_SIMULATOR=false)")
        else:
            simulator = subprocess.Popen(
                [sys.executable, "-m", "scripts.simulate", "--base-url", platform.base_url],
                stdin=subprocess.PIPE,
                start_new_session=True,
            )
            assert simulator.stdin is not None
            simulator.stdin.write(json.dumps([d._asdict() for d in fleet.devices]).encode())
            simulator.stdin.close()
        while not stop:
            time.sleep(0.5)
            platform.check()
    except launcher.LaunchError as exc:
        logger.error("%s", exc)
        return 1
    finally:
        logger.info("stopping")
        if simulator is not None:
            simulator.terminate()
            simulator.wait(10)
        platform.stop()
        if started_cluster and cluster is not None:
            cluster.stop()
        logger.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
