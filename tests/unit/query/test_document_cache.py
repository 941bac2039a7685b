"""What each notification of sensorium_documents_changed drops from the kept documents."""

from __future__ import annotations

import pytest

from query.document_cache import DocumentCache


def kept(owners: dict[int, int | None]) -> DocumentCache:
    """A watched cache holding a document of each device, owned as `owners` says (None: a
    device that was not found)."""
    documents = DocumentCache(ttl_s=60, max_entries=100)
    documents.watching(True)
    for device_id, owner_id in owners.items():
        found = None if owner_id is None else ({"id": device_id, "owner_id": owner_id}, "[]")
        documents._values.put(device_id, found)
    return documents


def remaining(documents: DocumentCache) -> set[int]:
    return set(documents._values._entries)


def test_devices_drops_the_devices_named():
    documents = kept({1: 10, 2: 10, 3: 20, 4: None})
    documents.invalidate("devices:1,4,99")
    assert remaining(documents) == {2, 3}


def test_owner_drops_that_users_devices():
    documents = kept({1: 10, 2: 10, 3: 20, 4: None})
    documents.invalidate("owner:10")
    assert remaining(documents) == {3, 4}


@pytest.mark.parametrize("change", ["all", "kits", "devices:1,x", "owner:", ""])
def test_anything_else_drops_everything(change):
    documents = kept({1: 10, 2: 20})
    documents.invalidate(change)
    assert remaining(documents) == set()


def test_losing_or_starting_to_watch_drops_everything():
    documents = kept({1: 10})
    documents.watching(False)
    assert (remaining(documents), documents.watched) == (set(), False)
    documents._values.put(2, None)
    documents.watching(True)
    assert (remaining(documents), documents.watched, documents.listens) == (set(), True, 2)


def test_a_write_of_this_process_drops_everything():
    documents = kept({1: 10, 2: 20})
    documents.writes_committed()
    assert remaining(documents) == set()
