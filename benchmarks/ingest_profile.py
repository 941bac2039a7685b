"""Where a gateway's and a worker's time goes under ingest load.

`python -m benchmarks.ingest_profile`:
Makes the ingest fleet (benchmarks/ingest_fleet.py), starts the platform as the ingest
benchmark does, drives it open-loop at a fixed rate (10 x 10 readings per request, or 50 x 10
with --per-request 50) and samples gateway 1 and worker 1 with py-spy meanwhile; prints, per
process, the functions it was in most ("self") and those most often on the stack, as shares of
the samples (benchmarks/profiling.py), and the CPU seconds per million readings of each part.

    python -m benchmarks.ingest_profile --rate 40000 --seconds 20
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks import ingest_fleet, ingest_load, ingest_services, profiling
from core import logging as core_logging
from storage import embedded

logger = logging.getLogger(__name__)
DATABASE = "sensorium_bench_ingest_profile"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingest_profile")
    parser.add_argument("--rate", type=float, default=40_000, help="readings/s offered")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the profile")
    parser.add_argument("--per-request", type=int, default=10, choices=(10, 50))
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before sampling")
    parser.add_argument(
        "--gateways", type=int, default=ingest_load.DEFAULT.gateways, help="gateway processes"
    )
    parser.add_argument(
        "--workers", type=int, default=ingest_load.DEFAULT.workers, help="worker processes"
    )
    parser.add_argument("--out", type=Path, help="write the profiles here as JSON")
    args = parser.parse_args(argv)
    core_logging.setup("INFO", process="bench")
    if not profiling.PY_SPY.exists():
        raise SystemExit(f"py-spy is not installed ({profiling.PY_SPY})")
    cluster = embedded.Cluster()
    cluster.ensure_running()
    server_dsn = cluster.dsn("postgres")
    settings = dataclasses.replace(
        ingest_load.DEFAULT, warmup_s=args.warmup, gateways=args.gateways, workers=args.workers
    )
    fleet = ingest_fleet.make(server_dsn, DATABASE, args.devices)
    try:
        postgres = ingest_services.Postgres(fleet.dsn, DATABASE)
        platform = ingest_services.start(
            fleet.dsn, gateways=settings.gateways, workers=settings.workers
        )
        bench = ingest_load.Bench(fleet, platform, postgres, settings)
        try:
            result = _profile(bench, args)
        finally:
            bench.close()
            platform.stop()
    finally:
        ingest_fleet.drop(server_dsn, DATABASE)
    print(profiling.text(result["profiles"]))
    print(json.dumps(result["figures"], indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


def _profile(bench: ingest_load.Bench, args: argparse.Namespace) -> dict[str, Any]:
    readings = args.per_request * len(ingest_fleet.SENSOR_IDS)
    targets = {
        "gateway": bench.platform.gateways[0].popen.pid,
        "worker": bench.platform.workers[0].popen.pid,
    }
    lead_s = 1.5 + bench.settings.warmup_s  # the step's start-up and warm-up
    with tempfile.TemporaryDirectory(prefix="sensorium-ingest-profile-") as folder:
        spies = {}
        for name, pid in targets.items():
            output = Path(folder) / f"{name}.txt"
            argv = [str(profiling.PY_SPY), "record", "--pid", str(pid), "--rate", "200"]
            argv += ["--duration", str(round(args.seconds)), "--format", "raw", "--nonblocking"]
            argv += ["--output", str(output)]
            spies[name] = (output, argv)
        started = []
        step = None
        try:
            # The spies start when the measured window does.
            launch_at = time.monotonic() + lead_s
            runner = _StepThread(bench, args.per_request, args.rate / readings, args.seconds)
            runner.start()
            time.sleep(max(0.0, launch_at - time.monotonic()))
            for _, (_, argv) in spies.items():
                started.append(
                    subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                )
            runner.join()
            step = runner.step
        finally:
            for spy in started:
                spy.communicate(timeout=args.seconds + 60)
        profiles = {}
        for name, (output, _) in spies.items():
            if output.exists():
                profiles[name] = profiling.summarise(output.read_text())
            else:
                profiles[name] = {"error": "py-spy wrote nothing"}
    assert step is not None
    figures = ingest_load.step_summary(step, bench)
    return {"profiles": profiles, "figures": figures}


class _StepThread(threading.Thread):
    """One open-loop step run in a thread, so py-spy can start when its window does."""

    def __init__(
        self, bench: ingest_load.Bench, per_request: int, rate: float, seconds: float
    ) -> None:
        super().__init__(daemon=True)
        self.bench, self.per_request, self.rate, self.seconds = bench, per_request, rate, seconds
        self.step: ingest_load.Step | None = None

    def run(self) -> None:
        self.step = self.bench.step(
            self.per_request,
            mode="open",
            rate=self.rate,
            windows=1,
            window_s=self.seconds,
            probe=True,
        )


if __name__ == "__main__":
    main()
