"""MCP tools for cluster health, durability, leader election, partition strategy and client settings."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel, Field

from core.errors import InvalidArgument
from core.gate import Change, Permit
from core.kafka import client_config as kclient
from core.kafka import health as khealth
from core.kafka import strategy as kstrategy
from mcp_server.tools._base import Ctx, app_of, gated, kafka_tool
from mcp_server.tools._types import MAX_PARTITIONS, ClusterArg, OverrideArg, TopicArg, TopicName

GoalArg = Annotated[
    Literal["throughput", "latency", "durability", "exactly_once"],
    Field(),
]


class SetDurabilityResult(BaseModel):
    topic: str
    applied: bool = Field(description="False when only checked (no setting given) or validate_only.")
    before: khealth.DurabilitySettings
    after: khealth.DurabilitySettings


class PartitionStrategyResult(BaseModel):
    recommendation: kstrategy.PartitionRecommendation | None = Field(
        description="Present when target_throughput and per_partition_throughput were given."
    )
    key_skew: kstrategy.KeySkewAnalysis | None = Field(description="Present when a topic was sampled.")


def register(server: MCPServer[Any]) -> None:
    @kafka_tool(server, kind="read", title="Cluster health")
    async def kafka_cluster_health(
        ctx: Ctx,
        expected_brokers: Annotated[int | None, Field(ge=1, le=10_000)] = None,
        min_replication_factor: Annotated[int | None, Field(ge=1, le=32)] = None,
        min_insync_replicas: Annotated[int | None, Field(ge=1, le=32)] = None,
        cluster: ClusterArg = None,
    ) -> khealth.ClusterHealth:
        """Health now: healthy, degraded or critical, with reasons and fixes: brokers down (probed), controller,
        under-replicated, under-min-ISR and leaderless partitions, leader imbalance, skew, topics below the profile."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        return await app.run(
            khealth.health_of,
            app.clients,
            cfg.name,
            budget=app.timeout,
            expected_brokers=expected_brokers,
            min_replication_factor=min_replication_factor,
            min_insync_replicas=min_insync_replicas,
        )

    @kafka_tool(server, kind="read", title="Check topic durability")
    async def kafka_check_durability(
        ctx: Ctx, topic: TopicArg, cluster: ClusterArg = None
    ) -> khealth.DurabilitySettings:
        """A topic's replication factor, min.insync.replicas, unclean election, how many broker failures acks=all
        survives, and advice."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        return await app.run(khealth.durability, app.clients.admin(cfg.name), topic, timeout=app.timeout)

    @kafka_tool(server, kind="write", idempotent=True, title="Set topic durability")
    async def kafka_set_durability(
        ctx: Ctx,
        topic: TopicArg,
        min_insync_replicas: Annotated[
            int | None,
            Field(ge=1, le=32),
        ] = None,
        unclean_leader_election: Annotated[bool | None, Field(description="true can lose acknowledged data.")] = None,
        validate_only: Annotated[bool, Field()] = False,
        override_reason: OverrideArg = None,
        cluster: ClusterArg = None,
    ) -> SetDurabilityResult:
        """Set a topic's min.insync.replicas and unclean.leader.election.enable (not above its replication factor);
        returns before and after."""
        from core.kafka import topics as ktopics

        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        admin = app.clients.admin(cfg.name)
        before = await app.run(khealth.durability, admin, topic, timeout=app.timeout)
        if min_insync_replicas is None and unclean_leader_election is None:
            return SetDurabilityResult(topic=topic, applied=False, before=before, after=before)
        khealth.check_durability_change(before, min_insync_replicas)
        set_configs: dict[str, str] = {}
        if min_insync_replicas is not None:
            set_configs["min.insync.replicas"] = str(min_insync_replicas)
        if unclean_leader_election is not None:
            set_configs["unclean.leader.election.enable"] = str(unclean_leader_election).lower()
        change = Change(
            tool="kafka_set_durability",
            cluster=cfg.name,
            action="topic.config.alter",
            resource_type="topic",
            resources=[topic],
            override_reason=override_reason,
            arguments={"topic": topic, "set_configs": set_configs, "validate_only": validate_only},
            details={"configs": set_configs, "profile": cfg.profile, "replication_factor": before.replication_factor},
        )

        def apply(permit: Permit) -> SetDurabilityResult:
            ktopics.alter_topic_config(
                permit,
                admin,
                topic,
                set_configs=set_configs,
                delete_configs=None,
                validate_only=validate_only,
                timeout=app.timeout,
            )
            after = before
            if not validate_only:
                after = khealth.durability_after_change(
                    admin,
                    topic,
                    min_insync_replicas=min_insync_replicas,
                    unclean_leader_election=unclean_leader_election,
                    timeout=app.timeout,
                )
            return SetDurabilityResult(topic=topic, applied=not validate_only, before=before, after=after)

        return await gated(ctx, change, apply)

    @kafka_tool(server, kind="write", idempotent=True, title="Elect preferred leaders")
    async def kafka_elect_leaders(
        ctx: Ctx,
        topic: Annotated[TopicName | None, Field()] = None,
        partitions: Annotated[
            list[Annotated[int, Field(ge=0, le=MAX_PARTITIONS)]] | None,
            Field(description="Needs topic.", max_length=MAX_PARTITIONS),
        ] = None,
        cluster: ClusterArg = None,
    ) -> khealth.ElectLeadersResult:
        """Preferred leader election: partitions led by their first replica again (e.g. after a broker restart); without
        partitions, every imbalanced one."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        admin = app.clients.admin(cfg.name)
        if partitions is not None and topic is None:
            raise InvalidArgument("partitions needs a topic.", hint="Give topic too, or omit partitions.")
        if partitions is not None and topic is not None:
            targets = [(topic, p) for p in sorted(set(partitions))]
        else:
            targets = await app.run(khealth.imbalanced_partitions, admin, timeout=app.timeout, topic=topic)
        change = Change(
            tool="kafka_elect_leaders",
            cluster=cfg.name,
            action="partition.leader.elect",
            # Leadership, not the topic: no data or config changes, and Kafka's own auto leader rebalance moves
            # internal topics' leaders the same way, so protected (internal) topics are not refused here.
            resource_type="partition",
            resources=sorted({t for t, _ in targets}),
            arguments={"topic": topic, "partitions": partitions},
            details={"partitions": len(targets), "profile": cfg.profile},
        )
        return await gated(
            ctx, change, lambda permit: khealth.elect_preferred_leaders(permit, admin, targets, timeout=app.timeout)
        )

    @kafka_tool(server, kind="read", title="Partition strategy")
    async def kafka_partition_strategy(
        ctx: Ctx,
        target_throughput: Annotated[float | None, Field(description="records/s or MB/s.", gt=0, le=1e12)] = None,
        per_partition_throughput: Annotated[
            float | None,
            Field(
                description="Measured per partition (kafka_perf_test), same unit.",
                gt=0,
                le=1e12,
            ),
        ] = None,
        consumers: Annotated[int, Field(ge=0, le=MAX_PARTITIONS)] = 0,
        topic: Annotated[
            TopicName | None,
            Field(description="Sample its keys for skew."),
        ] = None,
        partitions: Annotated[
            int | None,
            Field(
                description="What-if count for the sampled keys.",
                ge=1,
                le=MAX_PARTITIONS,
            ),
        ] = None,
        sample_size: Annotated[int, Field(ge=1, le=100000)] = 5000,
        cluster: ClusterArg = None,
    ) -> PartitionStrategyResult:
        """Partition count for a throughput (max of target/per-partition and consumers), and how a topic's sampled keys
        spread over partitions (skew)."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        if topic is None and target_throughput is None:
            raise InvalidArgument(
                "Nothing to plan.", hint="Give target_throughput and per_partition_throughput, or a topic to sample."
            )
        skew = None
        current = None
        if topic is not None:
            admin = app.clients.admin(cfg.name)
            conf = app.clients.consumer_config(cfg.name, **{"isolation.level": "read_uncommitted"})
            keys, current = await app.run(
                kstrategy.sample_keys, conf, admin, topic, max_records=sample_size, timeout=app.timeout
            )
            skew = kstrategy.analyse_keys(keys, partitions or current, topic=topic)
        rec = None
        if target_throughput is not None:
            if per_partition_throughput is None:
                raise InvalidArgument(
                    "per_partition_throughput is needed with target_throughput.",
                    hint="Measure it with kafka_perf_test (mode=producer) on a one-partition topic.",
                )
            rec = kstrategy.recommend_partitions(
                target_throughput=target_throughput,
                per_partition_throughput=per_partition_throughput,
                consumers=consumers,
                current_partitions=current,
            )
        return PartitionStrategyResult(recommendation=rec, key_skew=skew)

    @kafka_tool(server, kind="read", title="Producer config", open_world=False)
    async def kafka_producer_config(
        ctx: Ctx,
        goal: GoalArg,
        transactional_id: Annotated[str | None, Field(max_length=255)] = None,
        cluster: ClusterArg = None,
    ) -> kclient.ClientConfigRecommendation:
        """Recommended producer settings (librdkafka and Java) for a goal, each with a reason."""
        app_of(ctx).clients.cluster(cluster)
        return kclient.recommend("producer", goal, transactional_id=transactional_id)

    @kafka_tool(server, kind="read", title="Consumer config", open_world=False)
    async def kafka_consumer_config(
        ctx: Ctx, goal: GoalArg, cluster: ClusterArg = None
    ) -> kclient.ClientConfigRecommendation:
        """Recommended consumer settings (librdkafka and Java) for a goal, each with a reason."""
        app_of(ctx).clients.cluster(cluster)
        return kclient.recommend("consumer", goal)
