"""``kafka-agent exporter``: Prometheus metrics for consumer lag and replication health, read on every scrape.

Each scrape asks every configured cluster (or the ones named with ``--cluster``) for: the cluster health picture
(brokers, under-replicated / under-min-ISR / offline partitions, leader imbalance, per-topic partition skew), and
the committed offsets of every consumer group against the log end offsets (the groups area's batched lag
computation: one offsets request per group, all in flight at once, one ``list_offsets`` for every partition).
A cluster that does not answer reports ``kafka_exporter_scrape_success 0`` and the others still report.

Metric names (all carry a ``cluster`` label) are what ``monitoring/grafana-dashboard.json`` is built on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from core.kafka.clients import KafkaClients

log = logging.getLogger("kafka_agent.exporter")

PREFIX = "kafka"


def group_lag(admin: Any, *, cluster: str, timeout: float) -> dict[tuple[str, str, int], tuple[int, int]]:
    """(group, topic, partition) -> (committed offset, log end offset) for every committed partition of every group.

    The groups area's lag computation (``core.kafka.lag``), with fresh end offsets on every scrape.
    """
    from core.kafka.lag import EndOffsetCache, consumer_lag

    report = consumer_lag(admin, cluster=cluster, cache=EndOffsetCache(ttl=0), timeout=timeout)
    out: dict[tuple[str, str, int], tuple[int, int]] = {}
    for group in report.groups:
        if group.error:
            log.warning("lag of group %s: %s", group.group_id, group.error)
        for topic in group.topics:
            for row in topic.partitions:
                if row.committed is not None and row.log_end is not None:
                    out[(group.group_id, row.topic, row.partition)] = (row.committed, row.log_end)
    return out


class KafkaCollector:
    """A prometheus-client collector that reads the clusters on each scrape."""

    def __init__(self, clients: KafkaClients, clusters: list[str]) -> None:
        self.clients = clients
        self.clusters = clusters

    def describe(self) -> list[Metric]:
        return []  # metrics are only known at scrape time; skip the registration-time collect

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        from core.kafka.health import health_of

        def gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"{PREFIX}_{name}", doc, labels=["cluster", *labels])

        brokers = gauge("cluster_brokers", "Brokers answering in the cluster.", [])
        urp = gauge("cluster_under_replicated_partitions", "Partitions whose ISR is smaller than the replica set.", [])
        under_min = gauge(
            "cluster_under_min_isr_partitions",
            "Partitions with fewer in-sync replicas than min.insync.replicas (acks=all writes fail).",
            [],
        )
        offline = gauge("cluster_offline_partitions", "Partitions without a leader.", [])
        imbalance = gauge("cluster_preferred_leader_imbalance", "Partitions not led by their preferred replica.", [])
        skew = gauge("topic_partition_skew", "max/avg records per partition of a topic.", ["topic"])
        lag = gauge("consumergroup_lag", "Log end offset minus committed offset.", ["group", "topic", "partition"])
        lag_sum = gauge("consumergroup_lag_sum", "Lag summed over a topic's partitions.", ["group", "topic"])
        current = gauge("consumergroup_current_offset", "Committed offset.", ["group", "topic", "partition"])
        end = gauge("topic_partition_current_offset", "Log end offset of a consumed partition.", ["topic", "partition"])
        duration = gauge("exporter_scrape_duration_seconds", "Time this scrape spent on the cluster.", [])
        success = gauge("exporter_scrape_success", "1 when the cluster answered this scrape, else 0.", [])
        for name in self.clusters:
            started = time.perf_counter()
            ok = 1.0
            try:
                cfg = self.clients.cluster(name)
                admin = self.clients.admin(cfg.name)
                timeout = self.clients.settings.request_timeout_s
                health = health_of(self.clients, cfg.name, budget=timeout)
                m = health.metrics
                brokers.add_metric([name], m.broker_count)
                urp.add_metric([name], m.under_replicated_partitions)
                under_min.add_metric([name], m.under_min_isr_partitions)
                offline.add_metric([name], m.offline_partitions)
                imbalance.add_metric([name], m.preferred_leader_imbalance)
                for row in health.topics:
                    if row.partition_skew is not None and not row.topic.startswith("__"):
                        skew.add_metric([name, row.topic], row.partition_skew)
                sums: dict[tuple[str, str], int] = {}
                ends_seen: set[tuple[str, int]] = set()
                for (g, t, p), (off, hw) in sorted(group_lag(admin, cluster=cfg.name, timeout=timeout).items()):
                    value = max(0, hw - off)
                    lag.add_metric([name, g, t, str(p)], value)
                    current.add_metric([name, g, t, str(p)], off)
                    sums[(g, t)] = sums.get((g, t), 0) + value
                    if (t, p) not in ends_seen:
                        ends_seen.add((t, p))
                        end.add_metric([name, t, str(p)], hw)
                for (g, t), total in sorted(sums.items()):
                    lag_sum.add_metric([name, g, t], total)
            except Exception as exc:
                ok = 0.0
                log.warning("scrape of cluster %s failed: %s", name, exc)
            duration.add_metric([name], time.perf_counter() - started)
            success.add_metric([name], ok)
        yield from (brokers, urp, under_min, offline, imbalance, skew, lag, lag_sum, current, end, duration, success)


def start(settings: Any, *, host: str, port: int, clusters: list[str] | None = None) -> tuple[Any, Any, Any]:
    """Serve /metrics on host:port in a background thread. Returns (http server, thread, KafkaClients)."""
    from prometheus_client import CollectorRegistry, start_http_server

    from core.kafka.clients import KafkaClients

    names = clusters or sorted(settings.clusters())
    for n in names:
        settings.cluster(n)  # an unknown name fails now, with the configured ones listed
    clients = KafkaClients(settings)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(KafkaCollector(clients, names))  # type: ignore[arg-type]
    server, thread = start_http_server(port, addr=host, registry=registry)
    return server, thread, clients
