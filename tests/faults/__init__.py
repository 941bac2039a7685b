"""Fault injection: the platform under load while its processes are killed, stopped and flooded.

Each test runs a short version by default (CI runs it) and a longer one, with more faults, when
SENSORIUM_FAULTS=full (`make test-faults`).
"""

from __future__ import annotations

import os
from typing import TypeVar

T = TypeVar("T")

FULL = os.environ.get("SENSORIUM_FAULTS") == "full"


def sized(short: T, full: T) -> T:
    """`full` in a full run (SENSORIUM_FAULTS=full), `short` otherwise."""
    return full if FULL else short
