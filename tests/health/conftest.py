"""Fixtures for the health area: a dedicated three-broker cluster (``pytest-chaos``) whose brokers the failure tests
kill and restart, so the shared test clusters are never disturbed.

Its topology differs from the dev cluster on purpose: node 1 is broker and the only KRaft controller, nodes 2 and 3
are brokers only. With three combined nodes, killing two of them also loses the controller quorum, so no ISR can
shrink and writes only time out; with a single controller that stays up, two brokers down shrink the ISR below
``min.insync.replicas`` and ``acks=all`` writes fail with NOT_ENOUGH_REPLICAS, as in a production cluster with
dedicated controllers. Tests kill only nodes 2 and 3.

Purged at session end unless ``KAFKA_AGENT_TEST_REUSE=1``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REUSE, ClusterHandle, devcluster_home, make_settings

CHAOS = "pytest-chaos"
CONTROLLER_NODE = 1
KILLABLE = (2, 3)


def _properties(state: Any, node: Any) -> str:
    from devcluster.cluster import _server_properties

    ctrl = next(n for n in state.nodes if n.node_id == CONTROLLER_NODE)
    lines = []
    for raw in _server_properties(node, state.nodes, False).splitlines():
        line = raw
        if line.startswith("controller.quorum.voters="):
            line = f"controller.quorum.voters={CONTROLLER_NODE}@127.0.0.1:{ctrl.controller_port}"
        elif node.node_id != CONTROLLER_NODE and line.startswith("process.roles="):
            line = "process.roles=broker"
        elif node.node_id != CONTROLLER_NODE and line.startswith("listeners="):
            line = f"listeners=PLAINTEXT://127.0.0.1:{node.port}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _create(home: Path) -> Any:
    import subprocess

    from devcluster import jars
    from devcluster.cluster import ClusterState, NodeState, cluster_dir, free_ports, save_state

    jars.resolve(home)
    ports = free_ports(6)
    cid = (
        subprocess.run(
            jars.java_command(home, "kafka.tools.StorageTool", "random-uuid"),
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    cdir = cluster_dir(home, CHAOS)
    nodes = [
        NodeState(
            node_id=i,
            port=ports[2 * (i - 1)],
            controller_port=ports[2 * (i - 1) + 1],
            data_dir=str(cdir / f"node-{i}" / "data"),
            log_file=str(cdir / f"node-{i}" / "server.log"),
            config_file=str(cdir / f"node-{i}" / "server.properties"),
        )
        for i in (1, 2, 3)
    ]
    state = ClusterState(name=CHAOS, cluster_id=cid, kafka_version=jars.kafka_version(), sasl=False, nodes=nodes)
    for node in nodes:
        Path(node.config_file).parent.mkdir(parents=True, exist_ok=True)
        Path(node.config_file).write_text(_properties(state, node), encoding="utf-8")
        subprocess.run(
            jars.java_command(
                home, "kafka.tools.StorageTool", "format", "-t", cid, "-c", node.config_file, "--ignore-formatted"
            ),
            capture_output=True,
            check=True,
        )
    save_state(home, state)
    return state


def wait_brokers(bootstrap: str, count: int, timeout: float = 90.0) -> None:
    """Until the cluster's metadata lists ``count`` brokers."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    deadline = time.monotonic() + timeout
    while True:
        try:
            if len(admin.list_topics(timeout=3).brokers) >= count:
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} brokers did not come up at {bootstrap} within {timeout:.0f}s")
        time.sleep(0.5)


@pytest.fixture(scope="session")
def chaos_cluster() -> Iterator[ClusterHandle]:
    from devcluster.cluster import load_state, start_node

    home = devcluster_home()
    state = load_state(home, CHAOS) or _create(home)
    for node in state.nodes:  # start what is not running (a previous run may have left a broker stopped)
        start_node(home, CHAOS, node.node_id, heap="384m")
    state = load_state(home, CHAOS)
    assert state is not None
    wait_brokers(state.bootstrap_servers, 3)
    try:
        yield ClusterHandle(name=CHAOS, bootstrap_servers=state.bootstrap_servers, home=home)
    finally:
        if not REUSE:
            from cli.devcluster import stop_cluster  # stream runners too

            stop_cluster(home, name=CHAOS, purge=True)


@pytest.fixture
def chaos_settings(chaos_cluster: ClusterHandle, data_dir: Path) -> Any:
    return make_settings(chaos_cluster.bootstrap_servers, data_dir, request_timeout_s=10.0)


@pytest.fixture
async def chaos_client(chaos_settings: Any) -> AsyncIterator[Any]:
    from mcp import Client

    from mcp_server.server import build_server

    async with Client(build_server(chaos_settings), raise_exceptions=False) as client:
        yield client


@pytest.fixture
def chaos_admin(chaos_cluster: ClusterHandle) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": chaos_cluster.bootstrap_servers, "log_level": 0})
