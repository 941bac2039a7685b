"""`make db-up | db-down | db-reset`: the embedded database on its own."""

from __future__ import annotations

import sys

from core import logging as core_logging
from storage import config, embedded, migrate


def main(command: str) -> int:
    core_logging.setup("INFO", process="db")
    cluster = embedded.Cluster()
    if command == "up":
        cluster.ensure_running()
        migrate.apply(cluster.dsn())
        print(f"embedded database up: {cluster.dsn()}")
    elif command == "down":
        cluster.stop()
    elif command == "reset":
        cluster.ensure_running()
        cluster.recreate_database(config.EMBEDDED_DATABASE)
        migrate.apply(cluster.dsn())
        print(f"embedded database reset: {cluster.dsn()}")
    else:
        print("usage: python -m scripts.db up|down|reset", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ""))
