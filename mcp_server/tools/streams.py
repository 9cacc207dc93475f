"""MCP tools for stream processing: deploy Kafka Streams applications from a spec, watch, query, stop, delete."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp_types import InputRequiredResult
from pydantic import BaseModel, Field, StringConstraints, ValidationError

from core.errors import InvalidArgument
from core.gate import ConsentPreview
from mcp_server.consent import requester_of
from mcp_server.references import reference
from mcp_server.tools._args import describe_validation
from mcp_server.tools._base import Ctx, app_of, gated, gated_destructive, kafka_tool
from mcp_server.tools._types import CONFIRM_DESCRIPTION
from streams import ksql_service, service
from streams.manager import RunnerRecord
from streams.ops import CleanupResult
from streams.service import DeployOutcome, manager
from streams.spec import StreamSpec

ClusterArg = Annotated[str | None, Field()]
NameArg = Annotated[str, Field(description="See kafka_stream_list.")]
ConfirmArg = Annotated[str | None, Field(description=CONFIRM_DESCRIPTION)]
TimeArg = Annotated[
    Annotated[int, Field(ge=0, le=10**14)] | Annotated[str, StringConstraints(max_length=64)] | None,
    Field(description="Epoch ms or ISO-8601."),
]


class StreamSummary(BaseModel):
    application: RunnerRecord
    state: str | None = Field(None, description="Kafka Streams state (RUNNING, REBALANCING, ERROR...) when live.")


class StreamStatus(BaseModel):
    application: RunnerRecord
    health: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = Field(
        None,
        description="records_in/out, lag (records behind), process_rate, commit_rate, commit_total, and what did not "
        "make it into the output: failed_records (an expression that failed, a filter that was not true/false, a "
        "value that does not fit its column) with recent_failures, late_records (after their window's grace period) "
        "and dropped_records (Kafka Streams' own count: expired windows, unreadable records).",
    )
    warnings: list[str] = Field(
        default_factory=list, description="Records that did not make it into the output, restarts, failed instances."
    )
    spec: dict[str, Any]
    recent_errors: list[str] = Field(default_factory=list, description="Recent ERROR/WARN lines of the runner log.")


class QueryResult(BaseModel):
    name: str
    store: str
    store_kind: str = Field(description="kv (table), window or session.")
    rows: list[dict[str, Any]]
    warnings: list[str] = Field(
        default_factory=list, description="Records the application could not count (the rows may be incomplete)."
    )


class KsqlOutcome(BaseModel):
    executed: bool = Field(description="False when consent is needed first (DROP, TERMINATE, DELETE TOPIC).")
    engine: str = Field(description="'built-in' or the URL of the configured ksqlDB server.")
    consent: ConsentPreview | None = None
    results: list[dict[str, Any]] = Field(
        default_factory=list,
        description="One ksqlDB-style entity per statement (currentStatus, queries, ...); read each entity's warnings "
        "(a window without GRACE PERIOD, what a DROP left behind, records a query could not count).",
    )
    query: dict[str, Any] | None = Field(
        None,
        description="For a SELECT or PRINT: query_id, column_names, column_types, rows (lists in column order), and "
        "warnings when the table's application dropped or failed records.",
    )


class DeleteOutcome(BaseModel):
    executed: bool = Field(description="True when the deletion ran; see complete for whether everything went.")
    complete: bool | None = Field(None, description="False when something was left behind (listed in remaining).")
    remaining: list[str] = Field(default_factory=list, description="Exactly what is left behind, and why.")
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


def _spec_reference() -> str:
    """The spec's grammar, generated from the model the server validates against, with an example."""
    example = {
        "name": "big-orders",
        "source": {"topic": "orders"},
        "steps": [{"op": "filter", "expr": "value.amount > 100"}, {"op": "select", "fields": {"id": "value.id"}}],
        "sink": {"topic": "big-orders"},
    }
    schema = json.dumps(StreamSpec.model_json_schema(), indent=1)
    return (
        "# Stream application spec\n\nThe `spec` argument of kafka_stream_deploy. Expressions are CEL over `key`, "
        "`value` (the record's JSON) and `timestamp`; a filter must evaluate to true/false. Aggregates run in "
        "tumbling, hopping, session or sliding windows; give a grace period when records can arrive out of order.\n\n"
        f"Example:\n\n```json\n{json.dumps(example, indent=1)}\n```\n\nJSON Schema:\n\n```json\n{schema}\n```\n"
    )


STREAM_SPEC_URI = reference("stream-spec", "Stream application spec (kafka_stream_deploy)", _spec_reference)


def parse_spec(spec: dict[str, Any]) -> StreamSpec:
    """The spec as the model, or one readable error that points at the grammar."""
    try:
        return StreamSpec.model_validate(spec)
    except ValidationError as exc:
        detail = (
            describe_validation(exc).removeprefix("invalid arguments: ").removesuffix(" Nothing was done.").rstrip(".")
        )
        raise InvalidArgument(
            f"`spec` is not a valid stream spec: {detail}. Nothing was done.",
            hint=f"The grammar and an example: {STREAM_SPEC_URI}.",
        ) from None


def register(server: MCPServer[Any]) -> None:
    @kafka_tool(server, kind="write", title="Deploy stream application")
    async def kafka_stream_deploy(
        ctx: Ctx,
        spec: Annotated[
            dict[str, Any],
            Field(
                max_length=20,
                description="{name, source: {topic}, steps, join, aggregate, sink: {topic}}; "
                "the grammar is kafka-agent://reference/stream-spec.",
            ),
        ],
        dry_run: Annotated[bool, Field()] = False,
        instances: Annotated[
            int,
            Field(ge=1, le=8, description="JVMs sharing the partitions."),
        ] = 1,
        resume: Annotated[
            bool,
            Field(description="Continue from the offsets and internal topics of an earlier run of this id."),
        ] = False,
        cluster: ClusterArg = None,
    ) -> DeployOutcome:
        """Deploy a Kafka Streams application (supervised JVMs) from a declarative spec: source topic, CEL
        filter/select/re-key steps, optional join and windowed aggregate, sink topic; exactly_once_v2. dry_run=true only
        plans. A stopped application's name restarts it; a new id with old offsets needs resume=true."""
        spec_model = parse_spec(spec)
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        if dry_run:
            return await app.run(service.dry_run, app, spec_model, cfg)
        plan = await app.run(service.plan_deploy, app, spec_model, cfg)
        change = service.deploy_change(spec_model, cfg, plan, tool="kafka_stream_deploy")
        return await gated(
            ctx,
            change,
            lambda permit: service.deploy(
                permit, app, spec_model, cfg, plan, tool="kafka_stream_deploy", instances=instances, resume=resume
            ),
        )

    @kafka_tool(server, kind="read", title="List stream applications")
    async def kafka_stream_list(ctx: Ctx, cluster: ClusterArg = None) -> list[StreamSummary]:
        """List the stream applications deployed from this server (running, stopped or failed), with their Kafka Streams
        state when running."""
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
        """One stream application's state, metrics (records in/out, lag, rates), spec and recent log errors; use after
        deploying and when output looks wrong."""
        app = app_of(ctx)
        mgr = manager(app)
        rec = await app.run(mgr.get, name)
        health = metrics = None
        if rec.status == "running":
            health = await app.run(mgr.call, name, "/health")
            metrics = await app.run(service.app_metrics, app, name)
        spec = (await app.run(mgr.load_spec, name)).model_dump(mode="json", exclude_none=True)
        lines = await app.run(mgr.log_tail, name, 300)
        errors = [ln for ln in lines if " ERROR " in ln or " WARN " in ln or "Exception" in ln][-10:]
        warnings = service.status_warnings(rec, metrics)
        return StreamStatus(
            application=rec, health=health, metrics=metrics, warnings=warnings, spec=spec, recent_errors=errors
        )

    @kafka_tool(server, kind="read", title="Query stream state")
    async def kafka_stream_query(
        ctx: Ctx,
        name: NameArg,
        key: Annotated[str | None, Field(description="One group key.")] = None,
        from_key: Annotated[str | None, Field(description="Inclusive range with to_key.")] = None,
        to_key: Annotated[str | None, Field()] = None,
        time_from: TimeArg = None,
        time_to: TimeArg = None,
        limit: Annotated[int, Field(ge=1, le=10000)] = 1000,
        cluster: ClusterArg = None,
    ) -> QueryResult:
        """Query a running application's state store: the aggregate for one key, a key range, or all; windowed stores
        between time_from and time_to. Rows: key, window_start/window_end, aggregate fields."""
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
        metrics = await app.run(service.app_metrics, app, name)
        warnings = service.status_warnings(None, metrics)
        return QueryResult(
            name=name, store=data["store"], store_kind=data["store_kind"], rows=data["rows"], warnings=warnings
        )

    @kafka_tool(server, kind="write", idempotent=True, title="Stop stream application")
    async def kafka_stream_stop(ctx: Ctx, name: NameArg, cluster: ClusterArg = None) -> RunnerRecord:
        """Stop a stream application cleanly (commits and closes); state, offsets and internal topics stay, so deploying
        the same spec again resumes."""
        app = app_of(ctx)
        mgr = manager(app)
        rec = await app.run(mgr.get, name)
        change = service.stop_change(rec, tool="kafka_stream_stop")
        return await gated(ctx, change, lambda permit: mgr.stop(permit, name))

    @kafka_tool(server, kind="destructive", title="Delete stream application")
    async def kafka_stream_delete(
        ctx: Ctx, name: NameArg, confirm_token: ConfirmArg = None, cluster: ClusterArg = None
    ) -> DeleteOutcome | InputRequiredResult:
        """Delete a stream application: stop it, delete its internal topics, consumer group and local state (the sink
        topic stays). The first call only previews; repeat with confirm_token once the user agrees."""
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
        note = "The sink topic was kept."
        if not done.complete:
            note += " Not everything could be deleted: see remaining; deploying this name again is refused until it is."
        return DeleteOutcome(executed=True, complete=done.complete, remaining=done.remaining, cleanup=done, note=note)

    @kafka_tool(server, kind="write", title="Streaming SQL (ksqlDB)")
    async def kafka_ksql(
        ctx: Ctx,
        sql: Annotated[str, Field(description="Statements separated by ';', or one SELECT or PRINT.")],
        confirm_token: ConfirmArg = None,
        properties: Annotated[
            dict[str, str] | None,
            Field(description="streamsProperties, e.g. {'auto.offset.reset': 'earliest'}."),
        ] = None,
        push_limit: Annotated[int, Field(ge=1, le=1000, description="Push query: rows.")] = 10,
        push_timeout_s: Annotated[float, Field(gt=0, le=60, description="Push query: seconds.")] = 10.0,
        from_beginning: Annotated[bool, Field(description="Push query: from the earliest offset.")] = False,
        cluster: ClusterArg = None,
    ) -> KsqlOutcome | InputRequiredResult:
        """Run streaming SQL (ksqlDB dialect) on the configured ksqlDB server or the built-in engine (supported:
        kafka-agent://reference/ksql-dialect); the batch is checked first. DROP, TERMINATE or DELETE TOPIC need consent:
        the first call only previews; repeat with the token."""
        app = app_of(ctx)
        cfg = app.clients.cluster(cluster)
        import re

        from streams import sql as q

        statements = q.split_statements(sql)
        if not statements:
            raise InvalidArgument("No SQL statement given.")
        engine_name = cfg.ksqldb_url or "built-in"
        is_query = len(statements) == 1 and re.match(r"(?is)^\s*(SELECT|PRINT)\b", statements[0]) is not None
        props: dict[str, Any] = dict(properties or {})
        results: list[dict[str, Any]] | ConsentPreview | InputRequiredResult
        if cfg.ksqldb_url:
            from streams.ksql_client import KsqlClient

            client = KsqlClient.for_cluster(cfg, timeout=app.settings.request_timeout_s)
            if is_query:
                if from_beginning:
                    props["auto.offset.reset"] = "earliest"
                result = await app.run(
                    client.query, statements[0], properties=props, limit=push_limit, timeout=push_timeout_s
                )
                return KsqlOutcome(executed=True, engine=engine_name, query=result)
            change, effect = await app.run(
                ksql_service.remote_change, app, cfg, client, sql, tool="kafka_ksql", requester=requester_of(ctx)
            )
            if change is None:
                results = await app.run(client.execute_read, sql, props)
            elif change.destructive:
                results = await gated_destructive(
                    ctx,
                    change,
                    lambda permit: client.execute(permit, sql, props),
                    effect=effect,
                    confirm_token=confirm_token,
                )
            else:
                results = await gated(ctx, change, lambda permit: client.execute(permit, sql, props))
            return _ksql_outcome(engine_name, results)
        eng = ksql_service.engine(app, cfg.name)
        if is_query:
            qres = await app.run(
                eng.query,
                statements[0],
                earliest=True if from_beginning else None,
                limit=push_limit,
                timeout=push_timeout_s,
                properties=props,
            )
            return KsqlOutcome(executed=True, engine=engine_name, query=qres.model_dump())
        batch = await app.run(
            ksql_service.plan_batch,
            app,
            cfg.name,
            sql,
            tool="kafka_ksql",
            requester=requester_of(ctx),
            properties=props or None,
        )
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
