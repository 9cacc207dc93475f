"""Helpers for the group, lag and message tests: seed records and committed offsets with plain clients, and run
Kafka's own ConsumerGroupCommand to compare against."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from devcluster.jars import java_command
from tests.conftest import ClusterHandle, devcluster_home, unique

CGC = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"


def create_topic(admin: Any, name: str, partitions: int, replication_factor: int = 1) -> None:
    from confluent_kafka.admin import NewTopic

    new = NewTopic(name, num_partitions=partitions, replication_factor=replication_factor)
    admin.create_topics([new])[name].result(30)
    for _ in range(50):
        meta = admin.list_topics(topic=name, timeout=10).topics.get(name)
        if (
            meta is not None
            and len(meta.partitions) == partitions
            and all(p.leader >= 0 for p in meta.partitions.values())
        ):
            return
        import time

        time.sleep(0.1)


def fill(bootstrap: str, topic: str, per_partition: dict[int, int]) -> None:
    """Write ``n`` small records to each partition with a plain idempotent producer."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5})
    for partition, n in per_partition.items():
        for i in range(n):
            producer.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode(), partition=partition)
    assert producer.flush(30) == 0


def commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commit offsets for ``group`` the way an application does: a consumer of that group commits, then leaves."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        consumer.commit(offsets=tps, asynchronous=False)
    finally:
        consumer.close()


def audit_entries(settings: Any, tool: str) -> list[dict[str, Any]]:
    """The audit log's lines for one tool, oldest first."""
    path = settings.resolved_audit_log()
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [e for e in map(json.loads, lines) if e["tool"] == tool]


def java_describe(bootstrap: str, groups: list[str]) -> dict[tuple[str, str, int], tuple[str, str, str]]:
    """(group, topic, partition) -> (current offset, log end offset, lag) as Kafka's own tool prints them."""
    args = ["--bootstrap-server", bootstrap, "--describe"]
    for g in groups:
        args += ["--group", g]
    proc = subprocess.run(
        java_command(devcluster_home(), CGC, *args),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return parse_describe(proc.stdout)


def parse_describe(text: str) -> dict[tuple[str, str, int], tuple[str, str, str]]:
    rows: dict[tuple[str, str, int], tuple[str, str, str]] = {}
    for line in text.splitlines():
        cols = line.split()
        if len(cols) >= 6 and cols[0] != "GROUP" and cols[2].isdigit():
            rows[(cols[0], cols[1], int(cols[2]))] = (cols[3], cols[4], cols[5])
    return rows


@pytest.fixture
def bootstrap(kafka_cluster: ClusterHandle) -> str:
    return kafka_cluster.bootstrap_servers


@pytest.fixture
def group_name() -> str:
    return unique("grp")
