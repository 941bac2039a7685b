"""`python -m benchmarks` (`make bench`): make or reuse the benchmark database, start the
services as real processes, time every workload, and write the result document and table.

    python -m benchmarks                    # the default dataset, 3 runs of each workload
    python -m benchmarks --quick            # a small dataset, each workload briefly
    python -m benchmarks --full             # the full-size dataset (hours to load)
    python -m benchmarks --only device,world_map_304 --out /tmp/result.json

The database is `sensorium_bench` on the embedded cluster (or on the server DATABASE_URL or the
PG* variables name), kept between runs and made again only when its scale or the migrations
change (or with --fresh). Results go to benchmarks/results/<date>-<commit>.json (a suffix names
other modes than the default, and `-only` a run of some workloads; none is overwritten), the
table to stdout, and, for default and full runs, to docs/performance.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from benchmarks import dataset, harness, ingest_load, profiling, query_load, services
from core import logging as core_logging
from core import settings as core_settings
from storage import config as storage_config
from storage import embedded, flusher

logger = logging.getLogger(__name__)

DATABASE = "sensorium_bench"
QUICK = query_load.LoadSettings(warmup_s=0.3, duration_s=0.8, repeats=2, startup_s=0.8)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="run each workload briefly")
    parser.add_argument("--full", action="store_true", help="the full-size dataset (--scale full)")
    parser.add_argument(
        "--scale",
        choices=sorted(dataset.SCALES),
        help="the dataset (default: small with --quick, else default)",
    )
    parser.add_argument("--only", action="append", default=[], help="workloads to run (a,b)")
    parser.add_argument("--out", type=Path, help="where to write the result document")
    parser.add_argument("--database", default=DATABASE, help="the benchmark database's name")
    parser.add_argument("--fresh", action="store_true", help="make the dataset again")
    parser.add_argument("--connections", type=int, help="concurrent keep-alive connections")
    parser.add_argument("--clients", type=int, help="load-generator processes")
    parser.add_argument("--repeats", type=int, help="timed runs of each workload")
    parser.add_argument("--duration", type=float, help="seconds of each timed run")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up before the runs")
    parser.add_argument("--no-nginx", action="store_true", help="skip the runs through nginx")
    parser.add_argument(
        "--sustain",
        type=float,
        metavar="SECONDS",
        help="make ingest's final runs at the highest sustained rate last this long (default 30)",
    )
    parser.add_argument(
        "--profile",
        choices=("missed", "all", "none"),
        default="none",
        help="profile the query service with py-spy during workloads that missed their "
        "target (or all of them)",
    )
    parser.add_argument("--docs", type=Path, help="update the latest table in this file")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/performance.md alone")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    core_logging.setup("INFO", process="bench")
    started = datetime.now(UTC)
    mode = "full" if args.full else "quick" if args.quick else "default"
    usual = {"full": "full", "quick": "small", "default": "default"}[mode]
    scale = dataset.SCALES[args.scale or usual]
    if scale.name != usual:
        mode = f"{mode}-{scale.name}"
    base = QUICK if args.quick else query_load.LoadSettings()
    load = query_load.LoadSettings(
        connections=args.connections or base.connections,
        clients=args.clients or base.clients,
        warmup_s=base.warmup_s if args.warmup is None else args.warmup,
        duration_s=args.duration or base.duration_s,
        repeats=args.repeats or base.repeats,
        startup_s=base.startup_s,
    )
    only = {name for item in args.only for name in item.split(",") if name}

    server_dsn, dsn, is_local = _database(args.database)
    # `--only` naming ingest workloads alone needs no query dataset and no query service.
    query_part = not only or bool(only & {*query_load.NAMES, query_load.CEILING})
    description: dict[str, object] = {"name": "none", "description": "no query workload ran."}
    data = None
    if query_part:
        logger.info("preparing the %s dataset in %s", scale.name, args.database)
        data = dataset.prepare(server_dsn, dsn, args.database, scale, fresh=args.fresh)
        logger.info(
            "dataset %s (%.0f s, %.1f GB)",
            "reused" if data.reused else "made",
            data.load_s,
            data.size_bytes / 1e9,
        )
        description = data.as_dict()
    short, dirty = harness.commit()
    report = harness.Report(
        mode=mode,
        started_at=started,
        machine=harness.machine_facts(
            _versions(dsn if data is not None else server_dsn), flusher=_flusher()
        ),
        dataset=description,
        settings={
            "connections": load.connections,
            "clients": load.clients,
            "warmup_s": load.warmup_s,
            "duration_s": load.duration_s,
            "repeats": load.repeats,
            "query_processes": 1,
            "database_pool_max": 10,
        },
        commit=short,
        dirty=dirty,
    )
    if data is not None:
        database_cpu = _database_cpu_probe(dsn) if is_local else (lambda: None)
        _measure(report, data, load, only, database_cpu, dsn, args)
    ingest_load.add_to(
        report,
        server_dsn,
        args.database,
        quick=args.quick,
        only=only,
        is_local=is_local,
        sustain_s=args.sustain,
    )

    out = args.out or report.default_path(partial=bool(only))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report.document(), indent=2, ensure_ascii=False) + "\n")
    text = report.text() + ingest_load.text(report.extra.get("ingest", {}))
    print(text)
    if report.extra.get("profiles"):
        print("\nWhere the query service's time goes (py-spy):\n")
        print(profiling.text(report.extra["profiles"]))
    print(f"\nwritten to {out}")
    docs = args.docs or (None if args.quick or args.no_docs or only else harness.DOCS)
    if docs is not None and not args.no_docs:
        harness.update_docs(docs, text)
        print(f"table kept in {docs}")
    failed = report.failures or any(r.errors for r in [*report.ceilings.values(), *report.results])
    return 1 if failed else 0


def _measure(
    report: harness.Report,
    data: dataset.Dataset,
    load: query_load.LoadSettings,
    only: set[str],
    database_cpu: query_load.CpuProbe,
    dsn: str,
    args: argparse.Namespace,
) -> None:
    chosen = [w for w in query_load.workloads(data) if not only or w.name in only]
    started: list[services.Process] = []
    try:
        ceiling = services.start_ceiling()
        started.append(ceiling)
        spec = query_load.ceiling_workload()
        assert spec.name == query_load.CEILING
        spec, answer = query_load.prepared(spec, ceiling.port)
        logger.info("timing %s", spec.name)
        report.ceilings[spec.name] = query_load.run(
            spec, ceiling, load, via="bare aiohttp", database_cpu=lambda: None, answer=answer
        )
        ceiling.stop()

        query = services.start_query(dsn)
        started.append(query)
        nginx = None
        if not args.no_nginx and any(w.via_nginx for w in chosen):
            nginx = services.start_nginx(query)
            started.append(nginx)
        alone = dataclasses.replace(load, connections=1, clients=1)
        for workload in chosen:
            runs: list[tuple[str, services.Process, query_load.LoadSettings]] = [
                ("query", query, load)
            ]
            if workload.latency_target:
                runs.append(("query, half rate", query, load))  # its rate is set below
            if workload.alone:
                runs.append(("query, 1 connection", query, alone))
            if nginx is not None and workload.via_nginx:
                runs.append(("nginx", nginx, load))
            highest = 0.0
            for via, target, settings in runs:
                if via == "query, half rate":
                    if not highest:
                        continue
                    settings = dataclasses.replace(load, rate=highest / 2)
                logger.info("timing %s through %s", workload.name, via)
                try:
                    ready, answer = query_load.prepared(workload, target.port)
                    result = query_load.run(
                        ready, target, settings, via=via, database_cpu=database_cpu, answer=answer
                    )
                except Exception as exc:  # one broken workload must not lose the others
                    logger.exception("%s through %s failed", workload.name, via)
                    report.failures.append(
                        {"workload": workload.name, "via": via, "error": str(exc)}
                    )
                    continue
                if via == "query":
                    # The best window: a window slowed by something else on the machine
                    # would otherwise make "half the highest rate" a lighter load.
                    highest = result.summary()["rate"].max
                    if workload.latency_target:
                        result.notes.append(
                            "highest rate: its latency is the queue of a closed loop; the"
                            " latency target is judged at half the best window's rate"
                        )
                if settings.rate is not None:
                    result.notes.append(
                        f"open loop at {settings.rate:,.0f} requests/s, half the highest rate,"
                        f" over {settings.connections} connections; latency counted from when"
                        " each request was due"
                    )
                if via == "nginx":
                    result.notes.append("service CPU is nginx's; the query service is behind it")
                if settings is alone:
                    result.notes.append("one connection: latency without queueing behind others")
                report.results.append(result)
        if args.profile != "none":
            report.extra["profiles"] = profiling.profile_missed(
                report, chosen, query, load, everything=args.profile == "all"
            )
    finally:
        for process in reversed(started):
            process.stop()


def _database(name: str) -> tuple[str, str, bool]:
    """The server's maintenance DSN, the benchmark database's DSN, and whether it is local."""
    db = storage_config.DatabaseSettings.from_env(core_settings.environ())
    if db.embedded:
        cluster = embedded.Cluster()
        cluster.ensure_running()
        return cluster.dsn("postgres"), cluster.dsn(name), True
    url = db.dsn or "postgresql://"
    host = urlsplit(url).hostname or ""
    return (
        _with_database(url, "postgres"),
        _with_database(url, name),
        host in ("127.0.0.1", "localhost", ""),
    )


def _flusher() -> bool | None:
    """Whether the embedded cluster's writeback helper runs; None on another server."""
    if not storage_config.DatabaseSettings.from_env(core_settings.environ()).embedded:
        return None
    return flusher.running_for(embedded.Cluster().root) is not None


def _with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _versions(dsn: str) -> dict[str, str]:
    """The server's PostgreSQL and TimescaleDB versions and its shared_buffers. The license
    setting is defined only in a session of a database that has the extension, so `dsn` should
    name one (the benchmark database) when there is one."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT current_setting('server_version'),"
            " (SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'),"
            " current_setting('timescaledb.license', true), current_setting('shared_buffers')"
        ).fetchone()
    assert row is not None
    return {
        "postgresql": str(row[0]).split()[0],
        # Unknown (and left out) in a database without the extension: ingest-only runs.
        "timescaledb": f"{row[1]} ({row[2]} license)" if row[2] else str(row[1]),
        "shared_buffers": str(row[3]),
    }


def _database_cpu_probe(dsn: str) -> query_load.CpuProbe:
    """CPU seconds so far of each of the query service's backends (by application name)."""
    conn = psycopg.connect(dsn, autocommit=True)

    def probe() -> dict[int, float] | None:
        pids = [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name = 'sensorium'"
            )
        ]
        return {pid: services.cpu_seconds([pid]) for pid in pids}

    return probe


if __name__ == "__main__":
    sys.exit(main())
