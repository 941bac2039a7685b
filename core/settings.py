"""Typed readers for environment settings; a bad value stops the process naming the variable."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


class SettingError(ValueError):
    """A setting is missing or malformed."""


def environ(dotenv: Path | None = None) -> dict[str, str]:
    """The process environment over a local `.env` file (environment first, then `.env`)."""
    merged: dict[str, str] = {}
    path = dotenv if dotenv is not None else Path(".env")
    if path.is_file():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, _, value = line.partition("=")
                merged[key.strip()] = value.strip().strip("'\"")
    merged.update(os.environ)
    return merged


def get_str(env: Mapping[str, str], name: str, default: str) -> str:
    """The variable's value, or `default` when it is unset or empty."""
    return env.get(name) or default


def get_int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    """An integer setting no smaller than `minimum`; raises SettingError naming the variable."""
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingError(f"{name} must be at least {minimum}, got {value}")
    return value


def get_float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    """A float setting no smaller than `minimum`; raises SettingError naming the variable."""
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(f"{name} must be a number, got {raw!r}") from None
    if not value >= minimum:
        raise SettingError(f"{name} must be at least {minimum}, got {raw}")
    return value


def get_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    """A boolean setting: 1/true/yes/on or 0/false/no/off."""
    raw = env.get(name)
    if not raw:
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingError(f"{name} must be true or false, got {raw!r}")
