"""Logging set-up for every process: plain text for people, JSON lines for machines."""

from __future__ import annotations

import logging
import logging.config
from typing import Any

import orjson

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's extra keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """Readable lines; the `action` key, when present, is shown in brackets."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        action = getattr(record, "action", None)
        return f"{line} [{action}]" if action else line


def setup(level: str = "INFO", *, json: bool = False, process: str = "") -> None:
    """Configure the root logger once, from a process's `__main__`."""
    prefix = f"{process} " if process else ""
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "text": {
                    "()": TextFormatter,
                    "format": f"%(asctime)s %(levelname)-7s {prefix}%(name)s: %(message)s",
                },
                "json": {"()": JsonFormatter},
            },
            "handlers": {
                "stderr": {
                    "class": "logging.StreamHandler",
                    "formatter": "json" if json else "text",
                    "stream": "ext://sys.stderr",
                }
            },
            "root": {"level": level.upper(), "handlers": ["stderr"]},
            "loggers": {"aiohttp.access": {"level": "WARNING"}},
        }
    )
