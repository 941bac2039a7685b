"""Storage errors: the only place driver exceptions are caught and translated."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import asyncpg

logger = logging.getLogger(__name__)


class StorageError(Exception):
    """Database operation failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


class StorageUnavailable(StorageError):
    """Database unreachable, overloaded or asked us to retry; retry later."""


class UnsafeDatabase(StorageError):
    """The server could lose committed transactions on a crash (fsync or synchronous_commit
    off), and the settings do not say it is a throwaway instance."""


class UniqueViolation(StorageError):
    """A row with the same key already exists."""


class DataError(StorageError):
    """The database rejected a value."""


# SQLSTATE classes and codes that mean "try again later", not "this is wrong".
_RETRYABLE_CLASSES = ("08", "53", "57")  # connection, resources, operator intervention
_RETRYABLE_CODES = {"40001", "40P01", "55P03"}  # serialization, deadlock, lock not available


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Re-raise driver and connection errors as StorageError subclasses."""
    try:
        yield
    except asyncpg.exceptions.ClientConfigurationError as exc:
        # A malformed address is a mistake to fix, not an outage to wait out.
        raise StorageError(f"bad database configuration: {exc}") from exc
    except asyncpg.UniqueViolationError as exc:
        raise UniqueViolation(str(exc)) from exc
    except asyncpg.DataError as exc:
        raise DataError(str(exc)) from exc
    except asyncpg.PostgresError as exc:
        state = exc.sqlstate or ""
        if state in _RETRYABLE_CODES or state[:2] in _RETRYABLE_CLASSES:
            raise StorageUnavailable(f"{state}: {exc}") from exc
        raise StorageError(f"{state}: {exc}") from exc
    # InternalClientError: what a pooled connection the server has just terminated can raise
    # before the pool notices (seen when a database is dropped or restarted).
    except (OSError, asyncpg.InterfaceError, asyncpg.InternalClientError, TimeoutError) as exc:
        raise StorageUnavailable(f"{type(exc).__name__}: {exc}") from exc
