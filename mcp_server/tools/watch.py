"""MCP tools for monitoring: broker metrics (Kafka's MBeans through the JMX exporter or Prometheus) and the
incidents `kafka-agent watch` opens."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from core.kafka import broker_metrics as kmetrics
from core.kafka import incidents as kincidents
from mcp_server.tools._base import Ctx, app_of, kafka_tool
from mcp_server.tools._types import ClusterArg, TopicName


def register(server: MCPServer[Any]) -> None:
    @kafka_tool(server, kind="read", title="Broker metrics")
    async def kafka_broker_metrics(
        ctx: Ctx,
        broker: Annotated[int | None, Field(ge=0, le=2_147_483_647, description="Default: all.")] = None,
        topic: Annotated[TopicName | None, Field(description="Also its counters per broker.")] = None,
        query: Annotated[
            str | None,
            Field(min_length=1, max_length=2000, description="PromQL, run as is (needs prometheus_url)."),
        ] = None,
        cluster: ClusterArg = None,
    ) -> kmetrics.BrokerMetricsReport:
        """Broker metrics: messages and bytes in/out, request latency percentiles, under-replicated, under-min-ISR and
        offline partitions, controller, ISR shrinks/expands, idle ratio, log flushes; from Prometheus or the JMX
        exporters."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        return await app.run(
            kmetrics.broker_metrics,
            cfg.name,
            metrics_url=cfg.metrics_url,
            prometheus_url=cfg.prometheus_url,
            selector=cfg.prometheus_selector,
            timeout=app.timeout,
            broker=broker,
            topic=topic,
            query=query,
        )

    @kafka_tool(server, kind="read", title="Incidents")
    async def kafka_incidents(
        ctx: Ctx,
        status: Annotated[Literal["open", "resolved", "all"], Field(description="Default: open.")] = "open",
        incident_id: Annotated[
            str | None, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$", description="One incident.")
        ] = None,
        limit: Annotated[int, Field(ge=1, le=500)] = 50,
        cluster: ClusterArg = None,
    ) -> kincidents.IncidentList:
        """Incidents `kafka-agent watch` opened (broker down, partition trouble, lag STALL/STOP, latency), newest first:
        rule, subject, evidence, timeline, diagnosis."""
        app = app_of(ctx)
        home = app.clients.cluster(app.settings.watch_cluster)
        watched = app.clients.cluster(cluster).name if cluster is not None else None
        return await app.run(
            kincidents.list_incidents,
            app.clients.consumer_config(home.name),
            app.settings.incidents_topic,
            timeout=app.timeout,
            status=status,
            incident_id=incident_id,
            cluster=watched,
            limit=limit,
        )
