"""MirrorMaker 2 between two real single-broker clusters, deployed on the target's real Connect worker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from tests.conftest import unique
from tests.helpers import assert_tool_error, structured
from tests.services.conftest import ServiceEnv, create_topic, read_all

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _remove_mirrors(http: Any, service_env: ServiceEnv) -> Iterator[None]:
    """Delete the MirrorMaker connectors after each test, so reused clusters do not keep replicating."""
    yield
    for url in service_env.connect_urls:
        for name in http.get(f"{url}/connectors").json():
            if name.startswith("mm2-"):
                http.delete(f"{url}/connectors/{name}")


def _produce(bootstrap: str, topic: str, count: int) -> list[bytes]:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    values = [f"{topic}-{i}".encode() for i in range(count)]
    for v in values:
        producer.produce(topic, v, key=b"k")
    assert producer.flush(15) == 0
    return values


def _commit(bootstrap: str, group: str, topic: str, admin: Any) -> None:
    """Group ``group`` consumed ``topic`` to the end, committed on the source cluster."""
    from confluent_kafka import Consumer, TopicPartition

    parts = sorted(admin.list_topics(topic=topic, timeout=10).topics[topic].partitions)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        ends = [
            TopicPartition(topic, p, consumer.get_watermark_offsets(TopicPartition(topic, p), 10)[1]) for p in parts
        ]
        consumer.commit(offsets=ends, asynchronous=False)
    finally:
        consumer.close()


def _committed(admin: Any, group: str, topic: str) -> dict[int, int]:
    from confluent_kafka import ConsumerGroupTopicPartitions

    try:
        result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(10)
    except Exception:
        return {}
    return {tp.partition: tp.offset for tp in result.topic_partitions if tp.topic == topic and tp.offset >= 0}


def _topics(admin: Any) -> set[str]:
    return set(admin.list_topics(timeout=10).topics)


async def test_mirror_copies_matching_topic_only(
    mcp_client: Any, http: Any, admin_a: Any, admin_b: Any, service_env: ServiceEnv, settings: Any
) -> None:
    wanted, other = unique("orders"), unique("audit")
    create_topic(admin_a, wanted, partitions=2)
    create_topic(admin_a, other)
    sent = _produce(service_env.a_bootstrap, wanted, 6)
    _produce(service_env.a_bootstrap, other, 3)
    group = unique("billing")
    _commit(service_env.a_bootstrap, group, wanted, admin_a)

    deployed = structured(
        await mcp_client.call_tool("kafka_mirror", {"source_cluster": "a", "topics": wanted, "groups": group})
    )
    (deployment,) = deployed["deployments"]
    assert [c["error"] for c in deployment["connectors"]] == [None, None, None]
    assert deployment["remote_topic_example"] == "a.orders"
    names = {c["name"] for c in deployment["connectors"]}
    # One change through the gate, naming every connector it writes, audited with its outcome.
    lines = [json.loads(line) for line in settings.resolved_audit_log().read_text().splitlines()]
    (audited,) = [a for a in lines if a["tool"] == "kafka_mirror"]
    assert audited["action"] == "mirror.deploy" and audited["decision"] == "allowed" and audited["error"] is None
    assert set(audited["resources"]) == names == {"mm2-a-to-b-source", "mm2-a-to-b-checkpoint", "mm2-a-to-b-heartbeat"}
    assert [c["error"] for c in audited["result"]["deployments"][0]["connectors"]] == [None, None, None]
    for name in names:  # checked on the worker directly (it answers 500 while its group rebalances: ask again)
        with anyio.fail_after(60):
            while (code := http.get(f"{service_env.connect_url}/connectors/{name}").status_code) == 500:
                await anyio.sleep(0.5)
        assert code == 200

    remote = f"a.{wanted}"
    copied = read_all(service_env.b_bootstrap, remote, len(sent), timeout=90)
    assert sorted(m.value() for m in copied) == sorted(sent)
    assert f"a.{other}" not in _topics(admin_b) and other not in _topics(admin_b)

    status: dict[str, Any] = {}
    with anyio.move_on_after(60):
        while True:
            status = structured(await mcp_client.call_tool("kafka_mirror_status", {"source_cluster": "a"}))
            if status["healthy"] and status["total_lag_records"] == 0:
                break
            await anyio.sleep(1)
    assert status["healthy"], status
    (lag,) = status["topics"]
    assert lag["source_topic"] == wanted and lag["target_topic"] == remote
    assert lag["source_records"] == lag["target_records"] == len(sent) and lag["lag_records"] == 0

    # Checkpoints: the group's committed offsets are translated onto the target's copy of the topic.
    synced: dict[int, int] = {}
    with anyio.move_on_after(90):
        while not synced:
            synced = _committed(admin_b, group, remote)
            await anyio.sleep(1)
    assert synced, "the group's offsets never reached the target"
    assert all(0 <= off <= len(sent) for off in synced.values())
    assert "a.checkpoints.internal" in _topics(admin_b)


async def test_mirror_refuses_bad_requests(mcp_client: Any) -> None:
    assert_tool_error(
        await mcp_client.call_tool(
            "kafka_mirror", {"source_cluster": "a", "mode": "active-active", "naming": "identity"}
        ),
        "prefixed",
    )
    # The target must have a Connect worker (prod-b names no connect_url).
    assert_tool_error(
        await mcp_client.call_tool("kafka_mirror", {"source_cluster": "a", "cluster": "prod-b"}),
        "no Kafka Connect worker",
    )
    assert_tool_error(await mcp_client.call_tool("kafka_mirror", {"source_cluster": "b"}), "different")
    assert_tool_error(
        await mcp_client.call_tool("kafka_mirror", {"source_cluster": "nope"}),
        "`source_cluster`: 'nope' is not a configured cluster",
    )
    assert_tool_error(await mcp_client.call_tool("kafka_mirror", {"source_cluster": "a", "topics": "("}), "regular")


async def test_active_active_prefixes_and_does_not_loop(
    mcp_client: Any, admin_a: Any, admin_b: Any, service_env: ServiceEnv
) -> None:
    suffix = unique("aa")
    east, west = f"east-{suffix}", f"west-{suffix}"
    create_topic(admin_a, east)
    create_topic(admin_b, west)
    sent_east = _produce(service_env.a_bootstrap, east, 3)
    sent_west = _produce(service_env.b_bootstrap, west, 4)

    done = structured(
        await mcp_client.call_tool(
            "kafka_mirror", {"source_cluster": "a", "topics": f".*-{suffix}", "groups": "none", "mode": "active-active"}
        )
    )
    assert [(d["source"], d["target"]) for d in done["deployments"]] == [("a", "b"), ("b", "a")]
    assert [c["error"] for d in done["deployments"] for c in d["connectors"]] == [None] * 6

    assert len(read_all(service_env.b_bootstrap, f"a.{east}", len(sent_east), timeout=90)) == len(sent_east)
    assert len(read_all(service_env.a_bootstrap, f"b.{west}", len(sent_west), timeout=90)) == len(sent_west)
    # The copies match the pattern too, but MM2 never sends a topic back to the cluster it came from.
    await anyio.sleep(12)  # longer than one topic refresh of the connectors (10 s)
    assert f"b.a.{east}" not in _topics(admin_a) and f"a.b.{west}" not in _topics(admin_b)

    back = structured(await mcp_client.call_tool("kafka_mirror_status", {"source_cluster": "b", "cluster": "a"}))
    assert [t["source_topic"] for t in back["topics"]] == [west]
