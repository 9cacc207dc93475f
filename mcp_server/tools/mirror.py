"""MCP tools for MirrorMaker 2 replication between two configured clusters."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel, Field

from core.errors import InvalidArgument
from core.gate import Change, Permit
from core.kafka import mirror as kmirror
from core.services.rest import connect_client
from mcp_server.tools._base import Ctx, app_of, gated, kafka_tool
from mcp_server.tools._types import ClusterName

TargetArg = Annotated[
    ClusterName | None,
    Field(description="The target; its Connect worker replicates."),
]
SourceArg = Annotated[ClusterName, Field()]


class MirrorOutcome(BaseModel):
    mode: Literal["active-passive", "active-active"]
    deployments: list[kmirror.MirrorDeployment] = Field(description="One per direction.")


def register(server: MCPServer[Any]) -> None:
    @kafka_tool(server, kind="write", idempotent=True, title="Mirror topics between clusters")
    async def kafka_mirror(
        ctx: Ctx,
        source_cluster: SourceArg,
        topics: Annotated[str, Field(description="Comma-separated regexes.", min_length=1, max_length=2000)] = ".*",
        topics_exclude: Annotated[str | None, Field(max_length=2000)] = None,
        groups: Annotated[
            str,
            Field(description="Comma-separated regexes.", min_length=1, max_length=2000),
        ] = ".*",
        mode: Annotated[
            Literal["active-passive", "active-active"],
            Field(description="active-active: Connect on both, prefixed naming."),
        ] = "active-passive",
        naming: Annotated[
            kmirror.Naming,
            Field(description="prefixed: <source>.orders; identity: one way only."),
        ] = "prefixed",
        sync_group_offsets: Annotated[bool, Field(description="For failover.")] = True,
        emit_checkpoints: bool = True,
        cluster: TargetArg = None,
    ) -> MirrorOutcome:
        """Replicate topics from a source cluster with MirrorMaker 2 connectors on the target's Connect worker
        (active-active: both ways); follow with kafka_mirror_status."""
        app = app_of(ctx)
        target = app.clients.cluster(cluster)
        source = app.clients.cluster(source_cluster, argument="source_cluster")
        if mode == "active-active" and naming == "identity":
            raise InvalidArgument(
                "Active-active replication with identity naming would copy records back and forth forever.",
                hint="Use naming='prefixed' for active-active.",
            )
        directions = [(source, target)] + ([(target, source)] if mode == "active-active" else [])
        rests = [connect_client(app, dst) for _, dst in directions]  # fail early when a worker is missing
        change = Change(
            tool="kafka_mirror",
            cluster=target.name,
            action="mirror.deploy",
            resource_type="connector",
            resources=[n for s, d in directions for n in kmirror.connector_names(s.name, d.name).values()],
            implies=["connector.put"],  # the deployment writes each of its connectors
            arguments={
                "source_cluster": source.name,
                "topics": topics,
                "topics_exclude": topics_exclude,
                "groups": groups,
                "mode": mode,
                "naming": naming,
                "sync_group_offsets": sync_group_offsets,
                "emit_checkpoints": emit_checkpoints,
            },
            details={"profile": target.profile, "source_profile": source.profile},
        )

        def act(permit: Permit) -> MirrorOutcome:
            deployments = []
            for (src, dst), rest in zip(directions, rests, strict=True):
                brokers = kmirror.target_broker_count(app.clients.admin(dst.name), timeout=app.timeout)
                spec = kmirror.MirrorSpec(
                    source=src.name,
                    target=dst.name,
                    topics=topics,
                    topics_exclude=topics_exclude,
                    groups=groups,
                    naming=naming,
                    sync_group_offsets=sync_group_offsets,
                    emit_checkpoints=emit_checkpoints,
                    replication_factor=max(1, min(3, brokers)),
                )
                deployments.append(kmirror.deploy(permit, rest, spec, src, dst))
            return MirrorOutcome(mode=mode, deployments=deployments)

        return await gated(ctx, change, act)

    @kafka_tool(server, kind="read", title="Mirror status and lag")
    async def kafka_mirror_status(
        ctx: Ctx, source_cluster: SourceArg, cluster: TargetArg = None
    ) -> kmirror.MirrorStatus:
        """A MirrorMaker 2 replication's connectors and tasks (traces when failed) and lag: per source topic, records
        not yet on the target."""
        app = app_of(ctx)
        target = app.clients.cluster(cluster)
        source = app.clients.cluster(source_cluster, argument="source_cluster")
        rest = connect_client(app, target)
        return await app.run(
            kmirror.mirror_status,
            rest,
            source.name,
            target.name,
            app.clients.admin(source.name),
            app.clients.admin(target.name),
            timeout=app.timeout,
        )
