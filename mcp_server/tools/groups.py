"""MCP tools for consumer groups: list, describe, lag, offset resets and deletion."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp_types import InputRequiredResult
from pydantic import BaseModel, Field, StringConstraints

from core.app import AppContext
from core.gate import Change, ConsentPreview, Permit
from core.kafka import groups as kgroups
from core.kafka import lag as klag
from core.kafka import lag_eval
from mcp_server.tools._base import Ctx, app_of, gated_destructive, kafka_tool
from mcp_server.tools._types import (
    INT64_MAX,
    MAX_PARTITIONS,
    ClusterArg,
    ConfirmArg,
    GroupArg,
    GroupId,
    Pattern,
    TopicName,
)

GroupState = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z_]+$")]


class ResetOffsetsOutcome(BaseModel):
    group_id: str
    topic: str
    executed: bool = Field(description="True only when the offsets were changed by this call.")
    plan: list[kgroups.OffsetPlanEntry] = Field(description="Current and planned offset per partition.")
    consent: ConsentPreview | None = Field(default=None, description="Present when confirmation is needed.")
    note: str | None = Field(default=None, description="What to do next (dry runs).")


class DeleteGroupOutcome(BaseModel):
    executed: bool = Field(description="True only when the group was deleted by this call.")
    consent: ConsentPreview | None = None
    result: kgroups.DeleteGroupResult | None = None


def lag_cache(app: AppContext) -> klag.EndOffsetCache:
    return app.lazy.get("lag.end_offsets", lambda: klag.EndOffsetCache(app.settings.lag_cache_ttl_s))


def lag_sampler(app: AppContext) -> lag_eval.LagSampler:
    """The server's lag window and its sampler (every ``lag_sample_s``, for the clusters asked about)."""

    def make() -> lag_eval.LagSampler:
        window = lag_eval.LagWindow(window_s=app.settings.lag_window_s, stop_s=app.settings.lag_stop_s)

        def sample(cluster: str) -> klag.LagReport:
            return klag.consumer_lag(
                app.clients.admin(cluster), cluster=cluster, cache=klag.EndOffsetCache(ttl=0), timeout=app.timeout
            )

        return lag_eval.LagSampler(sample, window, interval=app.settings.lag_sample_s)

    return app.lazy.get("lag.sampler", make)


def register(server: MCPServer[Any]) -> None:
    @kafka_tool(server, kind="read", title="List consumer groups")
    async def kafka_list_consumer_groups(
        ctx: Ctx,
        states: Annotated[
            list[GroupState] | None,
            Field(description="e.g. ['STABLE'], ['EMPTY'].", max_length=10),
        ] = None,
        topic: Annotated[
            TopicName | None,
            Field(description="Only groups reading this topic."),
        ] = None,
        name_pattern: Annotated[Pattern | None, Field(description="Regex the group id must match.")] = None,
        cluster: ClusterArg = None,
    ) -> kgroups.GroupList:
        """Consumer groups with state, protocol and member count; filter by state, a topic they read, or a name
        pattern."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        return await app.run(
            kgroups.list_groups,
            app.clients.admin(cfg.name),
            timeout=app.timeout,
            states=states,
            name_pattern=name_pattern,
            topic=topic,
        )

    @kafka_tool(server, kind="read", title="Describe consumer group")
    async def kafka_describe_consumer_group(
        ctx: Ctx, group: GroupArg, cluster: ClusterArg = None
    ) -> kgroups.GroupDescription:
        """One group: state, assignor, coordinator, and each member with client id, host and partitions."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        return await app.run(kgroups.describe_group, app.clients.admin(cfg.name), group, timeout=app.timeout)

    @kafka_tool(server, kind="read", title="Consumer lag")
    async def kafka_consumer_lag(
        ctx: Ctx,
        groups: Annotated[list[GroupId] | None, Field(description="Omit for every group.", max_length=1000)] = None,
        topic: Annotated[TopicName | None, Field(description="Only this topic's partitions.")] = None,
        include_partitions: Annotated[
            bool | None,
            Field(description="Default: when groups are named."),
        ] = None,
        include_time_lag: Annotated[
            bool,
            Field(description="Age of the next unread record (slower)."),
        ] = False,
        cluster: ClusterArg = None,
    ) -> klag.LagReport:
        """Consumer lag per partition (committed offset, log end, lag; null without a commit) with totals per topic and
        group, and a Burrow-style status per group (OK, WARN, STALL, STOP, ERROR; UNKNOWN until watched for a lag
        window). For all groups start with the totals."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        time_conf = app.clients.consumer_config(cfg.name) if include_time_lag else None
        rows = include_partitions if include_partitions is not None else groups is not None
        report = await app.run(
            klag.consumer_lag,
            app.clients.admin(cfg.name),
            cluster=cfg.name,
            cache=lag_cache(app),
            timeout=app.timeout,
            groups=groups,
            topic=topic,
            include_partitions=True,  # the window needs every partition; dropped below when not asked for
            time_lag_consumer=time_conf,
        )
        sampler = lag_sampler(app)
        sampler.watch(cfg.name)
        report = await app.run(lag_eval.feed_and_judge, sampler.window, cfg.name, report)
        if not rows:
            for g in report.groups:
                for t in g.topics:
                    t.partitions = []
        return report

    @kafka_tool(server, kind="destructive", title="Reset consumer group offsets")
    async def kafka_reset_offsets(
        ctx: Ctx,
        group: GroupArg,
        topic: TopicName,
        to: Annotated[
            kgroups.ResetTo,
            Field(description="timestamp: value = epoch ms; offset: value; shift: value = ±N."),
        ],
        value: Annotated[
            int | None,
            Field(ge=-INT64_MAX, le=INT64_MAX),
        ] = None,
        partitions: Annotated[
            list[Annotated[int, Field(ge=0, le=MAX_PARTITIONS)]] | None,
            Field(description="Omit for all.", max_length=MAX_PARTITIONS),
        ] = None,
        clamp: Annotated[bool, Field()] = False,
        dry_run: bool = True,
        confirm_token: ConfirmArg = None,
        cluster: ClusterArg = None,
    ) -> ResetOffsetsOutcome | InputRequiredResult:
        """Move a group's committed offsets on one topic (earliest, latest, timestamp, offset, shift by N). dry_run
        (default) returns the plan; dry_run=false asks consent, then applies. Refuses active groups, and targets outside
        the log unless clamp."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        admin = app.clients.admin(cfg.name)
        plan = await app.run(
            kgroups.plan_reset,
            admin,
            group,
            topic,
            to=to,
            value=value,
            partitions=partitions,
            clamp=clamp,
            timeout=app.timeout,
        )
        if dry_run:  # pure planning: nothing is changed or asked, so the gate is not involved
            return ResetOffsetsOutcome(
                group_id=group,
                topic=topic,
                executed=False,
                plan=plan,
                note="Dry run: nothing changed. To apply, call again with the same arguments and dry_run=false.",
            )
        change = Change(
            tool="kafka_reset_offsets",
            cluster=cfg.name,
            action="group.offsets.reset",
            resource_type="group",
            resources=[group],
            destructive=True,
            arguments={
                "group": group,
                "topic": topic,
                "to": to,
                "value": value,
                "partitions": partitions,
                "clamp": clamp,
            },
            details={"topic": topic, "profile": cfg.profile},
        )
        moved = sum(1 for e in plan if e.current != e.planned)
        effect = (
            f"Reset the committed offsets of group {group!r} on topic {topic!r} (cluster {cfg.name!r}) to {to}"
            f"{'' if value is None else f' {value}'}: {moved} of {len(plan)} partition(s) change; "
            "the group will re-read or skip records accordingly."
        )

        def apply(permit: Permit) -> list[kgroups.OffsetPlanEntry]:
            kgroups.apply_reset(permit, admin, group, plan, timeout=app.timeout)
            return plan  # the audit line records the offsets that were committed

        done = await gated_destructive(ctx, change, apply, effect=effect, confirm_token=confirm_token)
        if isinstance(done, InputRequiredResult):
            return done  # the user is asked through elicitation; the client retries
        if isinstance(done, ConsentPreview):
            return ResetOffsetsOutcome(group_id=group, topic=topic, executed=False, plan=plan, consent=done)
        return ResetOffsetsOutcome(group_id=group, topic=topic, executed=True, plan=done)

    @kafka_tool(server, kind="destructive", title="Delete consumer group")
    async def kafka_delete_consumer_group(
        ctx: Ctx, group: GroupArg, confirm_token: ConfirmArg = None, cluster: ClusterArg = None
    ) -> DeleteGroupOutcome | InputRequiredResult:
        """Delete an inactive group and its committed offsets. Destructive: the first call only previews
        (how_to_confirm)."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        admin = app.clients.admin(cfg.name)
        await app.run(kgroups.require_inactive, admin, group, timeout=app.timeout, action="delete the group")
        committed = await app.run(kgroups.committed_offsets, admin, group, timeout=app.timeout)
        change = Change(
            tool="kafka_delete_consumer_group",
            cluster=cfg.name,
            action="group.delete",
            resource_type="group",
            resources=[group],
            destructive=True,
            arguments={"group": group},
        )
        effect = (
            f"Delete consumer group {group!r} on cluster {cfg.name!r} ({cfg.bootstrap_servers}) with its committed "
            f"offsets on {len(committed)} partition(s); a consumer that joins it later starts from its "
            "auto.offset.reset position."
        )
        done = await gated_destructive(
            ctx,
            change,
            lambda permit: kgroups.delete_group(permit, admin, group, timeout=app.timeout),
            effect=effect,
            confirm_token=confirm_token,
        )
        if isinstance(done, InputRequiredResult):
            return done  # the user is asked through elicitation; the client retries
        if isinstance(done, ConsentPreview):
            return DeleteGroupOutcome(executed=False, consent=done)
        return DeleteGroupOutcome(executed=True, result=done)
