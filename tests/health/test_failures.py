"""Broker failures on the dedicated ``pytest-chaos`` cluster: a SIGKILLed leader loses nothing and duplicates
nothing, health shows the damage and the recovery; two brokers down refuse acks=all writes with a clear error.

Only brokers 2 and 3 are killed (node 1 is the cluster's only controller, see conftest). Every test restarts what
it stopped, in ``finally``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import anyio
import pytest

from tests.conftest import ClusterHandle, unique
from tests.health.conftest import CHAOS, wait_brokers
from tests.helpers import structured

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]


def _create(admin: Any, topic: str, assignment: list[list[int]]) -> None:
    from confluent_kafka.admin import NewTopic

    new = NewTopic(
        topic, num_partitions=len(assignment), replica_assignment=assignment, config={"min.insync.replicas": "2"}
    )
    for fut in admin.create_topics([new]).values():
        fut.result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        parts = admin.list_topics(topic, timeout=5).topics[topic].partitions
        if len(parts) == len(assignment) and all(len(p.isrs) == 3 and p.leader >= 0 for p in parts.values()):
            return
        time.sleep(0.2)
    raise AssertionError(f"topic {topic} not fully in sync after creation")


def _read_values(bootstrap: str, topic: str, partitions: int) -> list[int]:
    """Every value of the topic, read by an independent read_committed consumer until idle at the end."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("verify"),
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "log_level": 0,
        }
    )
    values: list[int] = []
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        idle, started = 0, time.monotonic()
        while time.monotonic() - started < 60:
            batch = consumer.consume(1000, timeout=0.5)
            values += [int(m.value()) for m in batch if m.error() is None]
            idle = 0 if batch else idle + 1
            if idle >= 4 and (values or time.monotonic() - started > 10):
                break
    finally:
        consumer.close()
    return values


class _Writer:
    """An idempotent acks=all producer writing increasing integers until stopped; remembers what was acked."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from confluent_kafka import Producer

        self.topic = topic
        self.acked: list[int] = []
        self.errors: list[str] = []
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "linger.ms": 5,
                "message.timeout.ms": 120000,
                "log_level": 0,
            }
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        seq = 0
        while not self._stop.is_set():
            value = seq

            def done(err: Any, _msg: Any, value: int = value) -> None:
                if err is None:
                    self.acked.append(value)
                else:
                    self.errors.append(str(err))

            self.producer.produce(self.topic, str(value).encode(), on_delivery=done)
            seq += 1
            self.producer.poll(0.004)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.producer.flush(120)

    async def wait_acked(self, count: int, limit: float = 60) -> None:
        with anyio.fail_after(limit):
            while len(self.acked) < count:
                await anyio.sleep(0.1)


async def _health(client: Any) -> dict[str, Any]:
    result: dict[str, Any] = structured(await client.call_tool("kafka_cluster_health", {}))
    return result


def _leader(admin: Any, topic: str) -> int:
    return int(admin.list_topics(topic, timeout=5).topics[topic].partitions[0].leader)


async def test_leader_kill_loses_nothing_and_health_tracks_it(
    chaos_cluster: ClusterHandle, chaos_client: Any, chaos_admin: Any
) -> None:
    from devcluster.cluster import start_node, stop_node

    assert chaos_cluster.home is not None
    topic = unique("failover")
    _create(chaos_admin, topic, [[2, 3, 1]])  # preferred leader 2, a killable broker
    leader = _leader(chaos_admin, topic)
    assert leader == 2
    writer = _Writer(chaos_cluster.bootstrap_servers, topic)
    writer.start()
    try:
        await writer.wait_acked(300)
        stop_node(chaos_cluster.home, CHAOS, leader, hard=True)  # SIGKILL: a crash, not a clean shutdown
        before_kill = len(writer.acked)
        # writes go on through the new leader once the controller has fenced the dead broker
        await writer.wait_acked(before_kill + 300, limit=90)
        with anyio.fail_after(60):
            while True:
                health = await _health(chaos_client)
                if health["metrics"]["under_replicated_partitions"] >= 1:
                    break
                await anyio.sleep(0.5)
        assert health["verdict"] in ("degraded", "critical")
        assert {b["id"]: b["up"] for b in health["brokers"]}[leader] is False
        bad = {(p["topic"], p["partition"]): p for p in health["problem_partitions"]}
        assert "under_replicated" in bad[(topic, 0)]["problems"]
        assert leader not in bad[(topic, 0)]["isr"]
        assert any(r["check"] == "under_replicated" for r in health["reasons"])
    finally:
        start_node(chaos_cluster.home, CHAOS, leader, heap="384m")
    try:
        wait_brokers(chaos_cluster.bootstrap_servers, 3)
        after_restart = len(writer.acked)
        await writer.wait_acked(after_restart + 300, limit=90)
    finally:
        writer.stop()

    # the restarted broker catches up and rejoins every ISR; a preferred election gives it its leadership back
    with anyio.fail_after(90):
        while True:
            health = await _health(chaos_client)
            if health["metrics"]["under_replicated_partitions"] == 0:
                break
            await anyio.sleep(1)
    elected = structured(await chaos_client.call_tool("kafka_elect_leaders", {}))
    assert elected["failed"] == 0
    with anyio.fail_after(30):
        while _leader(chaos_admin, topic) != 2:
            await anyio.sleep(0.5)
    health = await _health(chaos_client)
    assert health["verdict"] == "healthy", health["reasons"]
    assert health["metrics"]["replication_state"] == "in_sync"
    assert all(b["up"] for b in health["brokers"])

    # every acknowledged record exactly once: zero loss, zero duplicates
    values = _read_values(chaos_cluster.bootstrap_servers, topic, 1)
    counts = Counter(values)
    missing = set(writer.acked) - set(counts)
    duplicates = {v: n for v, n in counts.items() if n > 1}
    assert len(writer.acked) >= 900
    assert not missing, f"{len(missing)} acknowledged records lost"
    assert not duplicates, f"duplicates: {list(duplicates.items())[:10]}"


def _isr_size(admin: Any, topic: str) -> int | None:
    """The ISR size of partition 0, or None while the metadata request times out (its brokers just died)."""
    from confluent_kafka import KafkaException

    try:
        return len(admin.list_topics(topic, timeout=5).topics[topic].partitions[0].isrs)
    except KafkaException:
        return None


async def test_two_brokers_down_refuse_acks_all_and_lose_nothing(
    chaos_cluster: ClusterHandle, chaos_client: Any, chaos_admin: Any
) -> None:
    from confluent_kafka import KafkaException, Producer

    from core.errors import translate_kafka_error
    from devcluster.cluster import start_node, stop_node

    assert chaos_cluster.home is not None
    topic = unique("twodown")
    _create(chaos_admin, topic, [[2, 3, 1]])
    producer = Producer(
        {
            "bootstrap.servers": chaos_cluster.bootstrap_servers,
            "acks": "all",
            "enable.idempotence": True,
            "log_level": 0,
        }
    )
    acked: list[int] = []
    for i in range(200):
        producer.produce(
            topic, str(i).encode(), on_delivery=lambda err, msg: acked.append(int(msg.value())) if err is None else None
        )
    producer.flush(30)
    assert len(acked) == 200
    try:
        stop_node(chaos_cluster.home, CHAOS, 2, hard=True)
        stop_node(chaos_cluster.home, CHAOS, 3, hard=True)
        with anyio.fail_after(60):  # the controller shrinks the ISR to the one broker left
            while _isr_size(chaos_admin, topic) != 1:
                await anyio.sleep(0.5)

        health = await _health(chaos_client)
        assert health["verdict"] == "critical"
        assert health["metrics"]["under_min_isr_partitions"] >= 1
        assert any(r["check"] == "under_min_isr" for r in health["reasons"])

        # the broker's answer, without retries: NOT_ENOUGH_REPLICAS, translated into a clear message
        plain = Producer(
            {
                "bootstrap.servers": chaos_cluster.bootstrap_servers,
                "acks": "all",
                "enable.idempotence": False,
                "retries": 0,
                "log_level": 0,
            }
        )
        errors: list[Any] = []
        plain.produce(topic, b"-1", on_delivery=lambda err, msg: errors.append(err))
        plain.flush(30)
        assert errors and errors[0] is not None and errors[0].name() == "NOT_ENOUGH_REPLICAS"
        message = str(translate_kafka_error(KafkaException(errors[0]), what=f"produce to {topic!r}"))
        assert "not enough in-sync replicas" in message

        # through the tool, with an idempotent acks=all producer that retries until its delivery timeout
        result = structured(
            await chaos_client.call_tool(
                "kafka_perf_test",
                {"topic": topic, "num_records": 20, "record_size": 16, "delivery_timeout_ms": 5000},
            )
        )
        assert result["acknowledged"] == 0 and result["errors"] == 20
        assert "not enough in-sync replicas" in result["diagnosis"]
        assert "min.insync.replicas 2" in result["diagnosis"]
    finally:
        start_node(chaos_cluster.home, CHAOS, 2, heap="384m")
        start_node(chaos_cluster.home, CHAOS, 3, heap="384m")
    wait_brokers(chaos_cluster.bootstrap_servers, 3)
    values = _read_values(chaos_cluster.bootstrap_servers, topic, 1)
    assert set(acked) <= set(values), "an acknowledged record was lost"
    assert len(values) == len(set(values)) == 200
    with anyio.fail_after(90):  # leave the cluster in sync for the next test
        while (await _health(chaos_client))["metrics"]["under_replicated_partitions"]:
            await anyio.sleep(1)
