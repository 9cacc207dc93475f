"""MCP tools for the cluster and its topics."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp_types import InputRequiredResult
from pydantic import BaseModel, Field

from core.gate import Change, ConsentPreview
from core.kafka import cluster as kcluster
from core.kafka import offsets as koffsets
from core.kafka import topics as ktopics
from mcp_server.tools._base import Ctx, app_of, gated, gated_destructive, kafka_tool
from mcp_server.tools._types import (
    MAX_PARTITIONS,
    ClusterArg,
    ConfigMap,
    ConfigNames,
    ConfirmArg,
    OverrideArg,
    PartitionsArg,
    Pattern,
    ReplicationArg,
    TopicArg,
)


class DeleteTopicOutcome(BaseModel):
    executed: bool = Field(description="True only when the topic was deleted by this call.")
    consent: ConsentPreview | None = Field(default=None, description="Present when confirmation is needed.")
    result: ktopics.DeleteTopicResult | None = None


def register(server: MCPServer[Any]) -> None:
    @kafka_tool(server, kind="read", title="Describe cluster")
    async def kafka_describe_cluster(ctx: Ctx, cluster: ClusterArg = None) -> kcluster.ClusterDescription:
        """The cluster now: id, controller, brokers (up or down, and why), topic count, profile."""
        app = app_of(ctx)
        return await app.run(kcluster.describe_cluster, app.clients, cluster, budget=app.timeout)

    @kafka_tool(server, kind="read", title="List topics")
    async def kafka_list_topics(
        ctx: Ctx,
        include_internal: bool = False,
        name_pattern: Annotated[Pattern | None, Field(description="Regex the name must match.")] = None,
        cluster: ClusterArg = None,
    ) -> ktopics.TopicList:
        """Topics with partition count and replication factor; internal topics only with include_internal."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        return await app.run(
            ktopics.list_topics,
            app.clients.admin(cfg.name),
            include_internal=include_internal,
            timeout=app.timeout,
            name_pattern=name_pattern,
        )

    @kafka_tool(server, kind="read", title="Describe topic")
    async def kafka_describe_topic(
        ctx: Ctx,
        topic: TopicArg,
        include_defaults: Annotated[bool, Field(description="Also configs left at their default.")] = False,
        cluster: ClusterArg = None,
    ) -> ktopics.TopicDescription:
        """One topic: per partition its leader, replicas and ISR (under-replicated ones flagged), and its configs."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        return await app.run(
            ktopics.describe_topic,
            app.clients.admin(cfg.name),
            topic,
            timeout=app.timeout,
            include_defaults=include_defaults,
        )

    @kafka_tool(server, kind="write", title="Create topic")
    async def kafka_create_topic(
        ctx: Ctx,
        topic: TopicArg,
        partitions: PartitionsArg,
        replication_factor: ReplicationArg,
        configs: Annotated[ConfigMap | None, Field(description="e.g. retention.ms.")] = None,
        validate_only: bool = False,
        override_reason: OverrideArg = None,
        cluster: ClusterArg = None,
    ) -> ktopics.CreateTopicResult:
        """Create a topic; the cluster's policies check it first. validate_only=true checks without creating."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        change = Change(
            tool="kafka_create_topic",
            cluster=cfg.name,
            action="topic.create",
            resource_type="topic",
            resources=[topic],
            override_reason=override_reason,
            arguments={
                "topic": topic,
                "partitions": partitions,
                "replication_factor": replication_factor,
                "configs": configs or {},
                "validate_only": validate_only,
            },
            details={
                "partitions": partitions,
                "replication_factor": replication_factor,
                "configs": configs or {},
                "profile": cfg.profile,
            },
        )
        admin = app.clients.admin(cfg.name)
        return await gated(
            ctx,
            change,
            lambda permit: ktopics.create_topic(
                permit,
                admin,
                topic,
                partitions=partitions,
                replication_factor=replication_factor,
                configs=configs,
                validate_only=validate_only,
                timeout=app.timeout,
            ),
        )

    @kafka_tool(server, kind="write", idempotent=True, title="Alter topic config")
    async def kafka_alter_topic_config(
        ctx: Ctx,
        topic: TopicArg,
        set_configs: ConfigMap | None = None,
        delete_configs: Annotated[ConfigNames | None, Field(description="Reset to the default.")] = None,
        validate_only: bool = False,
        override_reason: OverrideArg = None,
        cluster: ClusterArg = None,
    ) -> ktopics.AlterTopicConfigResult:
        """Set some topic configs and reset others to their default; returns each change with the old value."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        change = Change(
            tool="kafka_alter_topic_config",
            cluster=cfg.name,
            action="topic.config.alter",
            resource_type="topic",
            resources=[topic],
            override_reason=override_reason,
            arguments={
                "topic": topic,
                "set_configs": set_configs or {},
                "delete_configs": delete_configs or [],
                "validate_only": validate_only,
            },
            details={"configs": set_configs or {}, "delete_configs": delete_configs or [], "profile": cfg.profile},
        )
        admin = app.clients.admin(cfg.name)
        return await gated(
            ctx,
            change,
            lambda permit: ktopics.alter_topic_config(
                permit,
                admin,
                topic,
                set_configs=set_configs,
                delete_configs=delete_configs,
                validate_only=validate_only,
                timeout=app.timeout,
            ),
        )

    @kafka_tool(server, kind="write", title="Add partitions")
    async def kafka_add_partitions(
        ctx: Ctx,
        topic: TopicArg,
        total_count: Annotated[int, Field(description="The new total (larger).", ge=1, le=MAX_PARTITIONS)],
        validate_only: bool = False,
        cluster: ClusterArg = None,
    ) -> ktopics.AddPartitionsResult:
        """Raise a topic's partition count (never lowers it); keyed records then map to other partitions."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        change = Change(
            tool="kafka_add_partitions",
            cluster=cfg.name,
            action="topic.partitions.add",
            resource_type="topic",
            resources=[topic],
            arguments={"topic": topic, "total_count": total_count, "validate_only": validate_only},
            details={"partitions": total_count, "profile": cfg.profile},
        )
        admin = app.clients.admin(cfg.name)
        return await gated(
            ctx,
            change,
            lambda permit: ktopics.add_partitions(
                permit, admin, topic, total_count=total_count, validate_only=validate_only, timeout=app.timeout
            ),
        )

    @kafka_tool(server, kind="destructive", title="Delete topic")
    async def kafka_delete_topic(
        ctx: Ctx, topic: TopicArg, confirm_token: ConfirmArg = None, cluster: ClusterArg = None
    ) -> DeleteTopicOutcome | InputRequiredResult:
        """Delete a topic and its records. Destructive: the first call only previews (how_to_confirm)."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        admin = app.clients.admin(cfg.name)
        tmeta = await app.run(ktopics.require_topic, admin, topic, timeout=app.timeout)
        parts = sorted(tmeta.partitions)
        messages = await app.run(koffsets.topic_message_count, admin, topic, parts, timeout=app.timeout)
        change = Change(
            tool="kafka_delete_topic",
            cluster=cfg.name,
            action="topic.delete",
            resource_type="topic",
            resources=[topic],
            destructive=True,
            arguments={"topic": topic},
        )
        effect = (
            f"Delete topic {topic!r} on cluster {cfg.name!r} ({cfg.bootstrap_servers}): {len(parts)} "
            f"partition(s) and about {messages} record(s), permanently."
        )
        done = await gated_destructive(
            ctx,
            change,
            lambda permit: ktopics.delete_topic(permit, admin, topic, timeout=app.timeout, messages=messages),
            effect=effect,
            confirm_token=confirm_token,
        )
        if isinstance(done, InputRequiredResult):
            return done  # the user is asked to type the topic's name; the client answers and retries
        if isinstance(done, ConsentPreview):
            return DeleteTopicOutcome(executed=False, consent=done)
        return DeleteTopicOutcome(executed=True, result=done)
