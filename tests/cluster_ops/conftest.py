"""Fixtures for cluster operations: a dedicated three-broker cluster in racks a, b, c (``pytest-ops``) that the tests
grow by a broker and shrink again, so the shared test clusters are never disturbed; an MCP client on it; Kafka's own
command-line tools from the same jars as the independent check; and a producer and a consumer with their own
sequence check.

Purged at session end unless ``KAFKA_AGENT_TEST_REUSE=1``; a reused cluster with an added broker left over from an
interrupted run is purged and started afresh.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REUSE, ClusterHandle, devcluster_home, make_settings

OPS = "pytest-ops"
RACKS = ["a", "b", "c"]


@pytest.fixture(scope="session")
def ops_cluster() -> Iterator[ClusterHandle]:
    from cli.devcluster import stop_cluster
    from devcluster.cluster import load_state, up

    home = devcluster_home()
    state = load_state(home, OPS)
    if state is not None and any(not n.controller for n in state.nodes):
        stop_cluster(home, name=OPS, purge=True)
    state = up(home, name=OPS, brokers=3, racks=RACKS, base_port=0, heap="384m")
    try:
        yield ClusterHandle(name=OPS, bootstrap_servers=state.bootstrap_servers, home=home)
    finally:
        if not REUSE:
            stop_cluster(home, name=OPS, purge=True)


@pytest.fixture
def ops_settings(ops_cluster: ClusterHandle, data_dir: Path) -> Any:
    return make_settings(ops_cluster.bootstrap_servers, data_dir, tool_timeout_s=240.0, toolsets="all")


@pytest.fixture
async def ops_client(ops_settings: Any) -> AsyncIterator[Any]:
    from mcp import Client

    from mcp_server.server import build_server

    async with Client(build_server(ops_settings), raise_exceptions=False) as client:
        yield client


@pytest.fixture
def ops_admin(ops_cluster: ClusterHandle) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": ops_cluster.bootstrap_servers})


def kafka_tool(*args: str) -> str:
    """One of Kafka's own command-line tools (class and arguments) from the resolved jars; its stdout."""
    from devcluster import jars

    cmd = jars.java_command(devcluster_home(), *args)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def kafka_topics_describe(bootstrap: str, topic: str) -> dict[int, tuple[list[int], list[int]]]:
    """Kafka's TopicCommand --describe: partition -> (replicas, isr)."""
    out = kafka_tool(
        "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", bootstrap, "--describe", "--topic", topic
    )
    parts: dict[int, tuple[list[int], list[int]]] = {}
    for line in out.splitlines():
        fields = dict(f.split(": ", 1) for f in line.strip().split("\t") if ": " in f)
        if "Partition" in fields and "Replicas" in fields:
            parts[int(fields["Partition"])] = (
                [int(x) for x in fields["Replicas"].split(",")],
                [int(x) for x in fields["Isr"].split(",") if x],
            )
    return parts


def kafka_configs_describe(bootstrap: str, entity_type: str, name: str | None = None) -> str:
    """Kafka's ConfigCommand --describe: the dynamic configs (and quotas) of one entity, or of every broker or topic
    when no name is given."""
    named = ["--entity-name", name] if name is not None else []
    return kafka_tool(
        "kafka.admin.ConfigCommand", "--bootstrap-server", bootstrap, "--entity-type", entity_type, *named, "--describe"
    )
