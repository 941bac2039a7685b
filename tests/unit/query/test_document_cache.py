"""What each notification of sensorium_documents_changed drops from the kept documents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from query import documents
from query.document_cache import DocumentCache, Kept


def kept(owners: dict[int, int | None]) -> DocumentCache:
    """A watched cache holding a document of each device, owned as `owners` says (None: a
    device that was not found)."""
    documents = DocumentCache(ttl_s=60, max_entries=100)
    documents.watching(True)
    for device_id, owner_id in owners.items():
        found = None if owner_id is None else Kept({"id": device_id, "owner_id": owner_id}, "[]")
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


NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
# A device without owner, kit or location: the columns device_document reads.
_FULL_ROW = {
    **dict.fromkeys(
        "city country_code description elevation exposure hardware_version kit_id latitude "
        "longitude mac_address owner_id updated_at kit_name kit_slug kit_version".split()
    ),
    "id": 1,
    "uuid": "00000000-0000-0000-0000-000000000001",
    "name": "Balcony",
    "is_private": False,
    "precise_location": False,
    "user_tags": [],
}
WINDOW = timedelta(minutes=10)


def device(created_ago: timedelta, posted_ago: timedelta | None) -> dict[str, object]:
    posted = None if posted_ago is None else NOW - posted_ago
    return {"created_at": NOW - created_ago, "last_posted_at": posted, "last_reading_at": posted}


@pytest.mark.parametrize(
    ("created_ago", "posted_ago", "until"),
    [
        # Never posted, created long ago: nothing changes by the clock.
        (timedelta(days=30), None, None),
        # Online: until it goes offline.
        (timedelta(days=30), timedelta(minutes=3), NOW + timedelta(minutes=7)),
        # Offline: stays so.
        (timedelta(days=30), timedelta(minutes=11), None),
        # New: until it is a week old.
        (timedelta(days=6), None, NOW + timedelta(days=1)),
        # New and online: whichever comes first.
        (
            timedelta(days=7) - timedelta(minutes=1),
            timedelta(minutes=3),
            NOW + timedelta(minutes=1),
        ),
    ],
)
def test_an_answer_stays_the_same_until_its_status_or_new_tag_changes(
    created_ago, posted_ago, until
):
    row = device(created_ago, posted_ago)
    assert documents.valid_until(row, NOW, WINDOW) == until
    before = documents.device_document(
        {**_FULL_ROW, **row}, "[]", now=NOW, online_window=WINDOW, is_owner=False
    )
    if until is not None:
        just_before = until - timedelta(seconds=1)
        same = documents.device_document(
            {**_FULL_ROW, **row}, "[]", now=just_before, online_window=WINDOW, is_owner=False
        )
        changed = documents.device_document(
            {**_FULL_ROW, **row}, "[]", now=until, online_window=WINDOW, is_owner=False
        )
        assert (same["status"], same["system_tags"]) == (before["status"], before["system_tags"])
        assert (changed["status"], changed["system_tags"]) != (
            before["status"],
            before["system_tags"],
        )
