"""The embedded cluster: one on a taken port fails with a message saying what to do, and one that
runs has the writeback helper where this machine's writeback would make bursts."""

from __future__ import annotations

import shutil
import socket
import uuid

import pytest

from storage import config, embedded, flusher, writeback
from tests.support import until


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


@pytest.fixture
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_cluster_has_a_writeback_helper_while_it_runs_where_bursts_would_form(
    other_checkout_root, free_port
):
    cluster = embedded.Cluster(root=other_checkout_root, port=free_port)
    bursts = writeback.bursts(writeback.read(), embedded.memory_bytes())
    try:
        cluster.ensure_running()
        postmaster = flusher.postmaster_pid(cluster.data_dir)
        assert postmaster is not None

        if bursts:
            until(lambda: flusher.running_for(other_checkout_root) == postmaster)
        else:
            assert flusher.running_for(other_checkout_root) is None
    finally:
        cluster.stop()
    until(lambda: flusher.running_for(other_checkout_root) is None)
