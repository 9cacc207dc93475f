"""Health, durability, performance and exactly-once tools through the MCP client, checked with separate clients."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import ClusterHandle, make_settings, unique
from tests.helpers import assert_tool_error, structured

pytestmark = pytest.mark.anyio


def _create(admin: Any, topic: str, partitions: int, rf: int, configs: dict[str, str] | None = None) -> None:
    from confluent_kafka.admin import NewTopic

    for fut in admin.create_topics([NewTopic(topic, partitions, rf, config=configs or {})]).values():
        fut.result(30)


def _topic_configs(admin: Any, topic: str) -> dict[str, str]:
    from confluent_kafka.admin import ConfigResource, ResourceType

    fut = next(iter(admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)]).values()))
    return {k: v.value for k, v in fut.result(10).items()}


def _high_watermarks(admin: Any, bootstrap: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    parts = admin.list_topics(topic, timeout=10).topics[topic].partitions
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("wm"), "enable.auto.commit": False})
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts)
    finally:
        consumer.close()


async def test_cluster_health_sees_skew_and_profile(mcp_client: Any, admin: Any, kafka_cluster: ClusterHandle) -> None:
    from confluent_kafka import Producer

    topic = unique("hot")
    _create(admin, topic, 3, 1)
    producer = Producer(
        {"bootstrap.servers": kafka_cluster.bootstrap_servers, "enable.idempotence": True, "acks": "all"}
    )
    for i in range(600):
        producer.produce(topic, value=b"x", partition=0 if i < 500 else 1 + i % 2)
    producer.flush(30)

    health = structured(await mcp_client.call_tool("kafka_cluster_health", {"min_replication_factor": 3}))
    assert health["metrics"]["broker_count"] == 1 and health["controller_id"] is not None
    row = next(t for t in health["topics"] if t["topic"] == topic)
    assert row["messages"] == 600 and row["partitions"] == 3
    assert row["partition_skew"] == 2.5  # 500 / (600 / 3)
    assert any(r["check"] == "partition_skew" and topic in r["message"] for r in health["reasons"])
    assert "replication.factor 1 < 3" in row["below_profile"][0]
    assert health["verdict"] != "healthy"
    assert health["metrics"]["partition_skew"] >= 2.5


async def test_set_durability_checks_and_sets(chaos_client: Any, chaos_admin: Any) -> None:
    topic = unique("durable")
    _create(chaos_admin, topic, 1, 3, {"min.insync.replicas": "1"})
    checked = structured(await chaos_client.call_tool("kafka_set_durability", {"topic": topic}))
    assert checked["applied"] is False and checked["before"]["min_insync_replicas"] == 1
    assert any("min.insync.replicas < 2" in a for a in checked["before"]["advice"])
    # The same report from the read-only tool (which the agent may call while it plans).
    tools = {t.name: t for t in (await chaos_client.list_tools()).tools}
    assert tools["kafka_check_durability"].annotations.read_only_hint is True
    read_only = structured(await chaos_client.call_tool("kafka_check_durability", {"topic": topic}))
    assert read_only == checked["before"]
    assert read_only["replication_factor"] == 3 and read_only["tolerates_broker_failures"] == 2
    assert_tool_error(
        await chaos_client.call_tool("kafka_check_durability", {"topic": unique("nope")}), "does not exist"
    )

    done = structured(
        await chaos_client.call_tool(
            "kafka_set_durability", {"topic": topic, "min_insync_replicas": 2, "unclean_leader_election": False}
        )
    )
    assert done["applied"] is True and done["after"]["tolerates_broker_failures"] == 1
    # Kafka's own view (any broker may answer, and one may trail the change by a moment).
    deadline = time.monotonic() + 10
    while (configs := _topic_configs(chaos_admin, topic))["min.insync.replicas"] != "2" and time.monotonic() < deadline:
        await anyio.sleep(0.2)
    assert configs["min.insync.replicas"] == "2" and configs["unclean.leader.election.enable"] == "false"

    assert_tool_error(
        await chaos_client.call_tool("kafka_set_durability", {"topic": topic, "min_insync_replicas": 4}),
        "exceeds the replication factor",
    )
    assert _topic_configs(chaos_admin, topic)["min.insync.replicas"] == "2"
    assert_tool_error(
        await chaos_client.call_tool("kafka_set_durability", {"topic": unique("nope"), "min_insync_replicas": 2}),
        "does not exist",
    )


async def test_elect_leaders_when_balanced(mcp_client: Any, admin: Any) -> None:
    topic = unique("elect")
    _create(admin, topic, 2, 1)
    data = structured(await mcp_client.call_tool("kafka_elect_leaders", {"topic": topic, "partitions": [0, 1]}))
    assert data["requested"] == 2 and data["failed"] == 0 and data["not_needed"] == 2
    assert_tool_error(await mcp_client.call_tool("kafka_elect_leaders", {"partitions": [0]}), "needs a topic")


async def test_perf_producer_consumer_and_end_to_end(mcp_client: Any, admin: Any, kafka_cluster: ClusterHandle) -> None:
    topic = unique("perf")
    _create(admin, topic, 2, 1)
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        updates.append((done, total, message))

    prod = structured(
        await mcp_client.call_tool(
            "kafka_perf_test",
            {"topic": topic, "num_records": 20000, "record_size": 200, "linger_ms": 10, "compression": "lz4"},
            progress_callback=on_progress,
        )
    )
    assert prod["records"] == prod["acknowledged"] == 20000 and prod["errors"] == 0
    assert prod["records_per_s"] > 0 and prod["mb_per_s"] > 0
    lat = prod["latency"]
    assert lat["samples"] == 20000 and 0 < lat["p50_ms"] <= lat["p95_ms"] <= lat["p99_ms"] <= lat["max_ms"]
    assert updates and updates[-1][0] == updates[-1][1] == 20000
    assert _high_watermarks(admin, kafka_cluster.bootstrap_servers, topic) == 20000

    cons = structured(await mcp_client.call_tool("kafka_perf_test", {"mode": "consumer", "topic": topic}))
    assert cons["records"] == 20000 and cons["record_size"] == 200 and cons["mb_per_s"] > 0

    e2e = structured(
        await mcp_client.call_tool(
            "kafka_perf_test",
            {"mode": "end_to_end", "topic": topic, "num_records": 400, "records_per_second": 400, "record_size": 64},
        )
    )
    assert e2e["records"] == e2e["acknowledged"] == 400 and e2e["latency"]["samples"] == 400
    assert e2e["latency"]["p50_ms"] <= e2e["latency"]["p99_ms"]
    assert _high_watermarks(admin, kafka_cluster.bootstrap_servers, topic) == 20400


async def test_perf_scratch_topic_is_removed_and_bad_input_is_clear(mcp_client: Any, admin: Any) -> None:
    import anyio

    data = structured(await mcp_client.call_tool("kafka_perf_test", {"num_records": 500, "record_size": 10}))
    assert data["acknowledged"] == 500 and data["topic"].startswith("kafka-agent-perf-")
    with anyio.fail_after(15):
        while data["topic"] in admin.list_topics(timeout=10).topics:
            await anyio.sleep(0.2)
    assert_tool_error(
        await mcp_client.call_tool("kafka_perf_test", {"mode": "end_to_end", "num_records": 10}), "records_per_second"
    )
    assert_tool_error(
        await mcp_client.call_tool("kafka_perf_test", {"num_records": 10, "acks": "1"}), "idempotence requires acks=all"
    )
    assert_tool_error(await mcp_client.call_tool("kafka_perf_test", {"mode": "consumer"}), "give topic")


async def test_perf_refuses_production_unless_topic_named(
    kafka_cluster: ClusterHandle, admin: Any, data_dir: Path
) -> None:
    from mcp import Client

    from mcp_server.server import build_server

    topic = unique("prodperf")
    _create(admin, topic, 1, 1)
    settings = make_settings(kafka_cluster.bootstrap_servers, data_dir, profile="production")
    async with Client(build_server(settings), raise_exceptions=False) as client:
        assert_tool_error(await client.call_tool("kafka_perf_test", {"num_records": 10}), "production")
        assert_tool_error(
            await client.call_tool("kafka_perf_test", {"topic": topic, "num_records": 10}), "allow_production_topic"
        )
        assert_tool_error(await client.call_tool("kafka_verify_exactly_once", {}), "production")
        assert _high_watermarks(admin, kafka_cluster.bootstrap_servers, topic) == 0  # refused calls wrote nothing
        allowed = structured(
            await client.call_tool(
                "kafka_perf_test", {"topic": topic, "allow_production_topic": topic, "num_records": 10}
            )
        )
        assert allowed["acknowledged"] == 10
    assert _high_watermarks(admin, kafka_cluster.bootstrap_servers, topic) == 10


async def test_exactly_once_passes_and_negative_controls_fail(mcp_client: Any, admin: Any) -> None:
    ok = structured(await mcp_client.call_tool("kafka_verify_exactly_once", {"transactions": 6, "abort_every": 3}))
    assert ok["passed"] is True, ok["reasons"]
    assert ok["committed"] == 80 and ok["aborted_transactions"] == 2
    assert ok["missing"] == ok["duplicated"] == ok["aborted_visible"] == 0
    assert ok["aborted_records_in_log"] == 40  # the aborts really wrote, and stayed invisible
    assert ok["ctp_transactions"] >= 1 and ok["ctp_aborted"] == 1 and ok["offsets_committed"] is True
    assert ok["output"]["seen"] == 80 and ok["topics_deleted"] is True
    names = set(admin.list_topics(timeout=10).topics)
    assert ok["input"]["topic"] not in names and ok["output"]["topic"] not in names

    dup = structured(
        await mcp_client.call_tool(
            "kafka_verify_exactly_once", {"transactions": 6, "abort_every": 3, "negative_control": "duplicate"}
        )
    )
    assert dup["passed"] is False and dup["duplicated"] == 1 and dup["output"]["duplicated"] == 1
    assert any("duplicated" in r for r in dup["reasons"])

    dirty = structured(
        await mcp_client.call_tool(
            "kafka_verify_exactly_once", {"transactions": 6, "abort_every": 3, "negative_control": "read_uncommitted"}
        )
    )
    assert dirty["passed"] is False and dirty["aborted_visible"] >= 40
