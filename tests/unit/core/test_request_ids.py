"""Request ids made by the error middleware: 32 hex digits, unique within and across processes."""

from __future__ import annotations

import multiprocessing
import re

from core import web as core_web

HEX_32 = re.compile(r"[0-9a-f]{32}")


def test_ids_are_32_hex_digits_and_never_repeat():
    ids = [core_web._request_ids.next() for _ in range(10_000)]
    assert all(HEX_32.fullmatch(request_id) for request_id in ids)
    assert len(set(ids)) == len(ids)


def _child_id(queue: multiprocessing.Queue[str]) -> None:
    queue.put(core_web._request_ids.next())


def test_a_forked_process_takes_ids_of_its_own():
    parent = core_web._request_ids.next()
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[str] = context.Queue()
    child = context.Process(target=_child_id, args=(queue,))
    child.start()
    child_id = queue.get(timeout=30)
    child.join(timeout=30)
    assert HEX_32.fullmatch(child_id)
    # Same counter position after the fork, so only a fresh prefix keeps them apart.
    assert child_id[:16] != parent[:16]
