"""Process-wide set-up shared by the services' entry points."""

from __future__ import annotations

import gc
import sys

# Collections of the youngest generation after this many more container objects were made than
# freed (Python's default: 700), and of each older one after this many of the one before
# (default: 10 and 10).
GC_THRESHOLDS = (20_000, 50, 100)
# How long a thread running Python code keeps the interpreter while another thread waits for it
# (Python's default: 5 ms).
SWITCH_INTERVAL_S = 0.001


def settle_garbage_collector() -> None:
    """Keep the garbage collector off the event loop's back, once start-up is done.

    What is loaded and made by now lives as long as the process: `gc.freeze` keeps it out of
    every later collection. A request makes many short-lived objects that reference counting
    frees, and few cycles, so collections can be much rarer than Python's defaults, which under
    load ran a young collection every few requests and a full one, walking every object (the
    gateways' device caches included), every few seconds: each stalled the event loop for tens
    of milliseconds, and at half the highest ingest rate the acknowledgement p99 fell from
    55-129 ms to 41 ms without them.
    """
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def favour_the_event_loop() -> None:
    """Let the event loop take the interpreter back from a busy thread within 1 ms, not 5.

    Work moved off the loop into a thread (the query service's world-map builds: about 45 ms of
    Python for 20,000 devices) still holds the interpreter lock, and Python hands it over only
    every switch interval: with the default 5 ms, every await of the loop's waited about that
    long while a build ran, once for each await of a request. With 1 ms, timers of the loop ran
    1.3-1.5 ms late at the median during builds (5.5 ms before), and a build took as long as
    before (docs/performance.md has the device document's p99 under rebuilds, both ways).
    """
    sys.setswitchinterval(SWITCH_INTERVAL_S)
