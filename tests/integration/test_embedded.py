"""The embedded cluster: one on a taken port fails with a message saying what to do."""

from __future__ import annotations

import shutil
import socket
import uuid

import pytest

from storage import config, embedded


@pytest.fixture
def other_checkout_root():
    # Under the project, whose directories the postgres user can reach when tests run as root.
    root = config.PROJECT_ROOT / ".local" / f"test-cluster-{uuid.uuid4().hex[:8]}"
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def taken_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_cluster_whose_port_is_taken_is_refused_clearly(other_checkout_root, taken_port):
    cluster = embedded.Cluster(root=other_checkout_root, port=taken_port)
    with pytest.raises(embedded.EmbeddedError, match="make db-down"):
        cluster.ensure_running()
    assert not cluster.is_running()
