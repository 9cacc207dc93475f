"""The policy engine: named rules from the agent's NEVER list, each with its reason and the compliant alternative.

A rule reads the facts of a planned change (``Change.details``, keys listed in ``core.gate``'s docstring)
and returns findings. How much a finding weighs depends on the cluster's profile::

    rule                              production  staging  dev     overridable
    single-partition-high-throughput  refuse      warn     allow*  yes
    replication-factor-min            refuse      warn     allow   no
    min-insync-replicas-min           refuse      warn     allow   no
    min-insync-above-replication      refuse      refuse   refuse  no
    unclean-leader-election           refuse      refuse   warn    no
    producer-durability               refuse      warn     warn    yes
    consumer-auto-commit              refuse      warn     warn    yes
    unlimited-retention               refuse      warn     allow   yes
    schema-compatibility              refuse      refuse   warn    no
    production-load-test              refuse      allow    allow   no

    * a topic declared high-throughput (``high_throughput`` / ``expected_msgs_per_sec``) warns in dev too.

``refuse`` stops the change with a ``PolicyViolation`` naming the rule, unless the rule is overridable and the caller
gave an ``override_reason`` (recorded in the audit log). ``warn`` lets the change through and records the warning.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

Severity = Literal["refuse", "warn", "allow"]
ProfileName = Literal["production", "staging", "dev"]

# One partition comfortably serves this many records per second; more needs more partitions.
RECORDS_PER_PARTITION_PER_S = 5_000


class Finding(BaseModel):
    """One rule that a planned change (or an existing resource) breaks."""

    rule: str = Field(description="The rule's name, e.g. 'replication-factor-min'.")
    severity: Severity = Field(description="refuse: the change is stopped; warn: allowed but flagged.")
    message: str = Field(description="What exactly breaks the rule.")
    why: str = Field(description="Why the rule exists.")
    fix: str = Field(description="The compliant alternative.")
    overridable: bool = Field(description="Whether an override_reason may let the change through.")


@dataclass(frozen=True)
class Rule:
    name: str
    title: str
    why: str
    fix: str
    overridable: bool
    severity: Mapping[str, Severity]
    check: Callable[[Facts], list[str]]  # messages; empty when the change complies

    def evaluate(self, facts: Facts) -> list[Finding]:
        level = self.severity.get(facts.profile, "refuse")
        messages = self.check(facts)
        if not messages:
            return []
        if level == "allow" and self.name == "single-partition-high-throughput" and facts.declared_high_throughput:
            level = "warn"
        if level == "allow":
            return []
        return [
            Finding(rule=self.name, severity=level, message=m, why=self.why, fix=self.fix, overridable=self.overridable)
            for m in messages
        ]


class Facts:
    """A typed view of ``Change.details`` (missing keys read as 'not part of this change')."""

    def __init__(self, action: str, details: Mapping[str, Any], profile: str) -> None:
        self.action = action
        self.details = details
        self.profile = str(details.get("profile") or profile)

    def _int(self, key: str) -> int | None:
        value = self.details.get(key)
        try:
            return int(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    @property
    def partitions(self) -> int | None:
        return self._int("partitions")

    @property
    def replication_factor(self) -> int | None:
        return self._int("replication_factor")

    def _map(self, key: str) -> dict[str, str]:
        value = self.details.get(key)
        if not isinstance(value, Mapping):
            return {}
        return {str(k): str(v).strip() for k, v in value.items() if v is not None}

    @property
    def configs(self) -> dict[str, str]:
        return self._map("configs")

    @property
    def current_configs(self) -> dict[str, str]:
        return self._map("current_configs")

    @property
    def effective_configs(self) -> dict[str, str]:
        """The topic's configs after the change: current ones, minus deleted ones, plus the new ones."""
        merged = dict(self.current_configs)
        for name in self.details.get("delete_configs") or []:
            merged.pop(str(name), None)
        merged.update(self.configs)
        return merged

    @property
    def producer_config(self) -> dict[str, str] | None:
        return self._map("producer_config") if "producer_config" in self.details else None

    @property
    def consumer_config(self) -> dict[str, str] | None:
        return self._map("consumer_config") if "consumer_config" in self.details else None

    @property
    def declared_high_throughput(self) -> bool:
        rate = self.details.get("expected_msgs_per_sec")
        return bool(self.details.get("high_throughput")) or (
            isinstance(rate, int | float) and rate > RECORDS_PER_PARTITION_PER_S
        )

    def flag(self, key: str, *, default_in_production: bool) -> bool:
        """A yes/no fact (durable, critical); when not given, production and staging assume yes."""
        value = self.details.get(key)
        if value is None:
            return default_in_production and self.profile in ("production", "staging")
        return bool(value)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes")


# --- the checks ------------------------------------------------------------------------------------------------


def _single_partition(f: Facts) -> list[str]:
    parts = f.partitions
    if parts is None or f.action not in ("topic.create", "topic.partitions.add", "topic.plan", "topic.audit"):
        return []
    rate = f.details.get("expected_msgs_per_sec")
    if isinstance(rate, int | float) and rate > 0:
        needed = max(1, math.ceil(rate / RECORDS_PER_PARTITION_PER_S))
        if parts < needed:
            return [
                f"{parts} partition(s) for about {rate:g} records/s; one partition serves about "
                f"{RECORDS_PER_PARTITION_PER_S} records/s, so at least {needed} are needed."
            ]
        return []
    if parts == 1 and f.details.get("high_throughput") is not False:
        return ["The topic would have a single partition."]
    return []


def _replication_factor(f: Facts) -> list[str]:
    rf = f.replication_factor
    if rf is None or rf < 1 or rf >= 3:
        return []
    return [f"Replication factor {rf} is below 3."]


def _min_isr(f: Facts) -> list[str]:
    out: list[str] = []
    value = f.configs.get("min.insync.replicas")
    if value is not None and value.lstrip("-").isdigit() and int(value) < 2:
        out.append(f"min.insync.replicas={value} is below 2.")
    if "min.insync.replicas" in (f.details.get("delete_configs") or []):
        out.append("Resetting min.insync.replicas falls back to the broker default (1 unless the broker sets it).")
    if f.action == "topic.create" and "min.insync.replicas" not in f.configs and f.profile == "production":
        out.append("min.insync.replicas is not set, so the broker default applies (1 unless the broker sets it).")
    return out


def _min_isr_above_rf(f: Facts) -> list[str]:
    value = f.configs.get("min.insync.replicas")
    rf = f.replication_factor
    if value is None or rf is None or not value.isdigit():
        return []
    if int(value) > rf:
        return [f"min.insync.replicas={value} exceeds the replication factor {rf}: every acks=all write would fail."]
    return []


def _unclean(f: Facts) -> list[str]:
    if _truthy(f.configs.get("unclean.leader.election.enable")):
        return ["unclean.leader.election.enable=true lets an out-of-sync replica become leader."]
    return []


def _producer(f: Facts) -> list[str]:
    conf = f.producer_config
    if conf is None or not f.flag("durable", default_in_production=True):
        return []
    out: list[str] = []
    if not _truthy(conf.get("enable.idempotence")):
        out.append(
            f"enable.idempotence is {conf.get('enable.idempotence', 'not set (librdkafka default false)')}, "
            "so retries can write duplicates."
        )
    acks = conf.get("acks", conf.get("request.required.acks", "all")).lower()
    if acks not in ("all", "-1"):
        out.append(f"acks={acks} acknowledges before every in-sync replica has the record.")
    return out


def _consumer(f: Facts) -> list[str]:
    conf = f.consumer_config
    if conf is None or not f.flag("critical", default_in_production=True):
        return []
    value = conf.get("enable.auto.commit")
    if value is None or _truthy(value):
        shown = value if value is not None else "not set (librdkafka default true)"
        return [f"enable.auto.commit is {shown} for a consumer of critical data."]
    return []


def _retention(f: Facts) -> list[str]:
    if not f.action.startswith("topic."):
        return []
    touched = {"retention.ms", "retention.bytes", "cleanup.policy"}
    if not touched & (set(f.configs) | set(f.details.get("delete_configs") or [])):
        return []
    eff = f.effective_configs
    if "compact" in eff.get("cleanup.policy", "delete"):
        return []
    if eff.get("retention.ms", "604800000") == "-1" and eff.get("retention.bytes", "-1") == "-1":
        return ["retention.ms=-1 with no size limit and no compaction keeps every record forever."]
    return []


def _schema(f: Facts) -> list[str]:
    if f.action != "schema.register" or f.details.get("compatible", True):
        return []
    reasons = [str(r) for r in f.details.get("reasons") or []]
    subject = f.details.get("subject")
    where = f" for subject {subject!r}" if subject else ""
    return [f"The new schema{where} breaks the subject's compatibility: " + ("; ".join(reasons) or "no detail given")]


def _production_load(f: Facts) -> list[str]:
    if f.action not in ("perf.test", "eos.verify") or f.details.get("allowed_by_caller"):
        return []
    if f.action == "perf.test":
        return ["A performance test writes load to a topic (a scratch topic, or the one named)."]
    return ["The exactly-once verification creates and writes two scratch topics."]


RULES: tuple[Rule, ...] = (
    Rule(
        name="single-partition-high-throughput",
        title="No single partition for a high-throughput topic",
        why="One partition is one consumer at a time and one broker's disk: a bottleneck with no parallelism.",
        fix="Create it with partitions = max(expected records/s / ~5000, consumer count), e.g. partitions=12; "
        "or say high_throughput=false (or override_reason) when strict total order matters more than throughput.",
        overridable=True,
        severity={"production": "refuse", "staging": "warn", "dev": "allow"},
        check=_single_partition,
    ),
    Rule(
        name="replication-factor-min",
        title="Replication factor at least 3",
        why="With fewer than 3 copies a single broker failure can lose data or stop the partition.",
        fix="Use replication_factor=3 (with min.insync.replicas=2).",
        overridable=False,
        severity={"production": "refuse", "staging": "warn", "dev": "allow"},
        check=_replication_factor,
    ),
    Rule(
        name="min-insync-replicas-min",
        title="min.insync.replicas at least 2",
        why="With min.insync.replicas=1 an acks=all write is acknowledged by one broker alone; losing it loses data.",
        fix="Set configs {'min.insync.replicas': '2'} with replication_factor=3.",
        overridable=False,
        severity={"production": "refuse", "staging": "warn", "dev": "allow"},
        check=_min_isr,
    ),
    Rule(
        name="min-insync-above-replication",
        title="min.insync.replicas not above the replication factor",
        why="Kafka can never gather more in-sync replicas than copies exist: producers with acks=all always fail.",
        fix="Keep min.insync.replicas at most replication_factor - 1 (2 for RF 3).",
        overridable=False,
        severity={"production": "refuse", "staging": "refuse", "dev": "refuse"},
        check=_min_isr_above_rf,
    ),
    Rule(
        name="unclean-leader-election",
        title="Unclean leader election off",
        why="An out-of-sync replica elected leader silently drops the records it never received.",
        fix="Leave unclean.leader.election.enable=false; restore a failed broker instead of electing a stale copy.",
        overridable=False,
        severity={"production": "refuse", "staging": "refuse", "dev": "warn"},
        check=_unclean,
    ),
    Rule(
        name="producer-durability",
        title="Durable producers are idempotent with acks=all",
        why="Without idempotence a retry writes the record twice; with acks below all a leader crash loses it.",
        fix="Set enable.idempotence=true and acks=all (retries stay at the default, effectively unlimited).",
        overridable=True,
        severity={"production": "refuse", "staging": "warn", "dev": "warn"},
        check=_producer,
    ),
    Rule(
        name="consumer-auto-commit",
        title="No auto-commit for critical consumers",
        why="Auto-commit can commit offsets before the records are processed: a crash then skips them for good.",
        fix="Set enable.auto.commit=false and commit after processing (commit per batch, synchronously).",
        overridable=True,
        severity={"production": "refuse", "staging": "warn", "dev": "warn"},
        check=_consumer,
    ),
    Rule(
        name="unlimited-retention",
        title="No unlimited retention without a reason",
        why="Records kept forever fill the disks until the brokers stop; most data has a useful lifetime.",
        fix="Set a finite retention.ms (e.g. 604800000 = 7 days) or retention.bytes, or use cleanup.policy=compact "
        "for keyed state; if the data must be kept forever, give override_reason.",
        overridable=True,
        severity={"production": "refuse", "staging": "warn", "dev": "allow"},
        check=_retention,
    ),
    Rule(
        name="schema-compatibility",
        title="Schema changes keep the subject's compatibility",
        why="A schema that breaks compatibility makes existing consumers fail to read new records.",
        fix="Evolve compatibly: add fields with defaults, make removed fields optional first; or change the "
        "subject's compatibility level explicitly as its own reviewed change.",
        overridable=False,
        severity={"production": "refuse", "staging": "refuse", "dev": "warn"},
        check=_schema,
    ),
    Rule(
        name="production-load-test",
        title="No load tests on production unless named",
        why="A measurement's records and scratch topics compete with real traffic and land in real consumers' view.",
        fix="Run it on staging; on production name the topic in both topic and allow_production_topic "
        "(kafka_perf_test), or pass allow_production=true (kafka_verify_exactly_once) when the user agrees.",
        overridable=False,
        severity={"production": "refuse", "staging": "allow", "dev": "allow"},
        check=_production_load,
    ),
)

RULES_BY_NAME: dict[str, Rule] = {r.name: r for r in RULES}


def evaluate(action: str, details: Mapping[str, Any], *, profile: str) -> list[Finding]:
    """Every finding of every rule for this planned change, refusals first."""
    facts = Facts(action, details, profile)
    findings = [finding for rule in RULES for finding in rule.evaluate(facts)]
    return sorted(findings, key=lambda f: f.severity != "refuse")


def severity_of(rule: str, profile: str) -> Severity:
    return RULES_BY_NAME[rule].severity.get(profile, "refuse")
