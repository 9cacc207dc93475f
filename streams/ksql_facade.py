"""A ksqlDB-compatible REST facade over the built-in SQL engine, so existing ksqlDB clients work against it. Served
over HTTP/1.1 and HTTP/2 cleartext (h2c, prior knowledge or upgrade) by ``serve`` (Hypercorn).

Endpoints (as ksqlDB documents them):
- ``GET /info``, ``GET /healthcheck``: server info and health.
- ``POST /ksql`` (``application/vnd.ksql.v1+json``): ``{"ksql": "...", "streamsProperties": {...}}`` -> a JSON
  array with one entity per statement (``currentStatus``, ``streams``, ``tables``, ``queries``, ``properties``,
  ``sourceDescription``...); errors are ``statement_error`` entities with HTTP 400.
- ``GET /status/{commandId}``: every command here completes synchronously, so it is ``SUCCESS`` once known.
- ``POST /query-stream`` (the HTTP/2 API): ``{"sql": "SELECT ...", "properties": {"auto.offset.reset": "earliest"}}``.
  With ``Accept: application/vnd.ksqlapi.delimited.v1`` (the default) the header object and then one JSON array per
  row, one per line; with ``Accept: application/json`` a JSON array of the same items. Push queries stream until
  their LIMIT, ``/close-query`` or the client going away.
- ``POST /query`` (the older HTTP/1.1 API): ``{"ksql": "SELECT ...", "streamsProperties": {...}}`` -> a streamed JSON
  array: ``{"header": {"queryId", "schema"}}``, then ``{"row": {"columns": [...]}}`` per row, then a
  ``{"finalMessage": ...}``. PRINT streams its records as text lines.
- ``POST /close-query``: ``{"queryId": "..."}`` ends a push query.
- ``POST /inserts-stream``: ``{"target": "S"}`` then one JSON row per line; one ``{"status": "ok", "seq": n}`` (or an
  error) per row. Each row is written through the gate, like INSERT INTO ... VALUES.

Every statement batch is planned first (nothing runs if any statement fails) and each change it makes on a real
resource goes through the gate as its own change (policies, protected topics, one audit line each), asked for by
``facade:<cluster>``. ``DROP`` and ``TERMINATE`` are refused unless the facade was started with ``--allow-drop``
(ksqlDB clients cannot go through the MCP consent flow); with it, the operator's standing consent covers them on
token-mode (dev) clusters, while an approve-mode cluster answers with a pending approval that a person grants
(`kafka-agent approvals approve <id>`) before the client sends the same statement again. Started with
``kafka-agent streams sql-server``; binds 127.0.0.1 by default.
"""

from __future__ import annotations

import json
import math
import queue
import re
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from core.app import AppContext
from core.errors import KafkaAgentError, KafkaOperationError, NotFound, Refused
from core.gate import ConsentRequired, NoConsent, Requester, StandingConsent
from streams import ksql_service

KSQL_MEDIA = "application/vnd.ksql.v1+json"
DELIMITED_MEDIA = "application/vnd.ksqlapi.delimited.v1"
VERSION = "0.29.0"
PUSH_QUERY_MAX_S = 3600.0
TOOL = "ksql_facade"
_END = object()


def _error(message: str, sql: str = "", status: int = 400, code: int = 40001) -> JSONResponse:
    body = {"@type": "statement_error", "error_code": code, "message": message, "statementText": sql, "entities": []}
    return JSONResponse(body, status_code=status, media_type=KSQL_MEDIA)


def _pending(exc: ConsentRequired, sql: str, cluster: str) -> JSONResponse:
    """A change waiting for consent: the approval a person must grant before the client resends the statement."""
    preview = exc.preview
    if preview is None or preview.approval_id is None:
        return _error(f"{exc}: this facade cannot ask for consent; nothing was changed.", sql, status=403, code=40300)
    return _error(
        f"Nothing was changed: cluster {cluster!r} needs a person's approval for this ({preview.effect}). Approval "
        f"{preview.approval_id} is pending until {preview.expires_at}: a person must review it with `kafka-agent "
        f"approvals show {preview.approval_id}` and run `kafka-agent approvals approve {preview.approval_id}`; then "
        "send exactly the same statement again.",
        sql,
    )


async def _json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None


def build_facade(
    app: AppContext, cluster: str | None = None, *, allow_drop: bool = False, operator: str | None = None
) -> Starlette:
    """The facade over the built-in engine of ``cluster``. ``allow_drop``: the standing consent of ``operator`` (who
    started it) to DROP and TERMINATE, honoured on token-mode clusters; approve-mode clusters ask for an approval."""
    cfg = app.clients.cluster(cluster)
    active: dict[str, threading.Event] = {}
    commands: dict[str, dict[str, Any]] = {}
    requester = Requester(f"facade:{cfg.name}", f"ksqlDB facade of cluster {cfg.name}")
    standing = StandingConsent(by=operator or "the operator who started the facade with --allow-drop")

    def engine() -> Any:
        return ksql_service.engine(app, cfg.name)

    def run_statements(sql: str, properties: dict[str, Any]) -> list[dict[str, Any]]:
        batch = ksql_service.plan_batch(app, cfg.name, sql, tool=TOOL, requester=requester, properties=properties)
        if batch.change is None:
            return batch.run_unchanged()
        consent = standing if allow_drop else NoConsent("the ksqlDB facade was started without --allow-drop")
        return app.gate.perform(batch.change, batch.run, requester=requester, consent=consent, effect=batch.effect)

    async def info(_: Request) -> Response:
        return JSONResponse(
            {
                "KsqlServerInfo": {
                    "version": VERSION,
                    "kafkaClusterId": cfg.name,
                    "ksqlServiceId": "kafka_streaming_agent_",
                    "serverStatus": "RUNNING",
                }
            },
            media_type=KSQL_MEDIA,
        )

    async def healthcheck(_: Request) -> Response:
        return JSONResponse(
            {"isHealthy": True, "details": {"metastore": {"isHealthy": True}, "kafka": {"isHealthy": True}}}
        )

    async def ksql(request: Request) -> Response:
        body = await _json_body(request)
        sql = body.get("ksql") if isinstance(body, dict) else None
        if not isinstance(sql, str) or not sql.strip():
            return _error('The body needs "ksql": "<statements>".')
        properties = body.get("streamsProperties") or {}
        if re.search(r"(?im)^\s*(DROP|TERMINATE)\b", sql) and not allow_drop:
            return _error(
                "DROP and TERMINATE are disabled on this facade; start it with --allow-drop, or use the kafka_ksql "
                "tool, which asks for confirmation.",
                sql,
                status=403,
                code=40300,
            )
        if re.match(r"(?is)^\s*(SELECT|PRINT)\b", sql):
            return _error("SELECT and PRINT queries go to /query-stream (or /query).", sql)
        try:
            results = await anyio.to_thread.run_sync(run_statements, sql, properties)
        except ConsentRequired as pending:
            return _pending(pending, sql, cfg.name)
        except KafkaAgentError as exc:
            return _error(str(exc), sql, status=403 if isinstance(exc, Refused) else 400)
        for entity in results:
            command = entity.get("commandId")
            if command:
                commands[command] = entity["commandStatus"]
        return JSONResponse(results, media_type=KSQL_MEDIA)

    async def status(request: Request) -> Response:
        command = request.path_params["command"]
        found = commands.get(command)
        if found is None:
            return _error(f"Unknown command {command!r}.", status=404, code=40400)
        return JSONResponse(found, media_type=KSQL_MEDIA)

    async def close_query(request: Request) -> Response:
        body = await _json_body(request)
        query_id = body.get("queryId") if isinstance(body, dict) else None
        event = active.get(str(query_id))
        if event is None:
            return _error(f"No push query with id {query_id!r} is running.", status=400)
        event.set()
        return JSONResponse({})

    def start_query(sql: str, properties: dict[str, Any]) -> tuple[queue.Queue[Any], threading.Event]:
        """Run a query in a thread; its header, rows, an error and the end come through the queue."""
        items: queue.Queue[Any] = queue.Queue(maxsize=1000)
        stop = threading.Event()

        def put(item: Any) -> None:
            while True:
                try:
                    items.put(item, timeout=0.5)
                    return
                except queue.Full:
                    if stop.is_set():
                        return

        def on_header(result: Any) -> None:
            active[result.query_id] = stop
            put(result)

        def run_query() -> None:
            try:
                engine().query(
                    sql,
                    timeout=PUSH_QUERY_MAX_S,
                    stop=stop,
                    on_header=on_header,
                    on_row=put,
                    properties=properties,
                )
            except KafkaAgentError as exc:
                put(exc)
            except Exception as exc:  # the stream must end with a message, whatever happened
                put(KafkaOperationError(f"{type(exc).__name__}: {exc}"))
            finally:
                put(_END)

        threading.Thread(target=run_query, name="ksql-query", daemon=True).start()
        return items, stop

    async def stream(
        items: queue.Queue[Any], stop: threading.Event, header: Any, render: Callable[[Any], bytes], end: bytes
    ) -> AsyncIterator[bytes]:
        try:
            while True:
                item = await anyio.to_thread.run_sync(items.get)
                if item is _END:
                    break
                yield render(item)
            yield end
        finally:
            stop.set()
            active.pop(header.query_id, None)

    async def query_stream(request: Request) -> Response:
        body = await _json_body(request)
        sql = body.get("sql") if isinstance(body, dict) else None
        if not isinstance(sql, str) or not sql.strip():
            return _error('The body needs "sql": "SELECT ...".')
        properties = body.get("properties") or {}
        accept = request.headers.get("accept", "")
        as_json = "application/json" in accept and DELIMITED_MEDIA not in accept
        items, stop = start_query(sql, properties)
        first = await anyio.to_thread.run_sync(items.get)
        if isinstance(first, KafkaAgentError) or first is _END:
            stop.set()
            err = first if isinstance(first, KafkaAgentError) else NotFound("The query ended without a header.")
            return _error(str(err), sql, status=403 if isinstance(err, Refused) else 400)
        header = {"queryId": first.query_id, "columnNames": first.column_names, "columnTypes": first.column_types}
        started = [False]

        def render(item: Any) -> bytes:
            if isinstance(item, KafkaAgentError):
                item = {"@type": "generic_error", "error_code": 50000, "message": str(item)}
            data = json.dumps(item, default=str).encode()
            if as_json:
                return b",\n" + data
            return data + b"\n"

        async def lines() -> AsyncIterator[bytes]:
            yield (b"[" if as_json else b"") + json.dumps(header).encode() + (b"" if as_json else b"\n")
            started[0] = True
            async for chunk in stream(items, stop, first, render, b"]" if as_json else b""):
                if chunk:
                    yield chunk

        return StreamingResponse(lines(), media_type="application/json" if as_json else DELIMITED_MEDIA)

    async def query_v1(request: Request) -> Response:
        """The older /query endpoint (HTTP/1.1 chunked): a streamed JSON array of header, rows, final message."""
        body = await _json_body(request)
        sql = body.get("ksql") if isinstance(body, dict) else None
        if not isinstance(sql, str) or not sql.strip():
            return _error('The body needs "ksql": "SELECT ...".')
        properties = body.get("streamsProperties") or {}
        items, stop = start_query(sql, properties)
        first = await anyio.to_thread.run_sync(items.get)
        if isinstance(first, KafkaAgentError) or first is _END:
            stop.set()
            err = first if isinstance(first, KafkaAgentError) else NotFound("The query ended without a header.")
            return _error(str(err), sql, status=403 if isinstance(err, Refused) else 400)
        schema = ", ".join(f"`{n}` {t}" for n, t in zip(first.column_names, first.column_types, strict=False))
        printing = first.kind == "print"

        def render(item: Any) -> bytes:
            if isinstance(item, KafkaAgentError):
                return b",\n" + json.dumps({"errorMessage": {"message": str(item)}}).encode()
            if printing:
                ts, partition, key, value = item
                return f"rowtime: {ts}, partition: {partition}, key: {key}, value: {value}\n".encode()
            return b",\n" + json.dumps({"row": {"columns": item}}, default=str).encode()

        async def lines() -> AsyncIterator[bytes]:
            if not printing:
                head = {"header": {"queryId": first.query_id, "schema": schema}}
                yield b"[" + json.dumps(head).encode()
            end = b"" if printing else b",\n" + json.dumps({"finalMessage": "Query Completed"}).encode() + b"]\n"
            async for chunk in stream(items, stop, first, render, end):
                yield chunk

        return StreamingResponse(lines(), media_type="text/plain" if printing else KSQL_MEDIA)

    async def inserts_stream(request: Request) -> Response:
        """One JSON row per line after the target; each row written through the gate (topic.produce)."""
        text = (await request.body()).decode("utf-8", "replace")
        lines = [ln for ln in text.splitlines() if ln.strip()]
        try:
            target = json.loads(lines[0])["target"] if lines else None
        except (ValueError, KeyError, TypeError):
            target = None
        if not isinstance(target, str):
            return _error('The first line must be {"target": "<stream>"}.')

        def insert_all() -> list[dict[str, Any]]:
            acks = []
            for seq, line in enumerate(lines[1:]):
                try:
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        raise ValueError("a row is a JSON object")
                    statement = insert_statement(target, row)
                    run_statements(statement, {})
                    acks.append({"status": "ok", "seq": seq})
                except (ValueError, KafkaAgentError) as exc:
                    acks.append({"status": "error", "seq": seq, "error_code": 40000, "message": str(exc)})
            return acks

        acks = await anyio.to_thread.run_sync(insert_all)
        body = "".join(json.dumps(a) + "\n" for a in acks)
        return Response(body, media_type=DELIMITED_MEDIA)

    return Starlette(
        routes=[
            Route("/info", info, methods=["GET"]),
            Route("/healthcheck", healthcheck, methods=["GET"]),
            Route("/ksql", ksql, methods=["POST"]),
            Route("/status/{command:path}", status, methods=["GET"]),
            Route("/query-stream", query_stream, methods=["POST"]),
            Route("/query", query_v1, methods=["POST"]),
            Route("/close-query", close_query, methods=["POST"]),
            Route("/inserts-stream", inserts_stream, methods=["POST"]),
        ]
    )


def insert_statement(target: str, row: dict[str, Any]) -> str:
    """An INSERT INTO ... VALUES statement for a JSON row (ARRAY, MAP and STRUCT values as constructors)."""

    def literal(v: Any) -> str:
        if v is None:
            return "NULL"
        if isinstance(v, bool):
            return "TRUE" if v else "FALSE"
        if isinstance(v, int | float):
            return repr(v) if not isinstance(v, float) or not math.isnan(v) else "NULL"
        if isinstance(v, list):
            return "ARRAY[" + ", ".join(literal(x) for x in v) + "]"
        if isinstance(v, dict):
            return "MAP(" + ", ".join(f"{literal(str(k))} := {literal(x)}" for k, x in v.items()) + ")"
        return "'" + str(v).replace("'", "''") + "'"

    columns = ", ".join(f"`{k}`" if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) else k for k in row)
    values = ", ".join(literal(v) for v in row.values())
    quoted = target if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", target) else f"`{target}`"
    return f"INSERT INTO {quoted} ({columns}) VALUES ({values});"


async def serve(facade: Starlette, *, host: str, port: int, shutdown: Any = None) -> None:
    """Serve the facade over HTTP/1.1 and HTTP/2 cleartext (h2c) with Hypercorn, until ``shutdown`` (an awaitable)
    completes or the process is interrupted."""
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"{host}:{port}"]
    config.loglevel = "WARNING"
    config.accesslog = None
    config.errorlog = None
    await hypercorn_serve(facade, config, shutdown_trigger=shutdown)  # type: ignore[arg-type]
