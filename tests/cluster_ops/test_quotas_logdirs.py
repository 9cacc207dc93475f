"""Client quotas and log dirs through the MCP tools, checked with Kafka's own ConfigCommand and LogDirsCommand; the
admin helper's two doors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.errors import InvalidArgument, NotFound
from tests.cluster_ops.conftest import kafka_configs_describe, kafka_tool
from tests.conftest import ClusterHandle, unique
from tests.helpers import assert_tool_error, structured

pytestmark = pytest.mark.anyio


async def test_quotas_set_show_and_remove(ops_client: Any, ops_cluster: ClusterHandle, data_dir: Any) -> None:
    user = unique("app")
    quotas = {"producer_byte_rate": 1048576, "consumer_byte_rate": 2097152}
    done = structured(await ops_client.call_tool("kafka_set_client_quotas", {"user": user, "set_quotas": quotas}))
    assert done["before"] == {} and done["after"] == quotas and done["applied"]
    shown = kafka_configs_describe(ops_cluster.bootstrap_servers, "users", user)
    assert "producer_byte_rate=1048576.0" in shown and "consumer_byte_rate=2097152.0" in shown

    listed = structured(await ops_client.call_tool("kafka_describe_client_quotas", {"user": user}))
    assert listed["entries"] == [{"user": user, "client_id": None, "quotas": quotas}]

    # The default client id, beside the user: two entities, described apart.
    default = structured(
        await ops_client.call_tool(
            "kafka_set_client_quotas", {"client_id": "<default>", "set_quotas": {"request_percentage": 200}}
        )
    )
    assert default["after"] == {"request_percentage": 200}
    both = structured(await ops_client.call_tool("kafka_describe_client_quotas", {"client_id": "<default>"}))
    assert {"user": None, "client_id": "<default>", "quotas": {"request_percentage": 200.0}} in both["entries"]

    removed = structured(
        await ops_client.call_tool("kafka_set_client_quotas", {"user": user, "remove": ["producer_byte_rate"]})
    )
    assert removed["after"] == {"consumer_byte_rate": 2097152}
    structured(
        await ops_client.call_tool(
            "kafka_set_client_quotas", {"client_id": "<default>", "remove": ["request_percentage"]}
        )
    )
    assert "producer_byte_rate" not in kafka_configs_describe(ops_cluster.bootstrap_servers, "users", user)

    assert_tool_error(
        await ops_client.call_tool("kafka_set_client_quotas", {"user": user, "set_quotas": {"bytes": 5}}), "set_quotas"
    )
    assert_tool_error(
        await ops_client.call_tool("kafka_set_client_quotas", {"set_quotas": {"producer_byte_rate": 5}}),
        "Name a user, a client id",
    )
    audit = [json.loads(line) for line in (data_dir / "audit.jsonl").read_text().splitlines()]
    mine = [e for e in audit if e["tool"] == "kafka_set_client_quotas" and e["resources"] == [f"user={user}"]]
    assert [e["decision"] for e in mine] == ["allowed", "allowed"]


async def test_log_dirs_agree_with_kafkas_own_tool(ops_client: Any, ops_admin: Any, ops_cluster: ClusterHandle) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import NewTopic

    topic = unique("ops-dirs")
    ops_admin.create_topics([NewTopic(topic, 3, 2)])[topic].result(30)
    producer = Producer({"bootstrap.servers": ops_cluster.bootstrap_servers, "acks": "all"})
    for i in range(3000):
        producer.produce(topic, value=b"v" * 500, partition=i % 3)
    assert producer.flush(30) == 0

    ours = structured(
        await ops_client.call_tool(
            "kafka_describe_log_dirs", {"topic_pattern": f"^{topic}$", "include_partitions": True}
        )
    )
    theirs = json.loads(
        kafka_tool(
            "org.apache.kafka.tools.LogDirsCommand",
            "--bootstrap-server",
            ops_cluster.bootstrap_servers,
            "--describe",
            "--topic-list",
            topic,
        ).splitlines()[-1]
    )
    kafka_sizes = {
        (b["broker"], p["partition"]): p["size"]
        for b in theirs["brokers"]
        for d in b["logDirs"]
        for p in d["partitions"]
        if p["partition"].startswith(topic)
    }
    our_sizes = {(p["broker"], f"{p['topic']}-{p['partition']}"): p["size_bytes"] for p in ours["partitions"]}
    assert len(our_sizes) == 6 and our_sizes == kafka_sizes
    (row,) = ours["topics"]
    assert row["topic"] == topic and row["partitions"] == 3 and row["size_bytes"] == sum(kafka_sizes.values())
    assert row["size_bytes"] > 3000 * 500 * 2  # two copies of every record, with batch overhead
    assert_tool_error(await ops_client.call_tool("kafka_describe_log_dirs", {"brokers": [99]}), "not in the cluster")


def test_the_helper_keeps_reads_and_changes_apart(ops_cluster: ClusterHandle, data_dir: Any) -> None:
    from core.gate import Change, Gate
    from core.kafka.jadmin import JavaAdmin
    from core.settings import Settings

    settings = Settings(bootstrap_servers=ops_cluster.bootstrap_servers, data_dir=data_dir)
    jadmin = JavaAdmin(settings.cluster(None))
    try:
        with pytest.raises(InvalidArgument, match="not a reading operation"):
            jadmin.read_op("unregisterBroker", {"broker": 99}, timeout=10)
        # Below the Python door, the helper itself refuses a change sent as a read.
        with pytest.raises(InvalidArgument, match="must be sent as a mutation"):
            jadmin._exchange("unregisterBroker", {"broker": 99}, timeout=10, mutate=False)
        assert jadmin.read_op("ping", timeout=10) == {"pong": True}
        # A change goes through the gate with a permit; Kafka's error comes back in our tree.
        change = Change(
            tool="test", cluster="local", action="broker.unregister", resource_type="broker", resources=["broker:99"]
        )
        with pytest.raises(NotFound, match="BrokerIdNotRegistered"):
            Gate(settings).perform(
                change, lambda permit: jadmin.mutate_op(permit, "unregisterBroker", {"broker": 99}, timeout=10)
            )
    finally:
        jadmin.close()
