"""Producing and reading records for the stream tests, with plain confluent-kafka clients (not the tools)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any


def create_topic(admin: Any, name: str, partitions: int = 1) -> None:
    from confluent_kafka.admin import NewTopic

    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    futures[name].result(timeout=30)


def produce(bootstrap: str, topic: str, records: list[tuple[str, Any, int]]) -> None:
    """(key, JSON value, timestamp ms) records, idempotent producer, all acknowledged."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5})
    for key, value, ts in records:
        producer.produce(topic, key=key.encode(), value=json.dumps(value).encode(), timestamp=ts)
        producer.poll(0)
    assert producer.flush(30) == 0


def read_until(
    bootstrap: str, topic: str, done: Callable[[list[tuple[str, Any]]], bool], *, timeout: float = 90.0
) -> list[tuple[str, Any]]:
    """Every (key, value) of the topic with read_committed, from the start, until done(records) or the timeout."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"check-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    out: list[tuple[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not done(out):
            for msg in consumer.consume(500, timeout=0.5):
                if msg.error():
                    continue
                raw = msg.value()
                out.append((msg.key().decode(), json.loads(raw) if raw is not None else None))
    finally:
        consumer.close()
    return out


def read_all(bootstrap: str, topic: str, *, timeout: float = 60.0) -> list[tuple[str, Any]]:
    """Every committed (key, value) of the topic, read with read_committed up to the end of each partition.

    Call it when no transaction is open on the topic (the writer stopped), so the end is the high watermark."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"check-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    try:
        meta = consumer.list_topics(topic, timeout=10)
        parts = sorted(meta.topics[topic].partitions)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        out: list[tuple[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            positions = {tp.partition: tp.offset for tp in consumer.position([TopicPartition(topic, p) for p in parts])}
            if all(ends[p] == 0 or positions[p] >= ends[p] for p in parts):
                return out
            for msg in consumer.consume(500, timeout=0.5):
                if msg.error():
                    continue
                raw = msg.value()
                out.append((msg.key().decode(), json.loads(raw) if raw is not None else None))
        raise AssertionError(f"could not read {topic} to its end ({ends}) within {timeout}s")
    finally:
        consumer.close()


def read_audit(settings: Any) -> list[dict[str, Any]]:
    """Every line of the audit log of ``settings``."""
    path = settings.resolved_audit_log()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def topics_of(admin: Any) -> set[str]:
    return set(admin.list_topics(timeout=10).topics)


def wait_gone(admin: Any, topic: str, *, timeout: float = 30.0) -> bool:
    """Poll the metadata until the topic is gone (a deletion reaches every broker's metadata a moment later)."""
    deadline = time.monotonic() + timeout
    while topic in topics_of(admin) and time.monotonic() < deadline:
        time.sleep(0.2)
    return topic not in topics_of(admin)
