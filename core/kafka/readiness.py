"""Production-readiness audit of an existing cluster: the policy rules applied to what is there, plus health checks
(under-replicated and offline partitions, ISR below min.insync.replicas, broker count, consumer lag) and the agent's
success criteria, with a score and a fix per finding."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from core.errors import InvalidArgument, KafkaAgentError, translate_kafka_error
from core.gate.policies import RULES_BY_NAME, Finding, evaluate, severity_of
from core.kafka._futures import metadata, wait
from core.kafka.racks import rack_note

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

AuditSeverity = Literal["critical", "warning", "info"]
_WEIGHT = {"critical": 3, "warning": 1, "info": 0}
_TOPIC_RULES = (
    "replication-factor-min",
    "min-insync-replicas-min",
    "min-insync-above-replication",
    "unclean-leader-election",
    "unlimited-retention",
    "single-partition-high-throughput",
)


class AuditFinding(BaseModel):
    rule: str
    severity: AuditSeverity
    resource_type: Literal["cluster", "topic", "group", "schema_registry"]
    resource: str
    message: str
    why: str
    fix: str = Field(description="What to do about it, as a concrete call or setting.")


class Criterion(BaseModel):
    criterion: str
    status: Literal["met", "not_met", "not_checkable"]
    detail: str


class ReadinessReport(BaseModel):
    cluster: str
    profile: str = Field(description="The profile the cluster was judged against.")
    score: int = Field(description="0-100: share of weighted checks passed (critical checks weigh 3, warnings 1).")
    brokers: int
    topics_checked: int
    groups_checked: int
    checks_passed: int
    checks_total: int
    findings: list[AuditFinding]
    criteria: list[Criterion] = Field(description="The agent's success criteria, as far as the cluster shows them.")
    notes: list[str] = Field(default_factory=list)


def _level(severity: str) -> AuditSeverity:
    return "critical" if severity == "refuse" else "warning" if severity == "warn" else "info"


def _topic_fix(rule: str, topic: str, rf: int) -> str:
    fixes: dict[str, Callable[[], str]] = {
        "replication-factor-min": lambda: (
            f"Raise {topic!r} to replication factor 3 with a partition reassignment (kafka-reassign-partitions), "
            "or recreate it with replication_factor=3 and min.insync.replicas=2."
        ),
        "min-insync-replicas-min": lambda: (
            f"kafka_alter_topic_config(topic={topic!r}, set_configs={{'min.insync.replicas': '2'}})"
            + ("" if rf >= 3 else " after raising the replication factor to 3")
        ),
        "min-insync-above-replication": lambda: (
            f"kafka_alter_topic_config(topic={topic!r}, set_configs={{'min.insync.replicas': '{max(rf - 1, 1)}'}})"
        ),
        "unclean-leader-election": lambda: (
            f"kafka_alter_topic_config(topic={topic!r}, set_configs={{'unclean.leader.election.enable': 'false'}})"
        ),
        "unlimited-retention": lambda: (
            f"kafka_alter_topic_config(topic={topic!r}, set_configs={{'retention.ms': '604800000'}}) "
            "(7 days), or cleanup.policy=compact for keyed state"
        ),
        "single-partition-high-throughput": lambda: (
            f"kafka_add_partitions(topic={topic!r}, total_count=12) if it carries volume "
            "(keyed records then map to other partitions)"
        ),
    }
    return fixes[rule]()


class _Tally:
    def __init__(self) -> None:
        self.total = 0
        self.failed = 0
        self.checks = 0
        self.passed = 0
        self.findings: list[AuditFinding] = []

    def check(self, severity: AuditSeverity, failures: list[AuditFinding]) -> None:
        weight = _WEIGHT[severity]
        self.checks += 1
        self.total += weight
        if failures:
            self.failed += weight
            self.findings.extend(failures)
        else:
            self.passed += 1

    def score(self) -> int:
        return 100 if self.total == 0 else round(100 * (self.total - self.failed) / self.total)


def _config_map(entries: dict[str, Any]) -> dict[str, str]:
    return {k: str(v.value) for k, v in entries.items() if v.value is not None}


def _describe_configs(admin: AdminClient, kind: str, names: list[str], timeout: float) -> dict[str, dict[str, str]]:
    from confluent_kafka.admin import ConfigResource, ResourceType

    if not names:
        return {}
    futures = admin.describe_configs([ConfigResource(ResourceType[kind], n) for n in names], request_timeout=timeout)
    out: dict[str, dict[str, str]] = {}
    for resource, future in futures.items():
        try:
            out[resource.name] = _config_map(future.result(timeout=timeout + 1))
        except Exception:  # a topic deleted meanwhile: skip it rather than fail the audit
            continue
    return out


def _audit_topics(
    tally: _Tally, meta: Any, configs: dict[str, dict[str, str]], topics: list[str], profile: str
) -> dict[str, int]:
    """Policy rules and partition health per topic; returns the count of findings per rule."""
    counts: dict[str, int] = {}
    for name in topics:
        tmeta = meta.topics[name]
        parts = list(tmeta.partitions.values())
        rf = max((len(p.replicas) for p in parts), default=0)
        conf = configs.get(name)
        if conf is None:
            continue
        details = {"partitions": len(parts), "replication_factor": rf, "configs": conf, "profile": profile}
        found: dict[str, list[Finding]] = {}
        for f in evaluate("topic.audit", details, profile=profile):
            found.setdefault(f.rule, []).append(f)
        for rule in _TOPIC_RULES:
            sev = _level(severity_of(rule, profile))
            hits = [
                AuditFinding(
                    rule=rule,
                    severity=sev,
                    resource_type="topic",
                    resource=name,
                    message=f.message,
                    why=f.why,
                    fix=_topic_fix(rule, name, rf),
                )
                for f in found.get(rule, [])
            ]
            if sev != "info":
                tally.check(sev, hits[:1])
                if hits:
                    counts[rule] = counts.get(rule, 0) + 1
        min_isr = int(conf.get("min.insync.replicas", "1") or 1)
        offline = sorted(p.id for p in parts if p.leader is None or p.leader < 0)
        under = sorted(p.id for p in parts if len(p.isrs) < len(p.replicas))
        below = sorted(p.id for p in parts if len(p.isrs) < min_isr)
        health = [
            (
                "offline-partitions",
                offline,
                "Partitions without a leader: nobody can read or write them.",
                "Bring the replicas' brokers back (kafka-agent dev-cluster status / broker logs); "
                "avoid unclean election.",
            ),
            (
                "under-replicated-partitions",
                under,
                "Partitions whose ISR is smaller than their replica set.",
                "Find the lagging or down broker (kafka_describe_topic shows which replicas are missing from the ISR).",
            ),
            (
                "isr-below-min-insync",
                below,
                "Partitions with fewer in-sync replicas than min.insync.replicas reject every acks=all write.",
                "Restore the missing brokers, or lower min.insync.replicas only temporarily and knowingly.",
            ),
        ]
        for rule, bad, why, fix in health:
            sev = "critical" if profile == "production" or rule == "offline-partitions" else "warning"
            hits = []
            if bad:
                hits.append(
                    AuditFinding(
                        rule=rule,
                        severity=sev,
                        resource_type="topic",
                        resource=name,
                        message=f"Partition(s) {bad[:20]} of {name!r}" + (" and more" if len(bad) > 20 else ""),
                        why=why,
                        fix=fix,
                    )
                )
                counts[rule] = counts.get(rule, 0) + 1
            tally.check(sev, hits)
    return counts


def _audit_broker(tally: _Tally, brokers: int, broker_conf: dict[str, str], profile: str) -> None:
    prod = profile == "production"
    sev: AuditSeverity = "critical" if prod else "warning"
    if profile != "dev":
        hits = []
        if brokers < 3:
            hits.append(
                AuditFinding(
                    rule="broker-count",
                    severity=sev,
                    resource_type="cluster",
                    resource="brokers",
                    message=f"The cluster has {brokers} broker(s); replication factor 3 needs at least 3.",
                    why="One broker failure must not stop or lose data.",
                    fix="Run at least 3 brokers (ideally in different racks/zones).",
                )
            )
        tally.check(sev, hits)
    checks: list[tuple[str, Callable[[str], bool], str, str, str]] = [
        (
            "default.replication.factor",
            lambda v: int(v) >= 3,
            "default-replication-factor",
            "Topics created without an explicit factor (auto-created ones too) get this many copies.",
            "Set default.replication.factor=3 on the brokers.",
        ),
        (
            "min.insync.replicas",
            lambda v: int(v) >= 2,
            "default-min-insync-replicas",
            "Topics without their own min.insync.replicas inherit the broker's.",
            "Set min.insync.replicas=2 on the brokers.",
        ),
        (
            "unclean.leader.election.enable",
            lambda v: v.lower() != "true",
            "broker-unclean-leader-election",
            "Unclean election on the brokers applies to every topic without its own setting.",
            "Set unclean.leader.election.enable=false on the brokers.",
        ),
        (
            "auto.create.topics.enable",
            lambda v: v.lower() != "true",
            "auto-create-topics",
            "Auto-created topics bypass review and get default partitions and replication.",
            "Set auto.create.topics.enable=false and create topics explicitly (kafka_create_topic).",
        ),
    ]
    if profile == "dev" or not broker_conf:
        return
    for key, ok, rule, why, fix in checks:
        value = broker_conf.get(key)
        if value is None:
            continue
        try:
            good = ok(value)
        except ValueError:
            good = True
        level: AuditSeverity = "warning" if rule == "auto-create-topics" or not prod else "critical"
        hits = (
            []
            if good
            else [
                AuditFinding(
                    rule=rule,
                    severity=level,
                    resource_type="cluster",
                    resource="broker defaults",
                    message=f"{key}={value}",
                    why=why,
                    fix=fix,
                )
            ]
        )
        tally.check(level, hits)


def _audit_racks(
    tally: _Tally, admin: AdminClient, meta: Any, topics: list[str], profile: str, timeout: float, notes: list[str]
) -> None:
    """Replicas sharing a rack while another rack is free (judged only when the brokers have racks)."""
    try:
        desc = wait(admin.describe_cluster(request_timeout=timeout), what="describe cluster", timeout=timeout + 1)
    except KafkaAgentError as exc:
        notes.append(f"Racks not checked: {exc}")
        return
    note = rack_note(meta, topics, {n.id: n.rack for n in desc.nodes})
    if not any(n.rack for n in desc.nodes):
        return
    sev: AuditSeverity = "critical" if profile == "production" else "warning"
    hits = []
    if note is not None:
        hits.append(
            AuditFinding(
                rule="replicas-share-rack",
                severity=sev,
                resource_type="cluster",
                resource="rack placement",
                message=note.message,
                why="Racks (zones) fail together; replicas in one rack can all be lost at once.",
                fix=note.fix,
            )
        )
    tally.check(sev, hits)


def _group_lag(admin: AdminClient, group: str, timeout: float) -> int:
    from confluent_kafka import ConsumerGroupTopicPartitions

    from core.kafka.offsets import list_offsets

    futures = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=timeout)
    result = wait(next(iter(futures.values())), what=f"list offsets of group {group!r}", timeout=timeout + 1)
    committed = {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions if tp.offset >= 0}
    if not committed:
        return 0
    ends = list_offsets(admin, list(committed), "latest", timeout=timeout, read_committed=False)
    return sum(max(0, ends[tp] - off) for tp, off in committed.items() if tp in ends)


def _audit_groups(
    tally: _Tally, admin: AdminClient, *, timeout: float, lag_threshold: int, max_groups: int, notes: list[str]
) -> int:
    try:
        listed = wait(admin.list_consumer_groups(request_timeout=timeout), what="list consumer groups", timeout=timeout)
    except KafkaAgentError as exc:
        notes.append(f"Consumer groups not checked: {exc}")
        return 0
    groups = sorted(listed.valid, key=lambda g: g.group_id)
    if len(groups) > max_groups:
        notes.append(f"Only the first {max_groups} of {len(groups)} consumer groups were checked for lag.")
    checked = 0
    for g in groups[:max_groups]:
        try:
            lag = _group_lag(admin, g.group_id, timeout)
        except KafkaAgentError as exc:
            notes.append(f"Lag of group {g.group_id!r} not checked: {exc.message}")
            continue
        checked += 1
        state = str(getattr(g.state, "name", g.state))
        hits = []
        if lag > lag_threshold:
            hits.append(
                AuditFinding(
                    rule="consumer-lag",
                    severity="warning",
                    resource_type="group",
                    resource=g.group_id,
                    message=f"Group {g.group_id!r} ({state}) is {lag} records behind (threshold {lag_threshold}).",
                    why="Lag means delayed, stale processing; unbounded lag ends in data aging out unread.",
                    fix="Scale the group's consumers up to the partition count, or add partitions; "
                    "check for a stuck consumer if the group is EMPTY.",
                )
            )
        tally.check("warning", hits)
    return checked


def _audit_registry(tally: _Tally, url: str | None, profile: str, timeout: float, notes: list[str]) -> str | None:
    """The registry's global compatibility level, or None when unknown."""
    if not url:
        notes.append("No schema registry is configured for this cluster: schema compatibility not checked.")
        return None
    import httpx

    try:
        resp = httpx.get(f"{url.rstrip('/')}/config", timeout=min(timeout, 5.0))
        level = str(resp.json().get("compatibilityLevel") or resp.json().get("compatibility") or "")
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        notes.append(f"The schema registry at {url} did not answer: {exc}")
        return None
    sev: AuditSeverity = "critical" if profile == "production" else "warning"
    hits = []
    if level.upper() in ("NONE", ""):
        hits.append(
            AuditFinding(
                rule="schema-compatibility",
                severity=sev,
                resource_type="schema_registry",
                resource=url,
                message=f"The registry's global compatibility level is {level or 'unknown'}.",
                why=RULES_BY_NAME["schema-compatibility"].why,
                fix="Set the global compatibility to BACKWARD (or FULL) in the registry.",
            )
        )
    tally.check(sev, hits)
    return level


def audit_cluster(
    admin: AdminClient,
    *,
    cluster_name: str,
    profile: str,
    timeout: float,
    topic_pattern: str | None = None,
    include_groups: bool = True,
    lag_threshold: int = 100_000,
    max_groups: int = 50,
    schema_registry_url: str | None = None,
) -> ReadinessReport:
    """Check every non-internal topic (matching ``topic_pattern``), the broker defaults and the consumer groups."""
    try:
        matcher = re.compile(topic_pattern) if topic_pattern else None
    except re.error as exc:
        raise InvalidArgument(f"topic_pattern {topic_pattern!r} is not a valid regular expression: {exc}.") from None
    meta = metadata(admin, timeout=timeout)
    topics = sorted(
        n for n in meta.topics if not n.startswith("__") and (matcher is None or matcher.search(n) is not None)
    )
    notes: list[str] = []
    tally = _Tally()
    configs = _describe_configs(admin, "TOPIC", topics, timeout)
    counts = _audit_topics(tally, meta, configs, topics, profile)
    broker_conf: dict[str, str] = {}
    if meta.brokers:
        try:
            broker_conf = _describe_configs(admin, "BROKER", [str(min(meta.brokers))], timeout).get(
                str(min(meta.brokers)), {}
            )
        except Exception as exc:
            notes.append(f"Broker configs not checked: {translate_kafka_error(exc, what='describe broker configs')}")
    _audit_broker(tally, len(meta.brokers), broker_conf, profile)
    _audit_racks(tally, admin, meta, topics, profile, timeout, notes)
    groups = (
        _audit_groups(tally, admin, timeout=timeout, lag_threshold=lag_threshold, max_groups=max_groups, notes=notes)
        if include_groups
        else 0
    )
    registry_level = _audit_registry(tally, schema_registry_url, profile, timeout, notes)
    if profile == "dev":
        notes.append(
            "Judged as a dev cluster: RF 1, min ISR 1 and one partition are allowed. Pass profile=production "
            "to see what production would require."
        )

    rf_bad = counts.get("replication-factor-min", 0) + counts.get("min-insync-replicas-min", 0)
    single = counts.get("single-partition-high-throughput", 0)
    unhealthy = sum(
        counts.get(r, 0)
        for r in (
            "unclean-leader-election",
            "offline-partitions",
            "under-replicated-partitions",
            "isr-below-min-insync",
        )
    )
    lagging = sum(1 for f in tally.findings if f.rule == "consumer-lag")
    criteria = [
        _criterion(
            "Replication factor >= 3 with min ISR = 2",
            rf_bad == 0,
            "No topic breaks it for this profile.",
            f"{rf_bad} topic finding(s) on replication factor or min ISR.",
        ),
        _criterion(
            "Topics have an appropriate partition count",
            single == 0,
            "No single-partition topic flagged.",
            f"{single} single-partition topic(s) flagged.",
        ),
        _criterion(
            "Unclean leader election off, partitions healthy",
            unhealthy == 0,
            "No unclean election, offline or under-replicated partitions.",
            f"{unhealthy} topic finding(s): see the findings.",
        ),
        _criterion(
            "Consumers keep up (lag monitored)",
            lagging == 0 if include_groups else None,
            f"{groups} group(s) checked, none above {lag_threshold} records of lag.",
            f"{lagging} group(s) above {lag_threshold} records of lag.",
            "Groups were not included in this audit.",
        ),
        _criterion(
            "Schema Registry configured with compatibility checks",
            None if registry_level is None else registry_level.upper() not in ("NONE", ""),
            f"Global compatibility {registry_level}.",
            "Global compatibility is NONE.",
            "No reachable schema registry for this cluster.",
        ),
        _criterion(
            "Producers configured with idempotence and acks=all",
            None,
            "",
            "",
            "Producer settings live in the applications: check them with kafka_check_policy(producer_config=...).",
        ),
    ]
    return ReadinessReport(
        cluster=cluster_name,
        profile=profile,
        score=tally.score(),
        brokers=len(meta.brokers),
        topics_checked=len(configs),
        groups_checked=groups,
        checks_passed=tally.passed,
        checks_total=tally.checks,
        findings=sorted(tally.findings, key=lambda f: (f.severity != "critical", f.resource_type, f.resource)),
        criteria=criteria,
        notes=notes,
    )


def _criterion(name: str, ok: bool | None, yes: str, no: str, unknown: str = "") -> Criterion:
    if ok is None:
        return Criterion(criterion=name, status="not_checkable", detail=unknown)
    return Criterion(criterion=name, status="met" if ok else "not_met", detail=yes if ok else no)
