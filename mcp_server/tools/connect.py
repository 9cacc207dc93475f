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

ClusterArg = Annotated[
    str | None, Field(description="Configured cluster whose Connect worker to use; omit for the default cluster.")
]
NameArg = Annotated[str, Field(description="Connector name.")]
ConfirmArg = Annotated[
    str | None,
    Field(description="The confirmation token or approval id the first call returned; omit it on the first call."),
]


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
        include_transforms: Annotated[
            bool, Field(description="Also list converters, transformations (SMTs) and predicates.")
        ] = False,
        cluster: ClusterArg = None,
    ) -> kconnect.PluginList:
        """List the connector plugins installed on the cluster's Kafka Connect worker (class, source/sink,
        version). Check here before creating a connector: a class that is not listed cannot run."""
        app = app_of(ctx)
        rest = connect_client(app, app.clients.cluster(cluster))
        return await app.run(kconnect.list_plugins, rest, connectors_only=not include_transforms)

    @kafka_tool(server, kind="read", title="List connectors")
    async def kafka_list_connectors(ctx: Ctx, cluster: ClusterArg = None) -> kconnect.ConnectorList:
        """List the connectors on the Connect worker with their class, state, tasks and failed task ids."""
        app = app_of(ctx)
        rest = connect_client(app, app.clients.cluster(cluster))
        return await app.run(kconnect.list_connectors, rest)

    @kafka_tool(server, kind="read", title="Connector status")
    async def kafka_connector_status(ctx: Ctx, name: NameArg, cluster: ClusterArg = None) -> kconnect.ConnectorStatus:
        """The state of one connector and each of its tasks; when the connector or a task FAILED, its Java stack
        trace (the first lines name the cause). Use to diagnose a connector that does not move data."""
        app = app_of(ctx)
        rest = connect_client(app, app.clients.cluster(cluster))
        return await app.run(kconnect.connector_status, rest, name)

    @kafka_tool(server, kind="read", title="Validate connector config")
    async def kafka_validate_connector_config(
        ctx: Ctx,
        config: Annotated[dict[str, Any], Field(description="The full connector config incl. connector.class.")],
        cluster: ClusterArg = None,
    ) -> kconnect.ValidationReport:
        """Ask the Connect worker to validate a connector config without creating anything. Returns the errors
        per field, or says plainly that the plugin is not installed on the worker."""
        app = app_of(ctx)
        rest = connect_client(app, app.clients.cluster(cluster))
        return await app.run(kconnect.validate_config, rest, {str(k): str(v) for k, v in config.items()})

    @kafka_tool(server, kind="write", idempotent=True, title="Create or update connector")
    async def kafka_create_or_update_connector(
        ctx: Ctx,
        name: NameArg,
        config: Annotated[
            dict[str, Any],
            Field(description="Connector config: connector.class, tasks.max and the plugin's settings."),
        ],
        cluster: ClusterArg = None,
    ) -> kconnect.ConnectorWriteResult:
        """Create a connector, or replace the config of an existing one. The config is validated by the worker
        first; an invalid config is refused with the errors per field and nothing changes. Use
        kafka_connector_config to draft configs for JDBC, S3, Elasticsearch, MongoDB and Debezium."""
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
        """Pause a connector and its tasks (they stop moving data but keep their offsets); resume later."""
        return await _lifecycle(ctx, "kafka_pause_connector", "pause", name, cluster, kconnect.pause)

    @kafka_tool(server, kind="write", idempotent=True, title="Resume connector")
    async def kafka_resume_connector(
        ctx: Ctx, name: NameArg, cluster: ClusterArg = None
    ) -> kconnect.ConnectorActionResult:
        """Resume a paused connector and its tasks; they continue from their committed offsets. Returns the
        status once the connector runs again."""
        return await _lifecycle(ctx, "kafka_resume_connector", "resume", name, cluster, kconnect.resume)

    @kafka_tool(server, kind="write", title="Restart connector")
    async def kafka_restart_connector(
        ctx: Ctx,
        name: NameArg,
        include_tasks: Annotated[bool, Field(description="Restart the tasks too, not only the connector.")] = True,
        only_failed: Annotated[bool, Field(description="Restart only the FAILED instances.")] = True,
        cluster: ClusterArg = None,
    ) -> kconnect.ConnectorActionResult:
        """Restart a connector and (by default) its FAILED tasks, e.g. after fixing the cause shown in
        kafka_connector_status. Returns the status right after the restart."""
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
        """Delete a connector: its tasks stop and its config is removed (its committed offsets stay in the
        worker's offsets topic). The first call changes nothing and returns the effect and a confirmation token (or,
        on clusters where a person approves, an approval id); an identical second call with confirm_token deletes.
        Ask the user first. Clients that support elicitation ask the user to type the connector's name instead."""
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
        kind: Annotated[templates.ConnectorKind, Field(description="Which connector to configure.")],
        name: NameArg,
        topics: Annotated[list[str] | None, Field(description="Topics to read (sinks) or write (file source).")] = None,
        topic_prefix: Annotated[str | None, Field(description="Prefix of the topics a source writes.")] = None,
        connection: Annotated[
            str | None, Field(description="JDBC URL, Elasticsearch URL, or host:port of PostgreSQL.")
        ] = None,
        database: Annotated[str | None, Field(description="Database name (MongoDB, Debezium).")] = None,
        tables: Annotated[list[str] | None, Field(description="Tables or collections.")] = None,
        incrementing_column: Annotated[str, Field(description="JDBC incrementing column.")] = "id",
        key_field: Annotated[
            str | None, Field(description="Value field to make the record key (ValueToKey + ExtractField SMTs).")
        ] = None,
        bucket: Annotated[str | None, Field(description="S3 bucket.")] = None,
        region: Annotated[str, Field(description="S3 region.")] = "us-east-1",
        file: Annotated[str | None, Field(description="File path (FileStream connectors).")] = None,
        tasks_max: Annotated[int, Field(ge=1, le=64, description="Maximum tasks.")] = 1,
        secrets_file: Annotated[
            str, Field(description="Properties file on the worker holding the secrets referenced as ${file:...}.")
        ] = templates.DEFAULT_SECRETS_FILE,
        options: Annotated[dict[str, str] | None, Field(description="Extra settings, applied last.")] = None,
        cluster: ClusterArg = None,
    ) -> ConnectorConfigProposal:
        """Draft a connector config from a few arguments: JDBC source (incrementing mode), S3 sink (Parquet,
        hourly time-based partitions), Elasticsearch sink, MongoDB source/sink, Debezium PostgreSQL CDC, or
        FileStream. Secrets become ${file:...} references, keys are set with ValueToKey/ExtractField, sinks get a
        dead-letter queue. Validates the draft against the cluster's Connect worker when the plugin is installed
        and says plainly when it is not. Creates nothing: pass the config to kafka_create_or_update_connector."""
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
        report = await app.run(kconnect.validate_config, rest, {**generated.config, "name": name})
        return ConnectorConfigProposal(generated=generated, validation=report, note=report.note)
