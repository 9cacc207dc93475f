"""Real services for the schema, Connect and MirrorMaker tests, started once per session.

Two single-broker clusters, ``pytest-mirror-a`` (a MirrorMaker source, with a Connect worker for active-active) and
``pytest-mirror-b`` (the target, with an Apicurio Schema Registry and a distributed Kafka Connect worker), services
started by ``devcluster.services``. The settings
name them ``a`` and ``b`` in a clusters file, ``b`` being the default. Purged at the end unless
``KAFKA_AGENT_TEST_REUSE=1``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REUSE, devcluster_home, make_settings

CLUSTER_A = "pytest-mirror-a"
CLUSTER_B = "pytest-mirror-b"


@dataclass
class ServiceEnv:
    a_bootstrap: str
    b_bootstrap: str
    registry_url: str
    connect_url: str
    clusters_file: Path
    a_connect_url: str

    @property
    def connect_urls(self) -> list[str]:
        return [self.a_connect_url, self.connect_url]


@pytest.fixture(scope="session")
def service_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceEnv]:
    from devcluster import cluster, services
    from devcluster.jars import stderr_progress

    home = devcluster_home()
    state_a = cluster.up(home, name=CLUSTER_A, brokers=1, base_port=0, heap="384m")
    state_b = cluster.up(home, name=CLUSTER_B, brokers=1, base_port=0, heap="384m")
    state_b = services.start(home, state_b, ["schema-registry", "connect"], progress=stderr_progress)
    cluster.save_state(home, state_b)
    state_a = services.start(home, state_a, ["connect"], progress=stderr_progress)  # for active-active
    cluster.save_state(home, state_a)
    registry = str(state_b.services["schema-registry"]["url"])
    connect = str(state_b.services["connect"]["url"])
    path = tmp_path_factory.mktemp("services") / "clusters.yaml"
    path.write_text(
        "default: b\n"
        "clusters:\n"
        f"  a:\n    bootstrap_servers: {state_a.bootstrap_servers}\n"
        f"    connect_url: {state_a.services['connect']['url']}\n"
        f"  b:\n    bootstrap_servers: {state_b.bootstrap_servers}\n"
        f"    schema_registry_url: {registry}\n"
        f"    connect_url: {connect}\n"
        # The same cluster seen as production, where the policy rules are strictest.
        f"  prod-b:\n    bootstrap_servers: {state_b.bootstrap_servers}\n    profile: production\n"
        f"    schema_registry_url: {registry}\n",
        encoding="utf-8",
    )
    try:
        a_connect = str(state_a.services["connect"]["url"])
        yield ServiceEnv(state_a.bootstrap_servers, state_b.bootstrap_servers, registry, connect, path, a_connect)
    finally:
        if not REUSE:
            from cli.devcluster import stop_cluster  # stream runners too

            stop_cluster(home, name=CLUSTER_A, purge=True)
            stop_cluster(home, name=CLUSTER_B, purge=True)


@pytest.fixture
def settings(service_env: ServiceEnv, data_dir: Path) -> Any:
    """Overrides the root fixture: the clusters file naming a (source) and b (target, with the services)."""
    return make_settings(service_env.b_bootstrap, data_dir, clusters_file=service_env.clusters_file)


@pytest.fixture
def http() -> Iterator[Any]:
    """A separate HTTP client, to check effects on the services without the tools under test."""
    import httpx

    with httpx.Client(timeout=15) as client:
        yield client


@pytest.fixture
def admin_b(service_env: ServiceEnv) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": service_env.b_bootstrap})


@pytest.fixture
def admin_a(service_env: ServiceEnv) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": service_env.a_bootstrap})


def create_topic(admin: Any, name: str, partitions: int = 1) -> None:
    from confluent_kafka.admin import NewTopic

    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(15)


def read_all(bootstrap: str, topic: str, expected: int, *, timeout: float = 60.0) -> list[Any]:
    """Up to ``expected`` records of ``topic`` from the start, with a separate consumer."""
    import time
    import uuid

    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    out: list[Any] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while len(out) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            out.append(msg)
    finally:
        consumer.close()
    return out
