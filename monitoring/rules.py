"""The watch's rules: what in a cluster's health, lag statuses and broker metrics opens an incident.

Each rule gives ``Finding``s keyed by (rule, subject); the incident book (``monitoring.incidents``) opens an
incident for a finding seen ``confirm`` samples in a row and resolves it after ``clear`` samples without it.

    broker_down         a broker refuses connections or left the metadata        critical  (at once when refused)
    cluster_unreachable no broker answered a metadata request                     critical
    offline_partitions  partitions without a live leader                          critical
    under_min_isr       fewer in-sync replicas than min.insync.replicas           critical
    under_replicated    fewer in-sync replicas than replicas                      warning
    consumer_lag        a group STALL (offset not moving, lag > 0) or STOP        warning / critical
    request_latency     p99 produce or consumer-fetch time above the profile's    warning
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from core.kafka.broker_metrics import BrokerMetricsReport
    from core.kafka.health import ClusterHealth
    from core.kafka.lag_eval import GroupStatus

# p99 total time (ms) of Produce / FetchConsumer requests above which a broker is slow, by profile. A consumer fetch
# waits up to fetch.max.wait.ms (500 ms by default) when there is nothing new, so its bar is that much higher.
LATENCY_MS: dict[str, float] = {"production": 500.0, "staging": 1000.0, "dev": 3000.0}
FETCH_WAIT_MS = 500.0


@dataclass
class Finding:
    rule: str
    subject: str
    severity: Literal["critical", "warning"]
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)
    confirm: int = 2  # samples in a row before an incident opens

    @property
    def key(self) -> tuple[str, str]:
        return (self.rule, self.subject)


def health_findings(health: ClusterHealth) -> list[Finding]:
    out: list[Finding] = []
    m = health.metrics
    if any(r.check == "metadata" for r in health.reasons):
        out.append(
            Finding(
                "cluster_unreachable",
                "cluster",
                "critical",
                "No broker answered a metadata request.",
                {"not_seen": health.not_seen},
            )
        )
    for b in health.brokers:
        if b.up:
            continue
        why = b.why_down or "down"
        where = f" at {b.host}:{b.port}" if b.host else ""
        out.append(
            Finding(
                "broker_down",
                f"broker {b.id}",
                "critical",
                f"Broker {b.id}{where} is down: {why}.",
                {
                    "broker": b.id,
                    "host": b.host,
                    "port": b.port,
                    "why": why,
                    "leaders": b.leaders,
                    "replicas": b.replicas,
                },
                # A refused connection is certain (the process is gone); a fenced or slow broker is confirmed once.
                confirm=1 if "refused" in why else 2,
            )
        )
    problems = [p.model_dump() for p in health.problem_partitions[:20]]
    if m.offline_partitions:
        out.append(
            Finding(
                "offline_partitions",
                "cluster",
                "critical",
                f"{m.offline_partitions} partition(s) have no live leader: reads and writes fail.",
                {"offline_partitions": m.offline_partitions, "partitions": problems},
            )
        )
    if m.under_min_isr_partitions:
        out.append(
            Finding(
                "under_min_isr",
                "cluster",
                "critical",
                f"{m.under_min_isr_partitions} partition(s) under min.insync.replicas: acks=all writes fail.",
                {"under_min_isr_partitions": m.under_min_isr_partitions, "partitions": problems},
            )
        )
    if m.under_replicated_partitions:
        out.append(
            Finding(
                "under_replicated",
                "cluster",
                "warning",
                f"{m.under_replicated_partitions} partition(s) are under-replicated.",
                {"under_replicated_partitions": m.under_replicated_partitions, "partitions": problems},
            )
        )
    return out


def lag_findings(statuses: list[GroupStatus]) -> list[Finding]:
    out: list[Finding] = []
    for g in statuses:
        if g.status not in ("STALL", "STOP"):
            continue
        out.append(
            Finding(
                "consumer_lag",
                f"group {g.group_id}",
                "critical" if g.status == "STOP" else "warning",
                f"Consumer group {g.group_id} is {g.status}: {g.reason}.",
                {
                    "group": g.group_id,
                    "status": g.status,
                    "total_lag": g.total_lag,
                    "time_lag_s": g.max_time_lag_s,
                    "partitions": [p.model_dump() for p in g.worst[:10]],
                },
                confirm=1,  # the window already stands for the confirmation
            )
        )
    return out


def latency_findings(report: BrokerMetricsReport, *, threshold_ms: float) -> list[Finding]:
    out: list[Finding] = []
    for b in report.brokers:
        slow = {}
        for request, bar in (("Produce", threshold_ms), ("FetchConsumer", threshold_ms + FETCH_WAIT_MS)):
            p99 = b.latency_ms.get(request, {}).get("0.99")
            if p99 is not None and p99 > bar:
                slow[request] = {"p99_ms": p99, "threshold_ms": bar}
        if slow:
            shown = ", ".join(f"{r} p99 {v['p99_ms']:.0f} ms > {v['threshold_ms']:.0f} ms" for r, v in slow.items())
            out.append(
                Finding(
                    "request_latency",
                    f"broker {b.broker}",
                    "warning",
                    f"Broker {b.broker} is slow: {shown}.",
                    {"broker": b.broker, "requests": slow, "idle_ratio": b.request_handler_idle_ratio},
                    confirm=3,
                )
            )
    return out
