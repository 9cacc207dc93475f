"""MCP tools of the guardrails: check a planned change against the policies, audit a cluster's readiness."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel, Field, WithJsonSchema

from core.errors import KafkaAgentError
from core.gate import policies
from core.kafka.readiness import ReadinessReport, audit_cluster
from mcp_server.tools._base import Ctx, app_of, kafka_tool
from mcp_server.tools._types import (
    MAX_PARTITIONS,
    MAX_REPLICATION_FACTOR,
    ClusterArg,
    ConfigMap,
    ConfigNames,
    OverrideArg,
    TopicName,
)

ProfileArg = Annotated[
    Literal["production", "staging", "dev"] | None,
    Field(),
]
Action = Literal[
    "topic.create",
    "topic.config.alter",
    "topic.partitions.add",
    "producer.configure",
    "consumer.configure",
    "schema.register",
]


class PolicyCheck(BaseModel):
    cluster: str
    profile: str
    action: str
    verdict: Literal["allowed", "allowed_with_warnings", "allowed_by_override", "refused"]
    findings: list[policies.Finding] = Field(description="Every rule the plan breaks, with why and the compliant fix.")
    refused_by: list[str] = Field(description="Names of the rules that would refuse the change.")
    notes: list[str] = Field(default_factory=list, description="Read-only mode, protected topics, missing facts.")


class RuleInfo(BaseModel):
    name: str
    title: str
    why: str
    fix: str = Field(description="The compliant alternative.")
    overridable: bool = Field(description="Whether an override_reason can let a refused change through.")
    severity: str = Field(description="refuse, warn or allow, for the profile asked.")
    severity_by_profile: dict[str, str]


class PolicyList(BaseModel):
    cluster: str
    profile: str
    rules: list[RuleInfo]
    read_only: bool = Field(description="True when this server refuses every change.")
    protected_topics: str = Field(description="What no tool may delete, truncate or reconfigure.")
    consent: str = Field(description="How destructive changes are confirmed.")


def _verdict(findings: list[policies.Finding], override_reason: str | None, blocked: bool) -> tuple[str, list[str]]:
    refusals = [f for f in findings if f.severity == "refuse"]
    if blocked:
        return "refused", sorted({f.rule for f in refusals})
    if refusals:
        if override_reason and override_reason.strip() and all(f.overridable for f in refusals):
            return "allowed_by_override", []
        return "refused", sorted({f.rule for f in refusals if not (f.overridable and override_reason)})
    return ("allowed_with_warnings" if findings else "allowed"), []


def register(server: MCPServer[Any]) -> None:
    @kafka_tool(server, kind="read", title="Check a change against the policies")
    async def kafka_check_policy(
        ctx: Ctx,
        action: Annotated[Action, Field()] = "topic.create",
        topic: Annotated[TopicName | None, Field()] = None,
        partitions: Annotated[int | None, Field(ge=1, le=MAX_PARTITIONS)] = None,
        replication_factor: Annotated[int | None, Field(ge=1, le=MAX_REPLICATION_FACTOR)] = None,
        configs: Annotated[ConfigMap | None, Field()] = None,
        delete_configs: Annotated[ConfigNames | None, Field()] = None,
        high_throughput: Annotated[bool | None, Field()] = None,
        expected_msgs_per_sec: Annotated[float | None, Field(ge=0, le=1e9)] = None,
        producer_config: Annotated[ConfigMap | None, Field()] = None,
        durable: Annotated[bool | None, Field()] = None,
        consumer_config: Annotated[ConfigMap | None, Field()] = None,
        critical: Annotated[bool | None, Field()] = None,
        schema_compatible: Annotated[bool | None, Field(description="schema.register: the registry's verdict.")] = None,
        schema_reasons: Annotated[
            list[Annotated[str, Field(max_length=2000)]] | None,
            Field(max_length=100),
            WithJsonSchema({"type": "array", "items": {"type": "string"}, "maxItems": 100}),
        ] = None,
        override_reason: OverrideArg = None,
        profile: ProfileArg = None,
        cluster: ClusterArg = None,
    ) -> PolicyCheck:
        """Check a change against the guardrail policies without making it: the verdict and, per broken rule, why and
        the compliant fix."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        judged = profile or cfg.profile
        notes: list[str] = []
        details: dict[str, Any] = {"profile": judged}
        facts = {
            "partitions": partitions,
            "replication_factor": replication_factor,
            "configs": configs,
            "delete_configs": delete_configs,
            "high_throughput": high_throughput,
            "expected_msgs_per_sec": expected_msgs_per_sec,
            "producer_config": producer_config,
            "durable": durable,
            "consumer_config": consumer_config,
            "critical": critical,
        }
        details.update({k: v for k, v in facts.items() if v is not None})
        if action == "schema.register":
            details.update({"compatible": schema_compatible is not False, "reasons": schema_reasons or []})
            if topic:
                details["subject"] = topic
            if schema_compatible is None:
                notes.append("schema_compatible not given: run the registry's compatibility test first.")
        if action == "topic.config.alter" and topic:
            from core.kafka.topics import describe_configs

            try:
                current = await app.run(
                    describe_configs,
                    app.clients.admin(cfg.name),
                    "TOPIC",
                    topic,
                    timeout=app.timeout,
                    include_defaults=False,
                )
                details["current_configs"] = {c.name: c.value for c in current if c.value is not None}
            except KafkaAgentError as exc:
                notes.append(f"Current configs of {topic!r} not read ({exc.message}); judged on the change alone.")
        findings = policies.evaluate(action, details, profile=judged)
        blocked = False
        if app.settings.read_only and action.startswith(("topic.", "schema.")):
            notes.append("This server runs read-only: the change itself would be refused.")
        if topic and action.startswith("topic.") and app.gate.is_protected_topic(topic):
            notes.append(f"Topic {topic!r} is protected: no tool may change it.")
            blocked = True
        verdict, refused_by = _verdict(findings, override_reason, blocked)
        return PolicyCheck(
            cluster=cfg.name,
            profile=judged,
            action=action,
            verdict=verdict,  # type: ignore[arg-type]
            findings=findings,
            refused_by=refused_by + (["protected-topic"] if blocked else []),
            notes=notes,
        )

    @kafka_tool(server, kind="read", title="List the guardrail policies")
    async def kafka_list_policies(ctx: Ctx, profile: ProfileArg = None, cluster: ClusterArg = None) -> PolicyList:
        """The guardrail rules with reason, fix, overridability and severity for a profile, plus read-only state,
        protected topics and how consent works."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        judged = profile or cfg.profile
        extra = app.settings.protected_topics_pattern
        return PolicyList(
            cluster=cfg.name,
            profile=judged,
            rules=[
                RuleInfo(
                    name=r.name,
                    title=r.title,
                    why=r.why,
                    fix=r.fix,
                    overridable=r.overridable,
                    severity=r.severity.get(judged, "refuse"),
                    severity_by_profile=dict(r.severity),
                )
                for r in policies.RULES
            ],
            read_only=app.settings.read_only,
            protected_topics="internal topics (__*), _schemas, Connect's connect-configs/offsets/status, MirrorMaker "
            "internal topics" + (f", and topics matching {extra!r}" if extra else ""),
            consent="Destructive tools change nothing on the first call: they return the exact effect and a "
            f"single-use confirmation token valid {app.settings.confirm_ttl_s:.0f}s for those exact arguments and "
            "cluster; clients that support elicitation ask the person to type the resource's name instead.",
        )

    @kafka_tool(server, kind="read", title="Audit cluster readiness")
    async def kafka_audit_cluster(
        ctx: Ctx,
        profile: ProfileArg = None,
        topic_pattern: Annotated[str | None, Field(description="Regex of topics to audit.")] = None,
        include_groups: Annotated[bool, Field()] = True,
        lag_threshold: Annotated[
            int,
            Field(
                ge=0,
            ),
        ] = 100_000,
        cluster: ClusterArg = None,
    ) -> ReadinessReport:
        """Production-readiness report: every topic against the rules, partition health, broker defaults, lag, registry
        compatibility; a 0-100 score and a fix per finding."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        return await app.run(
            audit_cluster,
            app.clients.admin(cfg.name),
            cluster_name=cfg.name,
            profile=profile or cfg.profile,
            timeout=app.timeout,
            topic_pattern=topic_pattern,
            include_groups=include_groups,
            lag_threshold=lag_threshold,
            schema_registry_url=cfg.schema_registry_url,
        )
