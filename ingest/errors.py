"""Why the gateway could not take a batch it was handed."""

from __future__ import annotations


class IngestError(Exception):
    """The gateway could not take the batch."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


class Overloaded(IngestError):
    """Too many readings are waiting to be staged; retry later."""


class Stopping(IngestError):
    """The gateway is shutting down; retry later."""
