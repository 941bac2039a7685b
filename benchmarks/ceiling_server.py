"""The ceiling of the query workloads: the same HTTP stack as the query service (aiohttp on
uvloop, one process, no access log) answering from memory with no work at all.

`python -m benchmarks.ceiling_server PORT`. `GET /empty` answers an empty 200, the least a
request can cost; a query workload's requests/s over this one's says how much of the HTTP
stack's capacity is left after the work the endpoint does.
"""

from __future__ import annotations

import sys

import uvloop
from aiohttp import web


async def empty(_request: web.Request) -> web.Response:
    return web.Response(body=b"", content_type="application/json")


def main() -> None:
    app = web.Application()
    app.router.add_get("/empty", empty)
    web.run_app(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop=uvloop.new_event_loop(),
        access_log=None,
        print=lambda _: None,
    )


if __name__ == "__main__":
    main()
