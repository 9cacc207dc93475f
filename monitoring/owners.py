"""Which watch process watches which cluster: one consumer group over a coordination topic.

The topic (``<watch_group>.owners``, on the home cluster, ``PARTITIONS`` partitions, created through the gate) holds
no records; its partitions are the unit of ownership. A cluster belongs to partition ``crc32(name) % PARTITIONS``,
and the group's assignment gives each partition to exactly one live member: a process watches the clusters whose
partitions it holds. When a process dies its partitions move to the others after the session timeout, and the new
owner adopts the open incidents from the incidents topic.
"""

from __future__ import annotations

import logging
import threading
import zlib
from typing import TYPE_CHECKING, Any

from core.gate import Change

if TYPE_CHECKING:
    from core.app import AppContext

log = logging.getLogger("kafka_agent.watch")
PARTITIONS = 12
SESSION_TIMEOUT_MS = 6000


def partition_of(cluster: str, partitions: int = PARTITIONS) -> int:
    return zlib.crc32(cluster.encode()) % partitions


class Owners:
    def __init__(self, app: AppContext, clusters: list[str], *, home: str | None = None) -> None:
        from confluent_kafka import Consumer

        self.app = app
        self.clusters = clusters
        self.home = app.clients.cluster(home or app.settings.watch_cluster).name
        self.topic = f"{app.settings.watch_group}.owners"
        self._ensure_topic()
        self._lock = threading.Lock()
        self._assigned: set[int] = set()
        conf: dict[str, Any] = {
            **app.clients.base_config(self.home),
            "group.id": app.settings.watch_group,
            "enable.auto.commit": False,
            "session.timeout.ms": SESSION_TIMEOUT_MS,
            "heartbeat.interval.ms": 1000,
            "partition.assignment.strategy": "roundrobin",
        }
        self._consumer = Consumer(conf)
        self._consumer.subscribe([self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke)

    def _ensure_topic(self) -> None:
        from core.kafka import topics as ktopics

        admin = self.app.clients.admin(self.home)
        meta = admin.list_topics(timeout=self.app.timeout)
        if self.topic in meta.topics:
            return
        rf = min(3, len(meta.brokers))
        configs = {"retention.ms": "3600000"}
        change = Change(
            tool="kafka-agent watch",
            cluster=self.home,
            action="topic.create",
            resource_type="topic",
            resources=[self.topic],
            arguments={"topic": self.topic, "partitions": PARTITIONS, "replication_factor": rf},
            details={"partitions": PARTITIONS, "replication_factor": rf, "configs": configs, "high_throughput": False},
        )
        self.app.gate.perform(
            change,
            lambda permit: ktopics.create_topic(
                permit,
                admin,
                self.topic,
                partitions=PARTITIONS,
                replication_factor=rf,
                configs=configs,
                validate_only=False,
                timeout=self.app.timeout,
                exist_ok=True,
            ),
        )

    def _on_assign(self, _consumer: Any, partitions: list[Any]) -> None:
        with self._lock:
            self._assigned = {p.partition for p in partitions}
        log.warning("watch group: assigned partitions %s", sorted(self._assigned))

    def _on_revoke(self, _consumer: Any, _partitions: list[Any]) -> None:
        with self._lock:
            self._assigned = set()

    def owned(self, *, timeout: float = 0.5) -> set[str]:
        """Serve the group (heartbeats, rebalances) for up to ``timeout`` s; the clusters this process owns now."""
        msg = self._consumer.poll(timeout)
        if msg is not None and msg.error() is not None:
            log.debug("watch group: %s", msg.error())
        with self._lock:
            mine = set(self._assigned)
        return {c for c in self.clusters if partition_of(c) in mine}

    def close(self) -> None:
        try:
            self._consumer.close()
        except Exception as exc:
            log.debug("closing the watch group consumer: %s", exc)
