"""Driver errors become storage errors; a malformed address is not mistaken for an outage."""

from __future__ import annotations

import pytest

from storage import errors, pool
from storage.config import DatabaseSettings


async def test_a_malformed_address_is_a_configuration_error_not_an_outage():
    with pytest.raises(errors.StorageError, match="bad database configuration") as caught:
        await pool.open(DatabaseSettings(dsn="host=db port=5432", embedded=False))
    assert not isinstance(caught.value, errors.StorageUnavailable)


async def test_an_unreachable_server_is_unavailable():
    settings = DatabaseSettings(dsn="postgresql://nobody@127.0.0.1:1/none", embedded=False)
    with pytest.raises(errors.StorageUnavailable):
        await pool.open(settings)
