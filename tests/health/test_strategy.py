"""Partitioners reproduced bit for bit (checked against the partition a real producer picks), the partition-count
rule, key-skew analysis through the tool, and client configs that never break the guardrails."""

from __future__ import annotations

import random
from typing import Any

import pytest

from core.kafka import client_config, strategy
from tests.conftest import unique
from tests.helpers import assert_tool_error, structured

pytestmark = pytest.mark.anyio


def _create(admin: Any, topic: str, partitions: int) -> None:
    from confluent_kafka.admin import NewTopic

    for fut in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        fut.result(30)


def _produce(bootstrap: str, topic: str, keys: list[bytes], partitioner: str | None) -> dict[bytes, int]:
    """Produce one record per key; the partition each landed in, from the delivery reports."""
    from confluent_kafka import Producer

    conf: dict[str, Any] = {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "log_level": 0}
    if partitioner:
        conf["partitioner"] = partitioner
    producer = Producer(conf)
    landed: dict[bytes, int] = {}

    def report(err: Any, msg: Any) -> None:
        assert err is None, err
        landed[msg.key()] = msg.partition()

    for key in keys:
        producer.produce(topic, key=key, value=b"v", on_delivery=report)
    assert producer.flush(30) == 0
    return landed


def test_murmur2_known_values() -> None:
    # Kafka's own test vectors (UtilsTest.testMurmur2), as unsigned 32-bit values
    vectors = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536, b"": 275646681}
    for data, signed in vectors.items():
        assert strategy.murmur2(data) == signed & 0xFFFFFFFF, data


def test_partitioners_match_a_real_producer(kafka_cluster: Any, admin: Any) -> None:
    topic = unique("hash")
    _create(admin, topic, 7)
    rng = random.Random(7)
    keys = [f"key-{rng.randrange(10**9)}".encode() for _ in range(200)] + [b"a", b"ab", b"abc"]
    java_like = _produce(kafka_cluster.bootstrap_servers, topic, keys, "murmur2_random")
    default = _produce(kafka_cluster.bootstrap_servers, topic, keys, None)  # consistent_random
    for key in keys:
        assert java_like[key] == strategy.partition_for(key, 7, "murmur2"), key
        assert default[key] == strategy.partition_for(key, 7, "crc32"), key


def test_partition_count_rule() -> None:
    rec = strategy.recommend_partitions(target_throughput=100_000, per_partition_throughput=8_000, consumers=6)
    assert rec.by_throughput == 13 and rec.recommended_partitions == 13
    rec = strategy.recommend_partitions(target_throughput=1_000, per_partition_throughput=8_000, consumers=6)
    assert rec.recommended_partitions == 6
    with pytest.raises(Exception, match="positive"):
        strategy.recommend_partitions(target_throughput=0, per_partition_throughput=1, consumers=1)


async def test_keys_hashing_to_one_partition_are_reported_skewed(
    mcp_client: Any, admin: Any, kafka_cluster: Any
) -> None:
    topic = unique("skew")
    _create(admin, topic, 6)
    # keys that Java's murmur2 partitioner sends to partition 0, produced the way a Java client would
    keys = [k for k in (f"user-{i}".encode() for i in range(5000)) if strategy.partition_for(k, 6, "murmur2") == 0]
    keys = keys[:300]
    landed = _produce(kafka_cluster.bootstrap_servers, topic, keys, "murmur2_random")
    assert set(landed.values()) == {0}

    data = structured(
        await mcp_client.call_tool(
            "kafka_partition_strategy",
            {"topic": topic, "target_throughput": 50000, "per_partition_throughput": 10000, "consumers": 8},
        )
    )
    skew = data["key_skew"]
    assert skew["partitions"] == 6 and skew["keyed_records"] == 300 and skew["distinct_keys"] == 300
    by_name = {s["partitioner"]: s for s in skew["spreads"]}
    assert by_name["murmur2"]["skewed"] is True
    assert by_name["murmur2"]["busiest_partition"] == 0 and by_name["murmur2"]["busiest_share"] == 1.0
    assert by_name["murmur2"]["partition_skew"] == 6.0
    # the same keys under librdkafka's default spread over the partitions
    assert by_name["crc32"]["keys_per_partition"] == [
        sum(1 for k in keys if strategy.partition_for(k, 6, "crc32") == p) for p in range(6)
    ]
    assert by_name["crc32"]["skewed"] is False
    assert "murmur2" in skew["verdict"]
    assert data["recommendation"]["recommended_partitions"] == 8  # max(50000/10000, 8 consumers)


async def test_partition_strategy_bad_input(mcp_client: Any) -> None:
    assert_tool_error(await mcp_client.call_tool("kafka_partition_strategy", {}), "nothing to plan")
    assert_tool_error(
        await mcp_client.call_tool("kafka_partition_strategy", {"target_throughput": 10}), "per_partition_throughput"
    )
    assert_tool_error(
        await mcp_client.call_tool("kafka_partition_strategy", {"topic": unique("missing")}), "does not exist"
    )


@pytest.mark.parametrize("goal", client_config.GOALS)
@pytest.mark.parametrize("role", ["producer", "consumer"])
def test_client_configs_never_break_the_guardrails(role: str, goal: str) -> None:
    rec = client_config.recommend(role, goal)
    assert client_config.forbidden_settings(rec.librdkafka, role) == []
    assert client_config.forbidden_settings(rec.java, role) == []
    assert all(s.reason for s in rec.settings)


def test_forbidden_settings_detects_breaches() -> None:
    assert client_config.forbidden_settings({"enable.idempotence": "false", "acks": "1"}, "producer") == [
        "enable.idempotence must be true",
        "acks must be all",
    ]
    assert client_config.forbidden_settings({"enable.auto.commit": "true"}, "consumer")


async def test_client_config_tools(mcp_client: Any) -> None:
    prod = structured(await mcp_client.call_tool("kafka_producer_config", {"goal": "exactly_once"}))
    assert prod["librdkafka"]["enable.idempotence"] == "true" and "transactional.id" in prod["java"]
    cons = structured(await mcp_client.call_tool("kafka_consumer_config", {"goal": "throughput"}))
    assert cons["java"]["enable.auto.commit"] == "false"
    assert cons["librdkafka"]["isolation.level"] == "read_committed"
    assert_tool_error(await mcp_client.call_tool("kafka_producer_config", {"goal": "speed"}), "goal")
