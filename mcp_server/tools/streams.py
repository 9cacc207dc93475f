"""MCP tools for stream processing: deploy Kafka Streams applications from a spec, watch, query, stop, delete."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp_types import InputRequiredResult
from pydantic import BaseModel, Field

from core.errors import InvalidArgument
from core.gate import Change, ConsentPreview
from mcp_server.tools._base import Ctx, app_of, kafka_tool
from streams import service
from streams.manager import RunnerRecord
from streams.ops import CleanupResult
from streams.service import DeployOutcome, manager
from streams.spec import StreamSpec

ClusterArg = Annotated[str | None, Field(description="Configured cluster name; omit for the default cluster.")]
NameArg = Annotated[str, Field(description="The stream application's name (see kafka_stream_list).")]
ConfirmArg = Annotated[str | None, Field(description="Token from the first call of this exact call, to proceed.")]
TimeArg = Annotated[
    int | str | None, Field(description="Window time bound: epoch milliseconds or ISO-8601 (e.g. 2026-01-01T00:00Z).")
]


class StreamSummary(BaseModel):
    application: RunnerRecord
    state: str | None = Field(None, description="Kafka Streams state (RUNNING, REBALANCING, ERROR...) when live.")


class StreamStatus(BaseModel):
    application: RunnerRecord
    health: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = Field(
        None, description="records_in/out, lag (records behind), process_rate, commit_rate, commit_total."
    )
    spec: dict[str, Any]
    recent_errors: list[str] = Field(default_factory=list, description="Recent ERROR/WARN lines of the runner log.")


class QueryResult(BaseModel):
    name: str
    store: str
    store_kind: str = Field(description="kv (table), window or session.")
    rows: list[dict[str, Any]]


class KsqlOutcome(BaseModel):
    executed: bool = Field(description="False when consent is needed first (DROP, TERMINATE).")
    engine: str = Field(description="'built-in' or the URL of the configured ksqlDB server.")
    consent: ConsentPreview | None = None
    results: list[dict[str, Any]] = Field(
        default_factory=list, description="One ksqlDB-style entity per statement (currentStatus, queries, ...)."
    )
    query: dict[str, Any] | None = Field(
        None, description="For a SELECT: query_id, column_names, column_types, rows (lists in column order)."
    )


class DeleteOutcome(BaseModel):
    executed: bool
    consent: ConsentPreview | None = None
    cleanup: CleanupResult | None = None
    note: str | None = None


def _ms(value: int | str | None, what: str) -> int | None:
    if value is None or isinstance(value, int):
        return value
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise InvalidArgument(f"{what} {value!r} is neither epoch milliseconds nor an ISO-8601 time.") from None


def register(server: MCPServer[Any]) -> None:
    @kafka_tool(server, kind="write", title="Deploy stream application")
    async def kafka_stream_deploy(
        ctx: Ctx,
        spec: Annotated[StreamSpec, Field(description="The application: source, steps, join, aggregate, sink.")],
        dry_run: Annotated[bool, Field(description="Validate and describe the topology without launching.")] = False,
        cluster: ClusterArg = None,
    ) -> DeployOutcome:
        """Deploy a Kafka Streams application (a real Kafka Streams JVM) from a declarative spec: read a source
        topic, filter/select/re-key with CEL expressions, optionally join a table, global table or stream, optionally
        aggregate (count/sum/min/max/avg) by key in tumbling/hopping/session/sliding windows, and write to a sink
        topic (created if missing). exactly_once_v2 by default. dry_run=true returns the plan and the topology
        description without changing anything. Deploying the name of a stopped application restarts it."""
        app = app_of(ctx)
        return await app.run(service.deploy, app, spec, cluster, dry_run=dry_run)

    @kafka_tool(server, kind="read", title="List stream applications")
    async def kafka_stream_list(ctx: Ctx, cluster: ClusterArg = None) -> list[StreamSummary]:
        """List the stream applications deployed from this server (running, stopped or failed), with their
        Kafka Streams state when running. Filtered to one cluster when cluster is given."""
        app = app_of(ctx)
        mgr = manager(app)
        records = await app.run(mgr.list_apps)
        out = []
        for rec in records:
            if cluster is not None and rec.cluster != cluster:
                continue
            state = None
            if rec.status == "running":
                try:
                    state = (await app.run(mgr.call, rec.name, "/health", timeout=3.0)).get("state")
                except Exception:
                    state = "UNREACHABLE"
            out.append(StreamSummary(application=rec, state=state))
        return out

    @kafka_tool(server, kind="read", title="Stream application status")
    async def kafka_stream_status(ctx: Ctx, name: NameArg, cluster: ClusterArg = None) -> StreamStatus:
        """One stream application's state (Kafka Streams state, pid, port), metrics (records in/out, consumer lag,
        process and commit rates), its spec, and recent errors from its log. Use it after deploying and when output
        looks wrong."""
        app = app_of(ctx)
        mgr = manager(app)
        rec = await app.run(mgr.get, name)
        health = metrics = None
        if rec.status == "running":
            health = await app.run(mgr.call, name, "/health")
            metrics = await app.run(mgr.call, name, "/metrics")
        spec = (await app.run(mgr.load_spec, name)).model_dump(mode="json", exclude_none=True)
        lines = await app.run(mgr.log_tail, name, 300)
        errors = [ln for ln in lines if " ERROR " in ln or " WARN " in ln or "Exception" in ln][-10:]
        return StreamStatus(application=rec, health=health, metrics=metrics, spec=spec, recent_errors=errors)

    @kafka_tool(server, kind="read", title="Query stream state")
    async def kafka_stream_query(
        ctx: Ctx,
        name: NameArg,
        key: Annotated[str | None, Field(description="One key (group key) to look up.")] = None,
        from_key: Annotated[str | None, Field(description="Range start (inclusive), with to_key.")] = None,
        to_key: Annotated[str | None, Field(description="Range end (inclusive).")] = None,
        time_from: TimeArg = None,
        time_to: TimeArg = None,
        limit: Annotated[int, Field(ge=1, le=10000, description="Maximum rows returned.")] = 1000,
        cluster: ClusterArg = None,
    ) -> QueryResult:
        """Interactive query of a running application's state store: the current aggregate for one key, a key
        range, or everything; for windowed stores, windows starting between time_from and time_to. Returns rows
        with the key, window_start/window_end (windowed) and the aggregation fields."""
        app = app_of(ctx)
        mgr = manager(app)
        params = {
            "key": key,
            "from": from_key,
            "to": to_key,
            "time_from": _ms(time_from, "time_from"),
            "time_to": _ms(time_to, "time_to"),
            "limit": limit,
        }
        data = await app.run(mgr.call, name, "/query", params)
        return QueryResult(name=name, store=data["store"], store_kind=data["store_kind"], rows=data["rows"])

    @kafka_tool(server, kind="write", idempotent=True, title="Stop stream application")
    async def kafka_stream_stop(ctx: Ctx, name: NameArg, cluster: ClusterArg = None) -> RunnerRecord:
        """Stop a stream application cleanly (it commits and closes). Its state, offsets and internal topics stay,
        so deploying the same spec again resumes where it stopped."""
        app = app_of(ctx)
        mgr = manager(app)
        rec = await app.run(mgr.get, name)
        change = Change(
            tool="kafka_stream_stop",
            cluster=rec.cluster,
            action="stream.stop",
            resource_type="stream",
            resources=[name],
            arguments={"name": name},
        )
        app.safety.authorize(change, confirm_token=None, effect=f"stop stream application {name!r}")
        result = await app.run(mgr.stop, name)
        app.safety.record(change, decision="allowed", result={"status": result.status})
        return result

    @kafka_tool(server, kind="destructive", title="Delete stream application")
    async def kafka_stream_delete(
        ctx: Ctx, name: NameArg, confirm_token: ConfirmArg = None, cluster: ClusterArg = None
    ) -> DeleteOutcome | InputRequiredResult:
        """Delete a stream application: stop it, delete its internal topics (repartition, changelog) and its
        consumer group (the committed offsets), and remove its local state. The sink topic is kept. The first
        call changes nothing and returns the effect and a confirmation token; an identical second call with
        confirm_token deletes. Ask the user first."""
        app = app_of(ctx)
        mgr = manager(app)
        rec = await app.run(mgr.get, name)
        from streams import ops

        admin = app.clients.admin(rec.cluster)
        topics = await app.run(ops.internal_topics, admin, rec.application_id, timeout=app.timeout)
        change = Change(
            tool="kafka_stream_delete",
            cluster=rec.cluster,
            action="stream.delete",
            resource_type="stream",
            resources=[name],
            destructive=True,
            arguments={"name": name},
        )
        effect = (
            f"Stop stream application {name!r} ({rec.status}) on cluster {rec.cluster!r}, delete its "
            f"{len(topics)} internal topic(s) ({', '.join(topics) or 'none'}), its consumer group "
            f"{rec.application_id!r} and its local state. The sink topic is kept."
        )
        preview = await app.safety.confirm(ctx, change, confirm_token=confirm_token, effect=effect)
        if isinstance(preview, InputRequiredResult):
            return preview  # the user is asked through elicitation; the client retries
        if preview is not None:
            return DeleteOutcome(executed=False, consent=preview)
        try:
            cleanup = await app.run(service.remove, app, name)
        except Exception as exc:
            app.safety.record(change, decision="confirmed", error=str(exc))
            raise
        app.safety.record(change, decision="confirmed", result=cleanup.model_dump())
        return DeleteOutcome(executed=True, cleanup=cleanup, note="The sink topic was kept.")

    @kafka_tool(server, kind="write", title="Streaming SQL (ksqlDB subset)")
    async def kafka_ksql(
        ctx: Ctx,
        sql: Annotated[str, Field(description="One or more statements separated by ';', or one SELECT query.")],
        confirm_token: ConfirmArg = None,
        push_limit: Annotated[int, Field(ge=1, le=1000, description="Push query: stop after this many rows.")] = 10,
        push_timeout_s: Annotated[float, Field(gt=0, le=60, description="Push query: stop after this long.")] = 10.0,
        from_beginning: Annotated[bool, Field(description="Push query: start at the earliest offset.")] = False,
        cluster: ClusterArg = None,
    ) -> KsqlOutcome | InputRequiredResult:
        """Run streaming SQL. Without a configured ksqldb_url this uses the built-in engine, which compiles a
        ksqlDB subset to Kafka Streams applications: CREATE STREAM/TABLE (cols) WITH (KAFKA_TOPIC, VALUE_FORMAT='JSON',
        PARTITIONS, TIMESTAMP); CREATE STREAM AS SELECT ... [[LEFT] JOIN table ON s.col = t.key] WHERE ...;
        CREATE TABLE AS SELECT col, COUNT(*)/SUM/MIN/MAX/AVG ... WINDOW TUMBLING|HOPPING|SESSION (SIZE .., GRACE
        PERIOD ..) GROUP BY col EMIT CHANGES|FINAL; DROP STREAM|TABLE [DELETE TOPIC]; TERMINATE id; SHOW STREAMS|TABLES|
        QUERIES; DESCRIBE; pull queries (SELECT ... FROM table WHERE key = ..); push queries (SELECT ... FROM stream
        WHERE .. EMIT CHANGES LIMIT n). Unsupported syntax is refused naming the construct. DROP and TERMINATE need
        the user's confirmation: the first call returns a token."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        import re

        from streams import sql as q

        statements = q.split_statements(sql)
        if not statements:
            raise InvalidArgument("No SQL statement given.")
        destructive = [s for s in statements if re.match(r"(?is)^\s*(DROP|TERMINATE)\b", s)]
        engine_name = cfg.ksqldb_url or "built-in"
        if not cfg.ksqldb_url:
            await app.run(service.engine(app, cfg.name).precheck, sql)
        if destructive:
            change = Change(
                tool="kafka_ksql",
                cluster=cfg.name,
                action="ksql.drop",
                resource_type="stream",
                resources=destructive,
                destructive=True,
                arguments={"sql": sql},
            )
            effect = (
                f"Run on {engine_name} (cluster {cfg.name!r}): {'; '.join(destructive)}. Dropping a persistent "
                "query stops its Kafka Streams application and deletes its internal topics; DELETE TOPIC also "
                "deletes the topic and its records."
            )
            preview = await app.safety.confirm(ctx, change, confirm_token=confirm_token, effect=effect)
            if isinstance(preview, InputRequiredResult):
                return preview  # the user is asked through elicitation; the client retries
            if preview is not None:
                return KsqlOutcome(executed=False, engine=engine_name, consent=preview)
        is_query = len(statements) == 1 and re.match(r"(?is)^\s*SELECT\b", statements[0]) is not None
        if cfg.ksqldb_url:
            from streams.ksql_client import KsqlClient

            client = KsqlClient.for_cluster(cfg, timeout=app.settings.request_timeout_s)
            if is_query:
                props = {"auto.offset.reset": "earliest"} if from_beginning else {}
                result = await app.run(
                    client.query, statements[0], properties=props, limit=push_limit, timeout=push_timeout_s
                )
                return KsqlOutcome(executed=True, engine=engine_name, query=result)
            results = await app.run(client.execute, sql)
            return KsqlOutcome(executed=True, engine=engine_name, results=results)
        eng = service.engine(app, cfg.name)
        if is_query:
            qres = await app.run(
                eng.query, statements[0], earliest=from_beginning, limit=push_limit, timeout=push_timeout_s
            )
            return KsqlOutcome(executed=True, engine=engine_name, query=qres.model_dump())
        results = await app.run(eng.execute, sql)
        return KsqlOutcome(executed=True, engine=engine_name, results=results)
