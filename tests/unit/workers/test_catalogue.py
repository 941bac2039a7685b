"""The worker's memory of components: written once, remembered only after a commit."""

from __future__ import annotations

import numpy as np

from workers.catalogue import Catalogue


def pairs(*items: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.array([d for d, _ in items], dtype=np.int64),
        np.array([s for _, s in items], dtype=np.int32),
    )


def unknown(catalogue: Catalogue, *items: tuple[int, int]) -> list[tuple[int, int]]:
    devices, sensors = catalogue.unknown_components(*pairs(*items))
    return list(zip(devices.tolist(), sensors.tolist(), strict=True))


def test_components_are_remembered_once_their_transaction_commits():
    catalogue = Catalogue(60)
    assert unknown(catalogue, (1, 12), (1, 13)) == [(1, 12), (1, 13)]
    catalogue.commit_components()
    assert unknown(catalogue, (1, 12), (2, 12), (1, 13)) == [(2, 12)]


def test_components_of_a_failed_transaction_are_not_remembered():
    catalogue = Catalogue(60)
    assert unknown(catalogue, (1, 12)) == [(1, 12)]
    catalogue.forget_pending_components()
    catalogue.commit_components()
    assert unknown(catalogue, (1, 12)) == [(1, 12)]
