"""Where the query service's time goes: py-spy samples it while a workload runs once more.

`python -m benchmarks --profile missed` profiles each workload that missed its target
(`--profile all`: every workload), and the result document gets, per workload, the functions
the process was in most (by samples where the function was the innermost frame: "self") and the
functions most often on the stack ("inclusive"), as shares of the samples taken while it was
busy.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import harness, query_load, services

logger = logging.getLogger(__name__)

PY_SPY = Path(os.environ.get("VIRTUAL_ENV", harness.ROOT / ".venv")) / "bin" / "py-spy"
_RATE = 200  # samples a second: enough for shares of a few seconds' run, light on the process
_TOP = 15
_FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def profile_missed(
    report: harness.Report,
    workloads: list[query_load.Workload],
    query: services.Process,
    load: query_load.LoadSettings,
    *,
    everything: bool,
) -> dict[str, Any]:
    """Profiles of the workloads (run directly against the query service) that missed their
    target, or of all of them."""
    if not PY_SPY.exists():
        logger.warning("py-spy is not installed (%s): no profiles", PY_SPY)
        return {}
    missed = {
        result.name
        for result in report.results
        if result.via == "query" and result.target_met() is False
    }
    profiles: dict[str, Any] = {}
    for workload in workloads:
        if everything or workload.name in missed:
            profiles[workload.name] = profile(workload, query, load)
    return profiles


def profile(
    workload: query_load.Workload, query: services.Process, load: query_load.LoadSettings
) -> dict[str, Any]:
    """Sample the query service with py-spy during one more run of `workload`."""
    ready, answer = query_load.prepared(workload, query.port)
    single = query_load.LoadSettings(
        connections=load.connections,
        clients=load.clients,
        warmup_s=load.warmup_s,
        duration_s=load.duration_s,
        repeats=1,
        startup_s=load.startup_s,
    )
    seconds = max(1, round(load.startup_s + load.warmup_s + load.duration_s))
    with tempfile.TemporaryDirectory(prefix="sensorium-profile-") as folder:
        output = Path(folder) / "profile.txt"
        argv = [str(PY_SPY), "record", "--pid", str(query.popen.pid), "--rate", str(_RATE)]
        argv += ["--duration", str(seconds), "--format", "raw", "--nonblocking"]
        argv += ["--output", str(output)]
        logger.info("profiling %s with py-spy", workload.name)
        spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        query_load.run(ready, query, single, via="query", database_cpu=lambda: None, answer=answer)
        _, errors = spy.communicate(timeout=seconds + 30)
        if spy.returncode != 0 or not output.exists():
            logger.warning("py-spy failed: %s", errors.decode(errors="replace")[-500:])
            return {"error": errors.decode(errors="replace")[-500:]}
        return summarise(output.read_text())


def summarise(collapsed: str) -> dict[str, Any]:
    """Self and inclusive shares of the functions in py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_name(frame) for frame in stack.split(";")[1:]]  # [0] is the thread
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for name in set(frames):
            inclusive[name] += count
    return {
        "samples": total,
        "self": [[name, round(100 * n / total, 1)] for name, n in own.most_common(_TOP)],
        "inclusive": [
            [name, round(100 * n / total, 1)] for name, n in inclusive.most_common(_TOP + 10)
        ],
    }


def _name(frame: str) -> str:
    """`function (module path)` shortened to `package/module.py:function`."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match.group("file")
    parts = Path(path).parts
    for anchor in ("site-packages", "main", "lib"):
        if anchor in parts:
            parts = parts[len(parts) - parts[::-1].index(anchor) :]
            break
    short = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{short}:{match.group('function')}"


def text(profiles: dict[str, Any]) -> str:
    """The profiles as short readable lists."""
    lines = []
    for name, found in profiles.items():
        if "error" in found:
            lines.append(f"{name}: py-spy failed: {found['error']}")
            continue
        lines.append(f"{name} ({found['samples']} samples while busy):")
        lines.append("  self: " + ", ".join(f"{f} {p}%" for f, p in found["self"][:10]))
        lines.append("  on the stack: " + ", ".join(f"{f} {p}%" for f, p in found["inclusive"]))
    return "\n".join(lines)
