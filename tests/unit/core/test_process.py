from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from core import process

ROOT = Path(__file__).resolve().parents[3]

_PROBE = """
import gc
from core import process
before = gc.get_freeze_count()
process.settle_garbage_collector()
print(before, gc.get_freeze_count(), *gc.get_threshold())
"""


def test_settling_freezes_what_is_loaded_and_raises_the_thresholds():
    # In a process of its own: the test process keeps Python's defaults.
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    before, frozen, *thresholds = map(int, out)
    assert before == 0
    assert frozen > 1000  # the modules and objects of the interpreter's start at least
    assert tuple(thresholds) == process.GC_THRESHOLDS
    assert all(new > default for new, default in zip(thresholds, (700, 10, 10), strict=True))


_SWITCH_PROBE = """
import sys
from core import process
before = sys.getswitchinterval()
process.favour_the_event_loop()
print(before, sys.getswitchinterval())
"""


def test_the_event_loop_gets_the_interpreter_back_sooner():
    out = subprocess.run(
        [sys.executable, "-c", _SWITCH_PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    before, after = map(float, out)
    assert after == process.SWITCH_INTERVAL_S
    assert after < before  # Python's default is 5 ms
