"""Shared by the worker tests: reading times."""

from __future__ import annotations

# 2024-01-01T00:00:00Z in microseconds since the Unix epoch.
T0 = 1_704_067_200_000_000
MINUTE = 60_000_000
