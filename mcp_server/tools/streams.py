"""MCP tools for stream processing: deploy Kafka Streams applications from a spec, watch, query, stop, delete."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp_types import InputRequiredResult
from pydantic import BaseModel, Field

from core.errors import InvalidArgument
from core.gate import ConsentPreview
from mcp_server.consent import requester_of
from mcp_server.tools._base import Ctx, app_of, gated, gated_destructive, kafka_tool
from streams import service
from streams.manager import RunnerRecord
from streams.ops import CleanupResult
from streams.service import DeployOutcome, manager
from streams.spec import StreamSpec

ClusterArg = Annotated[str | None, Field(description="Configured cluster name; omit for the default cluster.")]
NameArg = Annotated[str, Field(description="The stream application's name (see kafka_stream_list).")]
ConfirmArg = Annotated[
    str | None,
    Field(description="The confirmation token or approval id the first call returned; omit it on the first call."),
]
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
    executed: bool = Field(description="False when consent is needed first (DROP, TERMINATE, DELETE TOPIC).")
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
        cfg = app.clients.cluster(cluster)
        if dry_run:
            return await app.run(service.dry_run, app, spec, cfg)
        plan = await app.run(service.plan_deploy, app, spec, cfg)
        change = service.deploy_change(spec, cfg, plan, tool="kafka_stream_deploy")
        return await gated(
            ctx, change, lambda permit: service.deploy(permit, app, spec, cfg, plan, tool="kafka_stream_deploy")
        )

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
        change = service.stop_change(rec, tool="kafka_stream_stop")
        return await gated(ctx, change, lambda permit: mgr.stop(permit, name))

    @kafka_tool(server, kind="destructive", title="Delete stream application")
    async def kafka_stream_delete(
        ctx: Ctx, name: NameArg, confirm_token: ConfirmArg = None, cluster: ClusterArg = None
    ) -> DeleteOutcome | InputRequiredResult:
        """Delete a stream application: stop it, delete its internal topics (repartition, changelog) and its
        consumer group (the committed offsets), and remove its local state. The sink topic is kept. The first
        call changes nothing and returns the effect and how to consent (a confirmation token, or an approval id a
        person must grant); an identical second call with confirm_token deletes. Ask the user first."""
        app = app_of(ctx)
        rec, topics = await app.run(service.app_resources, app, name)
        change, effect = service.delete_change(rec, topics, tool="kafka_stream_delete")
        done = await gated_destructive(
            ctx,
            change,
            lambda permit: service.remove(permit, app, name, topics=topics),
            effect=effect,
            confirm_token=confirm_token,
        )
        if isinstance(done, InputRequiredResult):
            return done  # the user is asked through elicitation; the client retries
        if isinstance(done, ConsentPreview):
            return DeleteOutcome(executed=False, consent=done)
        return DeleteOutcome(executed=True, cleanup=done, note="The sink topic was kept.")

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
        WHERE .. EMIT CHANGES LIMIT n). Unsupported syntax is refused naming the construct. The whole batch is
        checked before anything runs. Statements that delete something (DROP of a query's table or stream, TERMINATE,
        DELETE TOPIC) need the user's consent for the whole batch first: the first call changes nothing and returns
        the effect (a token, or an approval id a person must grant); repeat the identical call with it."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        import re

        from streams import sql as q

        statements = q.split_statements(sql)
        if not statements:
            raise InvalidArgument("No SQL statement given.")
        engine_name = cfg.ksqldb_url or "built-in"
        is_query = len(statements) == 1 and re.match(r"(?is)^\s*SELECT\b", statements[0]) is not None
        results: list[dict[str, Any]] | ConsentPreview | InputRequiredResult
        if cfg.ksqldb_url:
            from streams.ksql_client import KsqlClient

            client = KsqlClient.for_cluster(cfg, timeout=app.settings.request_timeout_s)
            if is_query:
                props = {"auto.offset.reset": "earliest"} if from_beginning else {}
                result = await app.run(
                    client.query, statements[0], properties=props, limit=push_limit, timeout=push_timeout_s
                )
                return KsqlOutcome(executed=True, engine=engine_name, query=result)
            change, effect = await app.run(
                service.remote_change, app, cfg, client, sql, tool="kafka_ksql", requester=requester_of(ctx)
            )
            if change is None:
                results = await app.run(client.execute_read, sql)
            elif change.destructive:
                results = await gated_destructive(
                    ctx, change, lambda permit: client.execute(permit, sql), effect=effect, confirm_token=confirm_token
                )
            else:
                results = await gated(ctx, change, lambda permit: client.execute(permit, sql))
            return _ksql_outcome(engine_name, results)
        eng = service.engine(app, cfg.name)
        if is_query:
            qres = await app.run(
                eng.query, statements[0], earliest=from_beginning, limit=push_limit, timeout=push_timeout_s
            )
            return KsqlOutcome(executed=True, engine=engine_name, query=qres.model_dump())
        batch = await app.run(service.plan_batch, app, cfg.name, sql, tool="kafka_ksql", requester=requester_of(ctx))
        if batch.change is None:
            results = await app.run(batch.run_unchanged)
        elif batch.change.destructive:
            results = await gated_destructive(
                ctx, batch.change, batch.run, effect=batch.effect, confirm_token=confirm_token
            )
        else:
            results = await gated(ctx, batch.change, batch.run)
        return _ksql_outcome(engine_name, results)


def _ksql_outcome(
    engine_name: str, done: list[dict[str, Any]] | ConsentPreview | InputRequiredResult
) -> KsqlOutcome | InputRequiredResult:
    if isinstance(done, InputRequiredResult):
        return done  # the user is asked through elicitation; the client retries
    if isinstance(done, ConsentPreview):
        return KsqlOutcome(executed=False, engine=engine_name, consent=done)
    return KsqlOutcome(executed=True, engine=engine_name, results=done)
