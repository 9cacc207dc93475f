"""`kafka-agent dev-cluster`: real brokers, idempotent up, busy ports refused, down keeps data unless purged."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from devcluster import cluster
from tests.conftest import ClusterHandle, devcluster_home, unique

ROOT = Path(__file__).resolve().parents[2]


def test_up_is_idempotent_for_a_running_cluster(kafka_cluster: ClusterHandle) -> None:
    if kafka_cluster.home is None:
        pytest.skip("KAFKA_BOOTSTRAP_SERVERS points at an external cluster; nothing of ours to restart")
    again = cluster.up(kafka_cluster.home, name=kafka_cluster.name, brokers=1, base_port=0)
    assert again.bootstrap_servers == kafka_cluster.bootstrap_servers
    st = cluster.status(kafka_cluster.home, name=kafka_cluster.name)
    assert st is not None and st.running and all(n.pid for n in st.nodes)


def test_busy_port_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "cli",
                "dev-cluster",
                "up",
                "--home",
                str(tmp_path),
                "--name",
                "busy",
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )
    assert proc.returncode == 2
    assert f"Port(s) {port}" in proc.stderr and "--port" in proc.stderr
    assert not (tmp_path / "clusters" / "busy" / "state.json").exists()


def test_other_shape_is_refused(kafka_cluster: ClusterHandle) -> None:
    if kafka_cluster.home is None:
        pytest.skip("external cluster")
    with pytest.raises(cluster.DevClusterError, match="already exists with 1 broker"):
        cluster.up(kafka_cluster.home, name=kafka_cluster.name, brokers=3, base_port=0)


def test_down_keeps_data_and_up_restarts_it_then_purge_removes_it() -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    home = devcluster_home()
    name = unique("pytest-dc")
    state = cluster.up(home, name=name, brokers=1, base_port=0, heap="256m")
    try:
        admin = AdminClient({"bootstrap.servers": state.bootstrap_servers})
        admin.create_topics([NewTopic("kept-topic", 1, 1)])["kept-topic"].result(15)
        assert cluster.down(home, name=name)
        st = cluster.status(home, name=name)
        assert st is not None and not st.running
        assert (cluster.cluster_dir(home, name) / "node-1" / "data").exists()

        again = cluster.up(home, name=name, brokers=1, base_port=0, heap="256m")
        assert again.cluster_id == state.cluster_id and again.bootstrap_servers == state.bootstrap_servers
        admin = AdminClient({"bootstrap.servers": again.bootstrap_servers})
        assert "kept-topic" in admin.list_topics(timeout=15).topics
    finally:
        cluster.down(home, name=name, purge=True)
    assert not cluster.cluster_dir(home, name).exists()
    assert cluster.status(home, name=name) is None


def test_status_cli_reports_running_brokers(kafka_cluster: ClusterHandle) -> None:
    if kafka_cluster.home is None:
        pytest.skip("external cluster")
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "dev-cluster", "status", "--name", kafka_cluster.name],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert "running" in proc.stdout and kafka_cluster.bootstrap_servers.split(",")[0] in proc.stdout
