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


def register(server: MCPServer[Any]) -> None:
    @kafka_tool(server, kind="read", title="List consumer groups")
    async def kafka_list_consumer_groups(
        ctx: Ctx,
        states: Annotated[
            list[GroupState] | None,
            Field(description="Only groups in these states, e.g. ['STABLE'] or ['EMPTY'].", max_length=10),
        ] = None,
        topic: Annotated[
            TopicName | None,
            Field(description="Only groups consuming this topic (assigned or with committed offsets)."),
        ] = None,
        name_pattern: Annotated[
            Pattern | None, Field(description="Regular expression the group id must match.")
        ] = None,
        cluster: ClusterArg = None,
    ) -> kgroups.GroupList:
        """List the consumer groups of a cluster with their state, protocol type (CLASSIC or CONSUMER) and member
        count. Filter by state, by a topic the group reads, or by a name pattern. Use kafka_consumer_lag next to
        see how far behind they are."""
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
        """Describe one consumer group: state, protocol type, partition assignor, coordinator broker, and every
        member with its client id, host and assigned partitions."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        return await app.run(kgroups.describe_group, app.clients.admin(cfg.name), group, timeout=app.timeout)

    @kafka_tool(server, kind="read", title="Consumer lag")
    async def kafka_consumer_lag(
        ctx: Ctx,
        groups: Annotated[
            list[GroupId] | None, Field(description="Group ids; omit for every group of the cluster.", max_length=1000)
        ] = None,
        topic: Annotated[TopicName | None, Field(description="Only partitions of this topic.")] = None,
        include_partitions: Annotated[
            bool | None,
            Field(
                description="Per-partition rows (true) or only totals per topic and group (false). Default: rows "
                "when groups are named, totals when asking for all groups (keeps the answer small)."
            ),
        ] = None,
        include_time_lag: Annotated[
            bool,
            Field(description="Also estimate time lag: the age of the record at the committed offset (slower)."),
        ] = False,
        cluster: ClusterArg = None,
    ) -> klag.LagReport:
        """Consumer lag for one group, several, or all groups: per partition the committed offset, the log end
        offset and the lag, with totals per topic and per group. Partitions without a committed offset are reported
        as such (lag null), never guessed. With include_time_lag, also how old the next unread record is. Use this
        first when consumers fall behind; for all groups start with the totals, then ask for the lagging groups."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        time_conf = app.clients.consumer_config(cfg.name) if include_time_lag else None
        return await app.run(
            klag.consumer_lag,
            app.clients.admin(cfg.name),
            cluster=cfg.name,
            cache=lag_cache(app),
            timeout=app.timeout,
            groups=groups,
            topic=topic,
            include_partitions=include_partitions if include_partitions is not None else groups is not None,
            time_lag_consumer=time_conf,
        )

    @kafka_tool(server, kind="destructive", title="Reset consumer group offsets")
    async def kafka_reset_offsets(
        ctx: Ctx,
        group: GroupArg,
        topic: Annotated[TopicName, Field(description="Topic whose committed offsets to move.")],
        to: Annotated[
            kgroups.ResetTo,
            Field(
                description="earliest, latest, timestamp (value = ms since epoch), offset (value), shift (value=±N)."
            ),
        ],
        value: Annotated[
            int | None,
            Field(description="Timestamp ms, offset, or signed shift, per 'to'.", ge=-INT64_MAX, le=INT64_MAX),
        ] = None,
        partitions: Annotated[
            list[Annotated[int, Field(ge=0, le=MAX_PARTITIONS)]] | None,
            Field(description="Only these partitions; omit for all.", max_length=MAX_PARTITIONS),
        ] = None,
        clamp: Annotated[
            bool, Field(description="Move targets outside the log to the nearest end instead of refusing.")
        ] = False,
        dry_run: Annotated[
            bool, Field(description="Only show the plan (default), asking nothing. False to apply it (with consent).")
        ] = True,
        confirm_token: ConfirmArg = None,
        cluster: ClusterArg = None,
    ) -> ResetOffsetsOutcome | InputRequiredResult:
        """Move a consumer group's committed offsets on one topic: to earliest, latest, a timestamp, an explicit
        offset, or shifted by N. Dry run by default: returns the current and planned offset per partition, changing
        nothing. To apply, show the plan to the user and call again with the same arguments and dry_run=false: that
        call asks for consent (it returns the plan again with a confirmation token or a pending approval, or the
        client asks the user); repeat it with confirm_token to apply. Refuses a group with active members, and
        targets outside [log start, log end] unless clamp=true."""
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
        """Delete a consumer group and all its committed offsets. Refuses a group with active members. The first
        call changes nothing and returns the effect and a confirmation token (or a pending approval a person
        grants); an identical second call with confirm_token deletes. Ask the user first. Clients that support
        elicitation ask the user to type the group's id instead."""
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
