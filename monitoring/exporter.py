"""``kafka-agent exporter``: Prometheus metrics for consumer lag and replication health, read on every scrape.

Each scrape asks every configured cluster (or the ones named with ``--cluster``) for: the cluster health picture
(brokers, under-replicated / under-min-ISR / offline partitions, leader imbalance, per-topic partition skew), and
the committed offsets of every consumer group against the log end offsets (the groups area's batched lag
computation: one offsets request per group, all in flight at once, one ``list_offsets`` for every partition).
A cluster that does not answer reports ``kafka_exporter_scrape_success 0`` and the others still report.

Lag status: every scrape adds a sample to a lag window (``core.kafka.lag_eval``, Burrow's statuses), exported per
group as ``kafka_consumergroup_status`` (0 UNKNOWN, 1 OK, 2 WARN, 3 STALL, 4 STOP, 5 ERROR) with the time lag; the
window fills after ``lag_window_s`` of scrapes. Incidents: the open incidents of a watch process (``kafka-agent
watch --metrics-port``, from its book) or of the incidents topic (``kafka-agent exporter --incidents``).

Metric names (all carry a ``cluster`` label) are what ``monitoring/grafana-dashboard.json`` is built on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from core.kafka.clients import KafkaClients
    from core.kafka.incidents import Incident
    from core.kafka.lag_eval import LagWindow

log = logging.getLogger("kafka_agent.exporter")

PREFIX = "kafka"
# The drift section: cluster -> {kind: resources that differ from the platform file}, or None when the file does
# not describe the cluster. Handed in by the command (cli/exporter.py --platform-file), which knows the platform file.
DriftCheck = Callable[[str], "dict[str, int] | None"]
# The open incidents to export: a watch process's book, or the incidents topic read on each scrape.
IncidentSource = Callable[[], "list[Incident]"]


def group_lag(
    admin: Any, *, cluster: str, timeout: float, window: LagWindow | None = None
) -> dict[tuple[str, str, int], tuple[int, int]]:
    """(group, topic, partition) -> (committed offset, log end offset) for every committed partition of every group.

    The groups area's lag computation (``core.kafka.lag``), with fresh end offsets on every scrape; fed into
    ``window`` when given.
    """
    from core.kafka.lag import EndOffsetCache, consumer_lag

    report = consumer_lag(admin, cluster=cluster, cache=EndOffsetCache(ttl=0), timeout=timeout)
    if window is not None:
        window.feed(cluster, report, at=time.time())
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

    def __init__(
        self,
        clients: KafkaClients,
        clusters: list[str],
        *,
        drift: DriftCheck | None = None,
        window: LagWindow | None = None,
        incidents: IncidentSource | None = None,
        sample_lag: bool = True,
    ) -> None:
        from core.kafka.lag_eval import LagWindow

        self.clients = clients
        self.clusters = clusters
        self.drift = drift
        s = clients.settings
        self.window = window if window is not None else LagWindow(window_s=s.lag_window_s, stop_s=s.lag_stop_s)
        # A watch process samples lag itself (into the shared window): its scrapes only read the statuses.
        self.sample_lag = sample_lag
        self.incidents = incidents

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
                feed = self.window if self.sample_lag else None
                for (g, t, p), (off, hw) in sorted(
                    group_lag(admin, cluster=cfg.name, timeout=timeout, window=feed).items()
                ):
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
        yield from self._statuses(gauge)
        if self.incidents is not None:
            yield from self._incidents(gauge)
        if self.drift is not None:
            yield from self._drift(gauge)

    def _statuses(self, gauge: Callable[[str, str, list[str]], Any]) -> Iterator[Metric]:
        """Burrow-style lag status and time lag per group, from the window."""
        from core.kafka.lag_eval import SEVERITY

        status = gauge(
            "consumergroup_status",
            "Lag status over the window: 0 UNKNOWN, 1 OK, 2 WARN, 3 STALL, 4 STOP, 5 ERROR.",
            ["group"],
        )
        time_lag = gauge(
            "consumergroup_time_lag_seconds", "How long ago the log end was where the group is.", ["group"]
        )
        now = time.time()
        for name in self.clusters:
            for g in self.window.statuses(name, now=now):
                status.add_metric([name, g.group_id], SEVERITY[g.status])
                if g.max_time_lag_s is not None:
                    time_lag.add_metric([name, g.group_id], g.max_time_lag_s)
        yield from (status, time_lag)

    def _incidents(self, gauge: Callable[[str, str, list[str]], Any]) -> Iterator[Metric]:
        assert self.incidents is not None
        one = gauge("incident_open", "1 per open incident.", ["rule", "subject", "severity", "id"])
        count = gauge("incidents_open", "Open incidents by severity.", ["severity"])
        totals: dict[tuple[str, str], int] = {}
        try:
            found = self.incidents()
        except Exception as exc:
            log.warning("reading the incidents failed: %s", exc)
            found = []
        for inc in found:
            if inc.status != "open":
                continue
            one.add_metric([inc.cluster, inc.rule, inc.subject, inc.severity, inc.id], 1.0)
            totals[(inc.cluster, inc.severity)] = totals.get((inc.cluster, inc.severity), 0) + 1
        for name in self.clusters:
            for sev in ("critical", "warning"):
                count.add_metric([name, sev], totals.get((name, sev), 0))
        yield from (one, count)

    def _drift(self, gauge: Callable[[str, str, list[str]], Any]) -> Iterator[Metric]:
        """Per cluster the file describes: resources that differ from it, per kind, and whether the check ran."""
        assert self.drift is not None
        differ = gauge("platform_drift_resources", "Managed resources that differ from the platform file.", ["kind"])
        ok = gauge("platform_drift_check_success", "1 when the drift check of the cluster ran, else 0.", [])
        for name in self.clusters:
            try:
                counts = self.drift(name)
            except Exception as exc:
                log.warning("drift check of cluster %s failed: %s", name, exc)
                ok.add_metric([name], 0.0)
                continue
            if counts is None:
                continue
            for kind, value in sorted(counts.items()):
                differ.add_metric([name, kind], value)
            ok.add_metric([name], 1.0)
        yield from (differ, ok)


def start(
    settings: Any,
    *,
    host: str,
    port: int,
    clusters: list[str] | None = None,
    drift: DriftCheck | None = None,
    window: LagWindow | None = None,
    incidents: IncidentSource | None = None,
    clients: KafkaClients | None = None,
) -> tuple[Any, Any, Any]:
    """Serve /metrics on host:port in a background thread. Returns (http server, thread, KafkaClients). A watch
    process hands in its clients, lag window and incident book."""
    from prometheus_client import CollectorRegistry, start_http_server

    from core.kafka.clients import KafkaClients

    names = clusters or sorted(settings.clusters())
    for n in names:
        settings.cluster(n)  # an unknown name fails now, with the configured ones listed
    clients = clients or KafkaClients(settings)
    registry = CollectorRegistry(auto_describe=False)
    collector = KafkaCollector(
        clients, names, drift=drift, window=window, incidents=incidents, sample_lag=window is None
    )
    registry.register(collector)  # type: ignore[arg-type]
    server, thread = start_http_server(port, addr=host, registry=registry)
    return server, thread, clients
