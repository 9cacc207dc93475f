"""MCP tools for Kafka Connect: plugins, connectors with status, validated create/update, lifecycle, and
generated configs for the common connectors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp_types import InputRequiredResult
from pydantic import BaseModel, Field

from core.gate import Change, ConsentPreview, Permit
from core.kafka import connect as kconnect
from core.services import connector_templates as templates
from core.services.rest import connect_client
from mcp_server.tools._base import Ctx, app_of, gated, gated_destructive, kafka_tool
from mcp_server.tools._types import CONFIRM_DESCRIPTION

ClusterArg = Annotated[str | None, Field()]
NameArg = Annotated[str, Field()]
ConfirmArg = Annotated[str | None, Field(description=CONFIRM_DESCRIPTION)]


class DeleteConnectorOutcome(BaseModel):
    executed: bool = Field(description="True only when the connector was deleted by this call.")
    consent: ConsentPreview | None = Field(
        default=None, description="Present when consent is needed: a confirmation token or a pending approval."
    )
    result: kconnect.ConnectorActionResult | None = None


class ConnectorConfigProposal(BaseModel):
    generated: templates.GeneratedConfig
    validation: kconnect.ValidationReport | None = Field(
        None, description="The worker's verdict, when a worker is configured."
    )
    note: str | None = None


def register(server: MCPServer[Any]) -> None:
    async def _lifecycle(
        ctx: Ctx,
        tool: str,
        action: str,
        name: str,
        cluster: str | None,
        fn: Callable[..., kconnect.ConnectorActionResult],
        **kw: Any,
    ) -> kconnect.ConnectorActionResult:
        """Pause, resume or restart one connector through the gate (``fn`` requires ``connector.<action>``)."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        rest = connect_client(app, cfg)
        change = Change(
            tool=tool,
            cluster=cfg.name,
            action=f"connector.{action}",
            resource_type="connector",
            resources=[name],
            arguments={"name": name, **kw},
            details={"profile": cfg.profile},
        )

        def act(permit: Permit) -> kconnect.ConnectorActionResult:
            return fn(permit, rest, name, **kw)

        return await gated(ctx, change, act)

    @kafka_tool(server, kind="read", title="List connector plugins")
    async def kafka_list_connector_plugins(
        ctx: Ctx,
        include_transforms: Annotated[bool, Field(description="Also converters, SMTs and predicates.")] = False,
        cluster: ClusterArg = None,
    ) -> kconnect.PluginList:
        """List the connector plugins installed on the Kafka Connect worker (class, source/sink, version); a class not
        listed cannot run."""
        app = app_of(ctx)
        rest = connect_client(app, app.clients.cluster(cluster))
        return await app.run(kconnect.list_plugins, rest, connectors_only=not include_transforms)

    @kafka_tool(server, kind="read", title="List connectors")
    async def kafka_list_connectors(ctx: Ctx, cluster: ClusterArg = None) -> kconnect.ConnectorList:
        """List the connectors on the Connect worker with class, state, tasks and failed task ids; a source whose target
        topic is missing is flagged not healthy."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        rest = connect_client(app, cfg)
        topics = set((await app.run(app.clients.admin(cfg.name).list_topics, timeout=app.timeout)).topics)
        return await app.run(kconnect.list_connectors, rest, topics=topics)

    @kafka_tool(server, kind="read", title="Connector status")
    async def kafka_connector_status(
        ctx: Ctx,
        name: NameArg,
        probe_s: Annotated[
            float,
            Field(ge=0, le=30, description="Seconds to watch whether records move (0: static checks only)."),
        ] = 3.0,
        cluster: ClusterArg = None,
    ) -> kconnect.ConnectorStatus:
        """One connector's state and tasks, and whether data really moves: healthy=false with problems when a task
        FAILED (with its trace), a source's topic is missing, a sink lags without progress, or nothing moved during
        probe_s."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        rest = connect_client(app, cfg)
        admin = app.clients.admin(cfg.name)
        return await app.run(kconnect.connector_health, rest, admin, name, probe_s=probe_s, timeout=app.timeout)

    @kafka_tool(server, kind="read", title="Validate connector config")
    async def kafka_validate_connector_config(
        ctx: Ctx,
        config: Annotated[dict[str, Any], Field(description="Including connector.class.")],
        cluster: ClusterArg = None,
    ) -> kconnect.ValidationReport:
        """Ask the Connect worker to validate a connector config without creating anything: errors per field, or that
        the plugin is not installed."""
        app = app_of(ctx)
        rest = connect_client(app, app.clients.cluster(cluster))
        return await app.run(kconnect.validate_config, rest, {str(k): str(v) for k, v in config.items()})

    @kafka_tool(server, kind="write", idempotent=True, title="Create or update connector")
    async def kafka_create_or_update_connector(
        ctx: Ctx,
        name: NameArg,
        config: Annotated[
            dict[str, Any],
            Field(description="connector.class, tasks.max and the plugin's settings."),
        ],
        cluster: ClusterArg = None,
    ) -> kconnect.ConnectorWriteResult:
        """Create a connector or replace its config, validated by the worker first (an invalid one is refused with
        errors per field). kafka_connector_config drafts configs."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        rest = connect_client(app, cfg)
        conf = {str(k): str(v) for k, v in config.items()}
        change = Change(
            tool="kafka_create_or_update_connector",
            cluster=cfg.name,
            action="connector.put",
            resource_type="connector",
            resources=[name],
            arguments={"name": name, "config": conf},
            details={"connector_class": conf.get("connector.class"), "profile": cfg.profile},
        )
        return await gated(ctx, change, lambda permit: kconnect.put_connector(permit, rest, name, conf))

    @kafka_tool(server, kind="write", idempotent=True, title="Pause connector")
    async def kafka_pause_connector(
        ctx: Ctx, name: NameArg, cluster: ClusterArg = None
    ) -> kconnect.ConnectorActionResult:
        """Pause a connector and its tasks: they stop moving data and keep their offsets."""
        return await _lifecycle(ctx, "kafka_pause_connector", "pause", name, cluster, kconnect.pause)

    @kafka_tool(server, kind="write", idempotent=True, title="Resume connector")
    async def kafka_resume_connector(
        ctx: Ctx, name: NameArg, cluster: ClusterArg = None
    ) -> kconnect.ConnectorActionResult:
        """Resume a paused connector and its tasks from their committed offsets; returns the status."""
        return await _lifecycle(ctx, "kafka_resume_connector", "resume", name, cluster, kconnect.resume)

    @kafka_tool(server, kind="write", title="Restart connector")
    async def kafka_restart_connector(
        ctx: Ctx,
        name: NameArg,
        include_tasks: Annotated[bool, Field()] = True,
        only_failed: Annotated[bool, Field()] = True,
        cluster: ClusterArg = None,
    ) -> kconnect.ConnectorActionResult:
        """Restart a connector and (by default) its FAILED tasks, e.g. after fixing the cause kafka_connector_status
        showed; returns the status after."""
        return await _lifecycle(
            ctx,
            "kafka_restart_connector",
            "restart",
            name,
            cluster,
            kconnect.restart,
            include_tasks=include_tasks,
            only_failed=only_failed,
        )

    @kafka_tool(server, kind="destructive", title="Delete connector")
    async def kafka_delete_connector(
        ctx: Ctx, name: NameArg, confirm_token: ConfirmArg = None, cluster: ClusterArg = None
    ) -> DeleteConnectorOutcome | InputRequiredResult:
        """Delete a connector: tasks stop, its config is removed (offsets stay). The first call only previews; repeat
        with confirm_token once the user agrees."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        rest = connect_client(app, cfg)
        status = await app.run(kconnect.connector_status, rest, name)
        change = Change(
            tool="kafka_delete_connector",
            cluster=cfg.name,
            action="connector.delete",
            resource_type="connector",
            resources=[name],
            destructive=True,
            arguments={"name": name},
        )
        effect = (
            f"Delete connector {name!r} ({status.connector_class or status.type}, {status.state}, "
            f"{len(status.tasks)} task(s)) from the Connect worker of cluster {cfg.name!r}."
        )
        done = await gated_destructive(
            ctx,
            change,
            lambda permit: kconnect.delete(permit, rest, name),
            effect=effect,
            confirm_token=confirm_token,
        )
        if isinstance(done, InputRequiredResult):
            return done  # the user is asked through elicitation; the client answers and retries
        if isinstance(done, ConsentPreview):
            return DeleteConnectorOutcome(executed=False, consent=done)
        return DeleteConnectorOutcome(executed=True, result=done)

    @kafka_tool(server, kind="read", title="Draft connector config")
    async def kafka_connector_config(
        ctx: Ctx,
        kind: templates.ConnectorKind,
        name: NameArg,
        topics: list[str] | None = None,
        topic_prefix: str | None = None,
        connection: Annotated[
            str | None, Field(description="JDBC URL, Elasticsearch URL or Postgres host:port.")
        ] = None,
        database: str | None = None,
        tables: Annotated[list[str] | None, Field(description="Tables or collections.")] = None,
        incrementing_column: str = "id",
        key_field: Annotated[str | None, Field(description="Value field to make the record key.")] = None,
        bucket: str | None = None,
        region: str = "us-east-1",
        file: str | None = None,
        tasks_max: Annotated[int, Field(ge=1, le=64)] = 1,
        secrets_file: Annotated[str, Field(description="On the worker.")] = templates.DEFAULT_SECRETS_FILE,
        options: Annotated[dict[str, str] | None, Field(description="Applied last.")] = None,
        cluster: ClusterArg = None,
    ) -> ConnectorConfigProposal:
        """Draft a connector config (JDBC, S3, Elasticsearch, MongoDB, Debezium PostgreSQL, FileStream; what each kind
        needs: kafka-agent://reference/connector-templates), validated by the Connect worker when it has the plugin.
        Creates nothing: pass it to kafka_create_or_update_connector."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        spec = templates.ConnectorSpec(
            kind=kind,
            name=name,
            topics=topics or [],
            topic_prefix=topic_prefix,
            connection=connection,
            database=database,
            tables=tables or [],
            incrementing_column=incrementing_column,
            key_field=key_field,
            bucket=bucket,
            region=region,
            file=file,
            tasks_max=tasks_max,
            secrets_file=secrets_file,
            schema_registry_url=cfg.schema_registry_url,
            options=options or {},
        )
        generated = templates.generate(spec)
        if not cfg.connect_url:
            return ConnectorConfigProposal(
                generated=generated,
                note=f"Cluster {cfg.name!r} has no connect_url, so the draft was not validated by a worker.",
            )
        rest = connect_client(app, cfg)
        # validated exactly as returned: the draft can be PUT or POSTed to the worker as it is
        report = await app.run(kconnect.validate_config, rest, dict(generated.config))
        return ConnectorConfigProposal(generated=generated, validation=report, note=report.note)
