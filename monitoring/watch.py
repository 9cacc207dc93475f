"""`kafka-agent watch`: sample every owned cluster's health, lag and broker metrics, and keep incidents.

Per watched cluster three loops run side by side, so a slow one (lag while a broker is gone, a metrics scrape on a
busy machine) never delays the others: health (``core.kafka.health.health_of``, which probes brokers directly and
answers within its budget) every ``interval``, lag (every group's committed and log end offsets into a
``LagWindow``), and broker metrics (when the cluster names a ``metrics_url`` or ``prometheus_url``). After each
health sample the rules (``monitoring.rules``) run on the latest of the three; the incident book opens, updates and
resolves incidents, and each event is written to the incidents topic through the gate (so the audit log has it
too), handed to ``on_event`` (the command starts a diagnosis run for ``opened``), and shown by the exporter.

Several watch processes share the work as one consumer group (``monitoring.owners``): each cluster belongs to one
partition of a coordination topic, and a process watches the clusters whose partitions it is assigned.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.gate import Change
from core.kafka import incidents as kincidents
from core.kafka.lag_eval import GroupStatus, LagWindow
from monitoring.incidents import Event, IncidentBook
from monitoring.rules import LATENCY_MS, Finding, health_findings, lag_findings, latency_findings

if TYPE_CHECKING:
    from core.app import AppContext
    from core.kafka.broker_metrics import BrokerMetricsReport
    from core.kafka.health import ClusterHealth
    from core.kafka.incidents import Incident

log = logging.getLogger("kafka_agent.watch")
HEALTH_RULES = {"cluster_unreachable", "broker_down", "offline_partitions", "under_min_isr", "under_replicated"}
EventSink = Callable[[Event, "Incident"], None]


@dataclass
class Latest:
    """The latest result of one sampling loop."""

    value: Any = None
    at: float = 0.0
    error: str | None = None


class IncidentWriter:
    """Writes incidents to the compacted topic on the home cluster, each write a change through the gate."""

    def __init__(self, app: AppContext, *, cluster: str | None = None, topic: str | None = None) -> None:
        from core.kafka import topics as ktopics

        self.app = app
        self.cluster = app.clients.cluster(cluster or app.settings.watch_cluster).name
        self.topic = topic or app.settings.incidents_topic
        self._lock = threading.Lock()
        admin = app.clients.admin(self.cluster)
        meta = admin.list_topics(timeout=app.timeout)
        if self.topic not in meta.topics:
            rf = min(3, len(meta.brokers))
            configs = {"cleanup.policy": "compact", "min.insync.replicas": str(min(2, rf))}
            change = Change(
                tool="kafka-agent watch",
                cluster=self.cluster,
                action="topic.create",
                resource_type="topic",
                resources=[self.topic],
                arguments={"topic": self.topic, "partitions": 1, "replication_factor": rf},
                details={"partitions": 1, "replication_factor": rf, "configs": configs, "high_throughput": False},
            )
            app.gate.perform(
                change,
                lambda permit: ktopics.create_topic(
                    permit,
                    admin,
                    self.topic,
                    partitions=1,
                    replication_factor=rf,
                    configs=configs,
                    validate_only=False,
                    timeout=app.timeout,
                    exist_ok=True,
                ),
            )
        from confluent_kafka import Producer

        conf = app.clients.base_config(self.cluster)
        self._producer = Producer({**conf, "enable.idempotence": True, "acks": "all", "linger.ms": 0})

    def write(self, event: Event, incident: Incident) -> None:
        change = Change(
            tool="kafka-agent watch",
            cluster=self.cluster,
            action="incident.write",
            resource_type="topic",
            resources=[self.topic],
            arguments={
                "incident": incident.id,
                "event": event,
                "cluster": incident.cluster,
                "rule": incident.rule,
                "subject": incident.subject,
                "summary": incident.summary,
            },
        )
        with self._lock:
            self.app.gate.perform(
                change,
                lambda permit: kincidents.publish(
                    permit, self._producer, self.topic, incident, timeout=self.app.timeout
                ),
                summarize=lambda inc: {"incident": inc.id, "status": inc.status},
            )

    def read(self, cluster: str | None = None) -> list[Incident]:
        found = kincidents.read_all(
            self.app.clients.consumer_config(self.cluster), self.topic, timeout=self.app.timeout
        )
        return [i for i in found.values() if cluster is None or i.cluster == cluster]

    def close(self) -> None:
        self._producer.flush(self.app.timeout)


class ClusterWatch:
    """The three sampling loops of one cluster and the evaluation after each health sample."""

    def __init__(self, watch: Watch, cluster: str) -> None:
        self.watch = watch
        self.cluster = cluster
        self.health = Latest()
        self.lag = Latest()
        self.metrics = Latest()
        self.samples = 0
        self._stop = threading.Event()
        cfg = watch.app.clients.cluster(cluster)
        self.profile = cfg.profile
        self.has_metrics = bool(cfg.metrics_url or cfg.prometheus_url)
        loops: list[Callable[[], None]] = [self._health_loop, self._lag_loop]
        if self.has_metrics:
            loops.append(self._metrics_loop)
        self._threads = [
            threading.Thread(target=fn, name=f"watch-{cluster}-{fn.__name__.strip('_')}", daemon=True) for fn in loops
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self, *, wait: bool = True) -> None:
        self._stop.set()
        if wait:
            for t in self._threads:
                t.join(timeout=self.watch.app.timeout + 5)

    def _every(self, interval: float, fn: Callable[[], None], what: str) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                fn()
            except Exception as exc:  # one failed sample: say so, and try again next round
                log.warning("%s sample of %s failed: %s", what, self.cluster, exc)
            self._stop.wait(max(0.05, interval - (time.monotonic() - started)))

    # --- sampling -----------------------------------------------------------------------------------------------

    def _health_loop(self) -> None:
        def sample() -> None:
            from core.kafka.health import health_of

            budget = min(self.watch.app.timeout, max(2.0, self.watch.interval * 1.5))
            try:
                health = health_of(self.watch.app.clients, self.cluster, budget=budget)
            except Exception as exc:
                self.health = Latest(None, time.time(), str(exc))
                raise
            self.health = Latest(health, time.time())
            self.samples += 1
            self.evaluate()

        self._every(self.watch.interval, sample, "health")

    def _lag_loop(self) -> None:
        from core.kafka.lag import EndOffsetCache, consumer_lag

        def sample() -> None:
            app = self.watch.app
            report = consumer_lag(
                app.clients.admin(self.cluster), cluster=self.cluster, cache=EndOffsetCache(ttl=0), timeout=app.timeout
            )
            now = time.time()
            wanted = self.watch.groups
            report.groups = [g for g in report.groups if wanted is None or wanted.search(g.group_id)]
            window = self.watch.window
            window.feed(self.cluster, report, at=now)
            present = {g.group_id for g in report.groups}
            for gone in [g for g in window.groups(self.cluster) if g not in present]:
                window.forget(self.cluster, gone)
            self.lag = Latest(window.statuses(self.cluster, now=now), now)

        self._every(self.watch.interval, sample, "lag")

    def _metrics_loop(self) -> None:
        from core.kafka.broker_metrics import broker_metrics

        def sample() -> None:
            app = self.watch.app
            cfg = app.clients.cluster(self.cluster)
            report = broker_metrics(
                self.cluster,
                metrics_url=cfg.metrics_url,
                prometheus_url=cfg.prometheus_url,
                selector=cfg.prometheus_selector,
                timeout=app.timeout,
            )
            self.metrics = Latest(report, time.time())

        self._every(max(self.watch.interval, 5.0), sample, "metrics")

    # --- judging ------------------------------------------------------------------------------------------------

    def evaluate(self) -> None:
        now = time.time()
        health: ClusterHealth | None = self.health.value
        if health is None:
            return
        findings: list[Finding] = health_findings(health)
        seen = set(HEALTH_RULES)
        if any(f.rule == "cluster_unreachable" for f in findings):
            seen = {"cluster_unreachable", "broker_down"}
        fresh = now - 3 * max(self.watch.interval, 5.0)
        if self.lag.value is not None and self.lag.at >= fresh:
            statuses: list[GroupStatus] = self.lag.value
            findings += lag_findings(statuses)
            seen.add("consumer_lag")
        report: BrokerMetricsReport | None = self.metrics.value
        if report is not None and self.metrics.at >= fresh:
            threshold = self.watch.latency_ms or LATENCY_MS.get(self.profile, LATENCY_MS["dev"])
            findings += latency_findings(report, threshold_ms=threshold)
            seen.add("request_latency")
        self.watch.handle(self.cluster, findings, now=now, seen=seen)


class Watch:
    """Watches the clusters this process owns; ``run`` until ``stop`` is set."""

    def __init__(
        self,
        app: AppContext,
        clusters: list[str],
        *,
        interval: float | None = None,
        window_s: float | None = None,
        stop_s: float | None = None,
        groups: str | None = None,
        latency_ms: float | None = None,
        writer: IncidentWriter | None = None,
        on_event: EventSink | None = None,
        coordinate: bool = True,
        watcher: str | None = None,
    ) -> None:
        import os
        import socket

        s = app.settings
        self.app = app
        self.clusters = [app.clients.cluster(c).name for c in clusters]
        self.interval = interval or s.watch_interval_s
        self.window = LagWindow(window_s=window_s or s.lag_window_s, stop_s=stop_s or s.lag_stop_s)
        self.groups = re.compile(groups) if groups else None
        self.latency_ms = latency_ms or s.watch_latency_ms
        self.watcher = watcher or f"{socket.gethostname()}:{os.getpid()}"
        self.book = IncidentBook(watcher=self.watcher)
        self.writer = writer if writer is not None else IncidentWriter(app)
        self.on_event = on_event
        self.coordinate = coordinate
        self.watches: dict[str, ClusterWatch] = {}
        self.events: list[tuple[Event, Incident]] = []  # what this process did, for the command's summary and tests
        self._retry: list[tuple[Event, Incident]] = []
        self._lock = threading.Lock()

    def handle(self, cluster: str, findings: list[Finding], *, now: float, seen: set[str]) -> None:
        for event, incident in self.book.step(cluster, findings, now=now, rules_seen=seen):
            log.warning("incident %s %s: %s", event, incident.id, incident.summary)
            with self._lock:
                self.events.append((event, incident))
            self._write(event, incident)
            if self.on_event is not None:
                try:
                    self.on_event(event, incident)
                except Exception as exc:
                    log.warning("incident hook failed for %s: %s", incident.id, exc)

    def _write(self, event: Event, incident: Incident) -> None:
        with self._lock:
            queue, self._retry = [*self._retry, (event, incident)], []
        for ev, inc in queue:
            try:
                self.writer.write(ev, inc)
            except Exception as exc:  # the home cluster may be the failing one: keep it for the next event
                log.warning("could not write incident %s (kept to retry): %s", inc.id, exc)
                with self._lock:
                    self._retry.append((ev, inc))

    def annotate(self, incident_id: str, *, run: str | None, diagnosis: str | None) -> None:
        updated = self.book.annotate(incident_id, run=run, diagnosis=diagnosis, now=time.time())
        if updated is not None:
            self._write("updated", updated)

    # --- ownership ----------------------------------------------------------------------------------------------

    def own(self, owned: set[str]) -> None:
        """Start watching the clusters newly owned (adopting their open incidents), stop the ones given up."""
        for cluster in sorted(set(self.watches) - owned):
            log.warning("giving up cluster %s", cluster)
            self.watches.pop(cluster).stop(wait=False)
            self.book.drop(cluster)
            self.window.forget(cluster)
        for cluster in sorted(owned - set(self.watches)):
            log.warning("watching cluster %s", cluster)
            try:
                self.book.adopt(self.writer.read(cluster))
            except Exception as exc:
                log.warning("could not read the open incidents of %s: %s", cluster, exc)
            cw = ClusterWatch(self, cluster)
            self.watches[cluster] = cw
            cw.start()

    def run(self, stop: threading.Event) -> None:
        from monitoring.owners import Owners

        owners = Owners(self.app, self.clusters) if self.coordinate else None
        try:
            while not stop.is_set():
                self.own(owners.owned(timeout=0.5) if owners is not None else set(self.clusters))
                stop.wait(0.5)
        finally:
            for cw in self.watches.values():
                cw.stop(wait=False)
            for cw in self.watches.values():
                cw.stop()
            self.watches.clear()
            if owners is not None:
                owners.close()
            self.writer.close()
