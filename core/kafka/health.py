"""Cluster health: brokers, controller, replication state, leader balance, skew, and durability against the profile.

One metadata request, one ``describe_configs`` batch and one batched ``list_offsets`` per side give the whole
picture; nothing here writes. ``elect_preferred_leaders`` is the one change (moves leadership back to the first
replica of each partition).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from core.errors import InvalidArgument, KafkaAgentError, NotFound, translate_kafka_error
from core.kafka._futures import metadata
from core.kafka.observe import Observation, observe
from core.kafka.racks import rack_note

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

    from core.gate import Permit
    from core.kafka.clients import KafkaClients

Severity = Literal["critical", "warning", "info"]
Verdict = Literal["healthy", "degraded", "critical"]

# What each profile expects of a topic: (replication factor, min.insync.replicas).
PROFILE_DURABILITY: dict[str, tuple[int, int]] = {"production": (3, 2), "staging": (2, 1), "dev": (1, 1)}
SKEW_WARN = 2.0  # max/avg records per partition
SKEW_MIN_AVG = 100  # ignore skew on nearly empty topics


class Reason(BaseModel):
    severity: Severity
    check: str = Field(description="Which check found it, e.g. brokers, under_replicated, offline, leader_imbalance.")
    message: str
    fix: str | None = Field(None, description="What to do about it, naming the tool to call where one helps.")


class BrokerHealth(BaseModel):
    id: int
    host: str | None = Field(description="Null for a broker that holds replicas but is not in the cluster now.")
    port: int | None
    up: bool
    reachable: bool | None = Field(None, description="Its address accepted a TCP connection just now (null: unknown).")
    why_down: str | None = Field(None, description="Why it counts as down: not answering, or fenced by the controller.")
    rack: str | None = None
    leaders: int = Field(description="Partitions this broker leads.")
    replicas: int = Field(description="Partition replicas this broker holds (or should hold).")
    preferred_leaders: int = Field(description="Partitions whose preferred (first) replica is this broker.")


class PartitionProblem(BaseModel):
    topic: str
    partition: int
    leader: int | None
    replicas: list[int]
    isr: list[int]
    problems: list[str] = Field(
        description="offline, leader_down (its leader's broker is down), under_min_isr, under_replicated, "
        "not_preferred_leader"
    )


class TopicHealth(BaseModel):
    topic: str
    partitions: int
    replication_factor: int
    min_insync_replicas: int | None
    unclean_leader_election: bool | None
    messages: int | None = Field(description="Records retained (sum of high - low watermarks); null if unknown.")
    partition_skew: float | None = Field(description="max/avg records per partition (1.0 = even).")
    below_profile: list[str] = Field(description="Durability settings below what the cluster's profile expects.")


class HealthMetrics(BaseModel):
    """The seed's metric names, where the cluster gives them."""

    broker_count: int
    expected_brokers: int
    under_replicated_partitions: int
    under_min_isr_partitions: int
    offline_partitions: int
    preferred_leader_imbalance: int = Field(description="Partitions not led by their preferred replica.")
    replication_state: Literal["in_sync", "under_replicated", "offline", "unknown"]
    partition_skew: float | None = Field(description="Worst max/avg records per partition over user topics.")
    leader_skew: float | None = Field(description="max/avg leaders per live broker.")


class ClusterHealth(BaseModel):
    cluster_name: str
    profile: str
    verdict: Verdict
    reasons: list[Reason]
    controller_id: int | None
    brokers: list[BrokerHealth]
    metrics: HealthMetrics
    problem_partitions: list[PartitionProblem] = Field(description="Partitions with a problem (at most 200).")
    topics: list[TopicHealth]
    seconds: float = Field(0.0, description="How long the check took.")
    not_seen: list[str] = Field(default_factory=list, description="What this check could not see in its budget.")


def _min_isr_configs(
    admin: AdminClient, topics: list[str], *, timeout: float
) -> dict[str, tuple[int | None, bool | None]]:
    """topic -> (min.insync.replicas, unclean.leader.election.enable), per topic; unknown stays None."""
    from confluent_kafka.admin import ConfigResource, ResourceType

    if not topics:
        return {}
    futures = admin.describe_configs([ConfigResource(ResourceType.TOPIC, t) for t in topics], request_timeout=timeout)
    out: dict[str, tuple[int | None, bool | None]] = {}
    for res, fut in futures.items():
        try:
            entries = fut.result(timeout=timeout + 1)
        except Exception:
            out[res.name] = (None, None)
            continue
        isr = entries.get("min.insync.replicas")
        unclean = entries.get("unclean.leader.election.enable")
        out[res.name] = (
            int(isr.value) if isr is not None and isr.value is not None else None,
            (unclean.value == "true") if unclean is not None and unclean.value is not None else None,
        )
    return out


def health_of(
    clients: KafkaClients,
    cluster: str | None,
    *,
    budget: float,
    expected_brokers: int | None = None,
    min_replication_factor: int | None = None,
    min_insync_replicas: int | None = None,
    include_internal: bool = True,
) -> ClusterHealth:
    """Observe the cluster afresh (see ``core.kafka.observe``) and judge it; remembers every broker address seen."""
    cfg = clients.cluster(cluster)
    admin = clients.fresh_admin(cfg.name)
    obs = observe(admin, known=clients.known_brokers(cfg.name), bootstrap=cfg.bootstrap_servers, budget=budget * 0.6)
    clients.remember_brokers(cfg.name, obs.addresses)
    return cluster_health(
        admin,
        obs,
        cluster_name=cfg.name,
        profile=cfg.profile,
        timeout=budget,
        expected_brokers=expected_brokers,
        min_replication_factor=min_replication_factor,
        min_insync_replicas=min_insync_replicas,
        include_internal=include_internal,
    )


def cluster_health(
    admin: AdminClient,
    obs: Observation,
    *,
    cluster_name: str,
    profile: str,
    timeout: float,
    expected_brokers: int | None = None,
    min_replication_factor: int | None = None,
    min_insync_replicas: int | None = None,
    include_internal: bool = True,
) -> ClusterHealth:
    """The whole health picture with a verdict (critical: data unavailable or unwritable; degraded; healthy), each
    reason with the fix for it. Works from what ``obs`` saw; what it could not see is a reason of its own."""
    from core.kafka.offsets import watermarks

    started = time.monotonic()
    deadline = started + max(1.0, timeout - obs.seconds)
    meta = obs.meta
    controller = obs.controller
    want_rf, want_isr = PROFILE_DURABILITY.get(profile, (1, 1))
    want_rf = min_replication_factor or want_rf
    want_isr = min_insync_replicas or want_isr
    reasons: list[Reason] = []

    topics = sorted(t for t in (meta.topics if meta is not None else {}) if include_internal or not t.startswith("__"))
    known_ids: set[int] = set(obs.addresses) | obs.registered
    if meta is not None:
        for name in topics:
            for p in meta.topics[name].partitions.values():
                known_ids.update(p.replicas)
    down = obs.down(known_ids)
    configs: dict[str, tuple[int | None, bool | None]] = {}
    if meta is not None and topics:
        try:
            configs = _min_isr_configs(admin, topics, timeout=max(1.0, min(5.0, deadline - time.monotonic())))
        except Exception as exc:  # a partial answer: judged without min.insync.replicas
            obs.gaps.append(f"topic configs: {exc}")
    leaders: Counter[int] = Counter()
    replicas: Counter[int] = Counter()
    preferred: Counter[int] = Counter()
    problems: list[PartitionProblem] = []
    urp = under_min = offline = imbalance = 0
    online_parts: list[tuple[str, int]] = []
    topic_rows: list[TopicHealth] = []
    for name in topics:
        assert meta is not None
        parts = sorted(meta.topics[name].partitions.values(), key=lambda p: p.id)
        rf = max((len(p.replicas) for p in parts), default=0)
        isr_cfg, unclean = configs.get(name, (None, None))
        for p in parts:
            for r in p.replicas:
                replicas[r] += 1
            if p.replicas:
                preferred[p.replicas[0]] += 1
            # A replica on a down broker is out of sync whatever the (not yet updated) ISR says.
            isr = [r for r in p.isrs if r not in down]
            flags = []
            if p.leader is None or p.leader < 0 or p.leader in down:
                offline += 1
                flags.append("offline" if p.leader is None or p.leader < 0 else "leader_down")
            else:
                leaders[p.leader] += 1
                online_parts.append((name, p.id))
                if p.replicas and p.leader != p.replicas[0]:
                    imbalance += 1
                    flags.append("not_preferred_leader")
            if len(isr) < len(p.replicas):
                urp += 1
                flags.append("under_replicated")
            if isr_cfg is not None and len(isr) < isr_cfg and not {"offline", "leader_down"} & set(flags):
                under_min += 1
                flags.append("under_min_isr")
            if flags and len(problems) < 200:
                problems.append(
                    PartitionProblem(
                        topic=name,
                        partition=p.id,
                        leader=p.leader if p.leader >= 0 else None,
                        replicas=list(p.replicas),
                        isr=isr,
                        problems=flags,
                    )
                )
        below = []
        if not name.startswith("__"):
            if rf < want_rf:
                below.append(f"replication.factor {rf} < {want_rf}")
            if isr_cfg is not None and isr_cfg < want_isr:
                below.append(f"min.insync.replicas {isr_cfg} < {want_isr}")
            if unclean and profile == "production":
                below.append("unclean.leader.election.enable=true (may lose acknowledged data)")
        topic_rows.append(
            TopicHealth(
                topic=name,
                partitions=len(parts),
                replication_factor=rf,
                min_insync_replicas=isr_cfg,
                unclean_leader_election=unclean,
                messages=None,
                partition_skew=None,
                below_profile=below,
            )
        )

    # Message skew from watermarks (partitions with a live leader only), when the budget allows.
    left = deadline - time.monotonic()
    marks = []
    if online_parts and left > 1.5:
        try:
            marks = watermarks(admin, online_parts, timeout=min(left - 0.5, 10.0))
        except KafkaAgentError as exc:
            obs.gaps.append(f"watermarks (message counts, skew): {exc.message}")
    elif online_parts:
        obs.gaps.append("watermarks (message counts, skew): no time left in the budget")
    worst_skew = _skew(topic_rows, marks, reasons)

    live = [b for b in sorted(known_ids) if b not in down and (b in obs.registered or meta is None)]
    brokers = [
        BrokerHealth(
            id=b,
            host=obs.addresses[b][0] if b in obs.addresses else None,
            port=obs.addresses[b][1] if b in obs.addresses else None,
            up=b not in down and (b in obs.registered or obs.answering(b) is True),
            reachable=obs.answering(b),
            why_down=down.get(b),
            rack=obs.racks.get(b),
            leaders=leaders[b],
            replicas=replicas[b],
            preferred_leaders=preferred[b],
        )
        for b in sorted(known_ids)
    ]
    expected = max(expected_brokers or 0, len(known_ids))
    up_count = sum(1 for b in brokers if b.up)

    if meta is None:
        answering = [a for a, why in obs.probes.items() if why is None]
        reasons.append(
            Reason(
                severity="critical",
                check="metadata",
                message="No broker answered a metadata request in time"
                + ("; no broker address accepts connections." if not answering else " (some accept connections)."),
                fix="Check that the brokers run (kafka-agent dev-cluster status for the local one) and that "
                "bootstrap_servers is right; partitions and topics could not be checked.",
            )
        )
    if controller is None and meta is not None:
        reasons.append(
            Reason(
                severity="warning",
                check="controller",
                message="The active controller was not reported in time (a controller election may be running).",
                fix="Call kafka_cluster_health again in a few seconds; if it persists, check the controller quorum.",
            )
        )
    if down:
        listed = "; ".join(f"broker {b}: {why}" for b, why in down.items())
        reasons.append(
            Reason(
                severity="critical",
                check="brokers",
                message=f"Broker(s) {sorted(down)} down ({listed}).",
                fix="Restart the broker(s) (kafka-agent dev-cluster up for the local cluster, else the service "
                "manager); until then their partitions run with fewer copies.",
            )
        )
    if expected_brokers and up_count < expected_brokers:
        reasons.append(
            Reason(
                severity="warning",
                check="brokers",
                message=f"{up_count} broker(s) up, {expected_brokers} expected.",
                fix="Start the missing brokers, or correct expected_brokers.",
            )
        )
    if offline:
        reasons.append(
            Reason(
                severity="critical",
                check="offline",
                message=f"{offline} partition(s) have no live leader: reads and writes fail.",
                fix="Bring back a broker of their replica set; the controller then elects a leader (an unclean "
                "election would lose data).",
            )
        )
    if under_min:
        reasons.append(
            Reason(
                severity="critical",
                check="under_min_isr",
                message=f"{under_min} partition(s) have fewer in-sync replicas than min.insync.replicas:"
                " acks=all writes fail with NOT_ENOUGH_REPLICAS.",
                fix="Bring the down brokers back; lowering min.insync.replicas (kafka_set_durability) trades "
                "durability for availability and needs a reason.",
            )
        )
    if urp:
        reasons.append(
            Reason(
                severity="warning",
                check="under_replicated",
                message=f"{urp} partition(s) are under-replicated (fewer in-sync copies than replicas).",
                fix="Restart the down brokers and wait for the replicas to catch up; kafka_describe_topic shows which "
                "replicas are behind."
                if down
                else "Wait for the replicas to catch up; if it persists, check the lagging broker's disk and network.",
            )
        )
    if imbalance:
        reasons.append(
            Reason(
                severity="info" if down else "warning",
                check="leader_imbalance",
                message=f"{imbalance} partition(s) are not led by their preferred replica (leaders per broker: "
                f"{dict(sorted(leaders.items()))}).",
                fix="Once every broker is up, run kafka_elect_leaders (a preferred leader election) to move "
                "leadership back; Kafka's own auto rebalance does it within about 5 minutes otherwise.",
            )
        )
    low = [r for r in topic_rows if r.below_profile]
    if low:
        shown = ", ".join(f"{r.topic} ({'; '.join(r.below_profile)})" for r in low[:10])
        reasons.append(
            Reason(
                severity="warning",
                check="durability",
                message=f"{len(low)} topic(s) below the {profile!r} profile: {shown}"
                + (" ..." if len(low) > 10 else ""),
                fix="Raise min.insync.replicas with kafka_set_durability; a higher replication factor needs a "
                "partition reassignment.",
            )
        )
    racks = rack_note(meta, topics, obs.racks) if meta is not None else None
    if racks is not None:
        reasons.append(Reason(severity="warning", check="rack_awareness", message=racks.message, fix=racks.fix))
    for gap in obs.gaps:
        reasons.append(
            Reason(
                severity="warning" if meta is not None else "info",
                check="not_seen",
                message=f"Not seen in this check: {gap}.",
                fix="Call kafka_cluster_health again; a controller election or a dying broker answers late.",
            )
        )
    live_leaders = [leaders[b] for b in live]
    leader_skew = None
    if live_leaders and sum(live_leaders):
        leader_skew = round(max(live_leaders) / (sum(live_leaders) / len(live_leaders)), 3)

    severities = {r.severity for r in reasons}
    verdict: Verdict = "critical" if "critical" in severities else "degraded" if "warning" in severities else "healthy"
    if not reasons:
        reasons.append(Reason(severity="info", check="all", message="All brokers up, all partitions led and in sync."))
    state: Literal["in_sync", "under_replicated", "offline", "unknown"] = (
        "unknown" if meta is None else "offline" if offline else "under_replicated" if urp else "in_sync"
    )
    return ClusterHealth(
        cluster_name=cluster_name,
        profile=profile,
        verdict=verdict,
        reasons=reasons,
        controller_id=controller,
        brokers=brokers,
        metrics=HealthMetrics(
            broker_count=up_count,
            expected_brokers=expected,
            under_replicated_partitions=urp,
            under_min_isr_partitions=under_min,
            offline_partitions=offline,
            preferred_leader_imbalance=imbalance,
            replication_state=state,
            partition_skew=worst_skew,
            leader_skew=leader_skew,
        ),
        problem_partitions=problems,
        topics=topic_rows,
        seconds=round(obs.seconds + time.monotonic() - started, 3),
        not_seen=list(obs.gaps),
    )


def _skew(topic_rows: list[TopicHealth], marks: list[Any], reasons: list[Reason]) -> float | None:
    per_topic: dict[str, list[int]] = {}
    for w in marks:
        per_topic.setdefault(w.topic, []).append(w.messages)
    worst_skew: float | None = None
    for row in topic_rows:
        counts = per_topic.get(row.topic)
        if not counts or len(counts) != row.partitions:
            continue
        row.messages = sum(counts)
        avg = row.messages / len(counts)
        row.partition_skew = round(max(counts) / avg, 3) if avg else 1.0
        if not row.topic.startswith("__") and avg >= SKEW_MIN_AVG and row.partitions > 1:
            worst_skew = max(worst_skew or 0.0, row.partition_skew)
            if row.partition_skew > SKEW_WARN:
                reasons.append(
                    Reason(
                        severity="warning",
                        check="partition_skew",
                        message=f"Topic {row.topic!r}: partition_skew {row.partition_skew} "
                        f"(max/avg records per partition); a hot key or a custom partitioner.",
                        fix="kafka_partition_strategy samples the keys; a better key or more partitions spreads it.",
                    )
                )
    return worst_skew


def isr_shortfall(admin: AdminClient, topic: str, *, timeout: float) -> list[str]:
    """Partitions of ``topic`` that cannot take acks=all writes now: offline, or ISR below min.insync.replicas."""
    meta = metadata(admin, timeout=timeout, topic=topic)
    tmeta = meta.topics.get(topic)
    if tmeta is None or tmeta.error is not None:
        return []
    min_isr, _ = _min_isr_configs(admin, [topic], timeout=timeout).get(topic, (None, None))
    out = []
    for p in sorted(tmeta.partitions.values(), key=lambda x: x.id):
        if p.leader is None or p.leader < 0:
            out.append(f"partition {p.id} is offline (no leader)")
        elif min_isr is not None and len(p.isrs) < min_isr:
            out.append(f"partition {p.id}: in-sync replicas {sorted(p.isrs)} < min.insync.replicas {min_isr}")
    return out


# --- durability and leader election ------------------------------------------------------------------------------


class DurabilitySettings(BaseModel):
    topic: str
    replication_factor: int
    min_insync_replicas: int | None
    unclean_leader_election: bool | None
    tolerates_broker_failures: int | None = Field(
        description="Brokers that can fail while acks=all writes still succeed (RF - min.insync.replicas)."
    )
    advice: list[str]


def durability(admin: AdminClient, topic: str, *, timeout: float) -> DurabilitySettings:
    meta = metadata(admin, timeout=timeout, topic=topic)
    tmeta = meta.topics.get(topic)
    if tmeta is None or tmeta.error is not None:
        raise NotFound(f"Topic {topic!r} does not exist.", hint="List the topics with kafka_list_topics.")
    rf = max((len(p.replicas) for p in tmeta.partitions.values()), default=0)
    isr, unclean = _min_isr_configs(admin, [topic], timeout=timeout).get(topic, (None, None))
    advice = []
    if rf < 3:
        advice.append(f"replication factor {rf} < 3: a broker failure can make the topic unavailable or lose data.")
    if isr is not None and isr < 2 and rf >= 2:
        advice.append("min.insync.replicas < 2: an acks=all write may live on a single broker.")
    if isr is not None and isr >= rf:
        advice.append("min.insync.replicas >= replication factor: any broker outage blocks acks=all writes.")
    if unclean:
        advice.append("unclean.leader.election.enable=true lets an out-of-sync replica lead and lose acked data.")
    return DurabilitySettings(
        topic=topic,
        replication_factor=rf,
        min_insync_replicas=isr,
        unclean_leader_election=unclean,
        tolerates_broker_failures=(rf - isr) if isr is not None else None,
        advice=advice or ["Durable: RF >= 3, min.insync.replicas >= 2 and below RF, unclean election off."],
    )


def durability_after_change(
    admin: AdminClient,
    topic: str,
    *,
    min_insync_replicas: int | None,
    unclean_leader_election: bool | None,
    timeout: float,
    settle_s: float = 10.0,
) -> DurabilitySettings:
    """The settings once the brokers report the change just made: a broker answers describe_configs from its own
    copy of the cluster metadata, which can trail an accepted alter by a moment. After ``settle_s`` the last
    answer is returned as it is."""
    deadline = time.monotonic() + min(settle_s, timeout)
    while True:
        now = durability(admin, topic, timeout=timeout)
        settled = (min_insync_replicas is None or now.min_insync_replicas == min_insync_replicas) and (
            unclean_leader_election is None or now.unclean_leader_election == unclean_leader_election
        )
        if settled or time.monotonic() >= deadline:
            return now
        time.sleep(0.2)


def check_durability_change(current: DurabilitySettings, min_insync_replicas: int | None) -> None:
    if min_insync_replicas is None:
        return
    if min_insync_replicas < 1:
        raise InvalidArgument("min_insync_replicas must be at least 1.")
    if min_insync_replicas > current.replication_factor:
        raise InvalidArgument(
            f"min_insync_replicas {min_insync_replicas} exceeds the replication factor "
            f"{current.replication_factor} of {current.topic!r}: every acks=all write would fail.",
            hint=f"Use at most {current.replication_factor} (typically RF - 1).",
        )


class ElectionResult(BaseModel):
    topic: str
    partition: int
    ok: bool
    error: str | None = None


class ElectLeadersResult(BaseModel):
    requested: int
    elected: int
    not_needed: int
    failed: int
    partitions: list[ElectionResult]


def imbalanced_partitions(admin: AdminClient, *, timeout: float, topic: str | None = None) -> list[tuple[str, int]]:
    meta = metadata(admin, timeout=timeout, topic=topic)
    if topic is not None and (topic not in meta.topics or meta.topics[topic].error is not None):
        raise NotFound(f"Topic {topic!r} does not exist.", hint="List the topics with kafka_list_topics.")
    out = []
    for name, tmeta in sorted(meta.topics.items()):
        for p in tmeta.partitions.values():
            if p.replicas and p.leader >= 0 and p.leader != p.replicas[0]:
                out.append((name, p.id))
    return sorted(out)


def elect_preferred_leaders(
    permit: Permit, admin: AdminClient, partitions: list[tuple[str, int]], *, timeout: float
) -> ElectLeadersResult:
    """Preferred leader election, per partition; ELECTION_NOT_NEEDED counts as success."""
    from confluent_kafka import ElectionType, TopicPartition

    for topic in sorted({t for t, _ in partitions}):
        permit.require("partition.leader.elect", topic)
    if not partitions:
        return ElectLeadersResult(requested=0, elected=0, not_needed=0, failed=0, partitions=[])
    # no request_timeout keyword: confluent-kafka 2.16's binding fails on any keyword argument here
    fut = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(t, p) for t, p in partitions])
    try:
        results = fut.result(timeout=timeout + 1)
    except Exception as exc:
        raise translate_kafka_error(exc, what="preferred leader election") from None
    rows, elected, not_needed, failed = [], 0, 0, 0
    for tp, err in sorted(results.items(), key=lambda kv: (kv[0].topic, kv[0].partition)):
        # a KafkaError per partition (a KafkaException in some versions), or None for success
        kerr = err.args[0] if isinstance(err, Exception) and err.args else err
        code = kerr.name() if kerr is not None and hasattr(kerr, "name") else None
        if err is None:
            elected += 1
            rows.append(ElectionResult(topic=tp.topic, partition=tp.partition, ok=True))
        elif code == "ELECTION_NOT_NEEDED":
            not_needed += 1
            rows.append(ElectionResult(topic=tp.topic, partition=tp.partition, ok=True, error="ELECTION_NOT_NEEDED"))
        else:
            failed += 1
            text = kerr.str() if hasattr(kerr, "str") else str(err)
            rows.append(ElectionResult(topic=tp.topic, partition=tp.partition, ok=False, error=f"{code}: {text}"))
    return ElectLeadersResult(
        requested=len(partitions), elected=elected, not_needed=not_needed, failed=failed, partitions=rows
    )
