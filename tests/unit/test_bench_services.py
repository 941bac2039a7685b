"""The benchmarks' process handles: a process that exits by itself is a failure, one stopped on
purpose (the gateways before the workers drain staging) is not."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks import services


def _process(tmp_path, code: str) -> services.Process:
    log = tmp_path / "service.log"
    log.write_text("last words\n")
    popen = subprocess.Popen([sys.executable, "-c", code])
    return services.Process(name="service", port=0, popen=popen, log=log)


def test_a_process_that_exits_by_itself_fails_the_check(tmp_path):
    process = _process(tmp_path, "pass")
    process.popen.wait(10)
    with pytest.raises(services.ServiceError, match="service exited \\(0\\)"):
        process.check()


def test_a_process_stopped_on_purpose_passes_the_check(tmp_path):
    process = _process(tmp_path, "import time; time.sleep(60)")
    process.check()
    process.stop(10)
    assert process.popen.returncode is not None
    process.check()
