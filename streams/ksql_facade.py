"""A ksqlDB-compatible REST facade over the built-in SQL engine, so existing ksqlDB clients work against it.

Endpoints (as ksqlDB documents them):
- ``GET /info``, ``GET /healthcheck``: server info and health.
- ``POST /ksql`` (``application/vnd.ksql.v1+json``): ``{"ksql": "...", "streamsProperties": {...}}`` -> a JSON
  array with one entity per statement (``currentStatus``, ``streams``, ``tables``, ``queries``,
  ``sourceDescription``); errors are ``statement_error`` entities with HTTP 400.
- ``GET /status/{commandId}``: every command here completes synchronously, so it is ``SUCCESS`` once known.
- ``POST /query-stream``: ``{"sql": "SELECT ...", "properties": {"auto.offset.reset": "earliest"}}``. With
  ``Accept: application/vnd.ksqlapi.delimited.v1`` (the default) the header object and then one JSON array per row,
  one per line; with ``Accept: application/json`` a JSON array of the same items. Push queries stream until their
  LIMIT, ``/close-query`` or the client going away.
- ``POST /close-query``: ``{"queryId": "..."}`` ends a push query.

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
import queue
import re
import threading
from collections.abc import AsyncIterator
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from core.app import AppContext
from core.errors import KafkaAgentError, KafkaOperationError, NotFound, Refused
from core.gate import ConsentRequired, NoConsent, Requester, StandingConsent
from streams import service

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
        return service.engine(app, cfg.name)

    def run_statements(sql: str) -> list[dict[str, Any]]:
        batch = service.plan_batch(app, cfg.name, sql, tool=TOOL, requester=requester)
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
        try:
            body = await request.json()
        except ValueError:
            return _error("The request body is not JSON.")
        sql = body.get("ksql") if isinstance(body, dict) else None
        if not isinstance(sql, str) or not sql.strip():
            return _error('The body needs "ksql": "<statements>".')
        if re.search(r"(?im)^\s*(DROP|TERMINATE)\b", sql) and not allow_drop:
            return _error(
                "DROP and TERMINATE are disabled on this facade; start it with --allow-drop, or use the kafka_ksql "
                "tool, which asks for confirmation.",
                sql,
                status=403,
                code=40300,
            )
        if re.match(r"(?is)^\s*SELECT\b", sql):
            return _error("SELECT queries go to /query-stream.", sql)
        try:
            results = await anyio.to_thread.run_sync(run_statements, sql)
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
        try:
            body = await request.json()
        except ValueError:
            return _error("The request body is not JSON.")
        query_id = body.get("queryId") if isinstance(body, dict) else None
        event = active.get(str(query_id))
        if event is None:
            return _error(f"No push query with id {query_id!r} is running.", status=400)
        event.set()
        return JSONResponse({})

    async def query_stream(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return _error("The request body is not JSON.")
        sql = body.get("sql") if isinstance(body, dict) else None
        if not isinstance(sql, str) or not sql.strip():
            return _error('The body needs "sql": "SELECT ...".')
        props = body.get("properties") or {}
        earliest = str(props.get("auto.offset.reset", "latest")).lower() == "earliest"
        accept = request.headers.get("accept", "")
        as_json = "application/json" in accept and DELIMITED_MEDIA not in accept
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
            put({"queryId": result.query_id, "columnNames": result.column_names, "columnTypes": result.column_types})

        def run_query() -> None:
            try:
                engine().query(
                    sql, earliest=earliest, timeout=PUSH_QUERY_MAX_S, stop=stop, on_header=on_header, on_row=put
                )
            except KafkaAgentError as exc:
                put(exc)
            except Exception as exc:  # the stream must end with a message, whatever happened
                put(KafkaOperationError(f"{type(exc).__name__}: {exc}"))
            finally:
                put(_END)

        threading.Thread(target=run_query, name="ksql-query", daemon=True).start()
        first = await anyio.to_thread.run_sync(items.get)
        if isinstance(first, KafkaAgentError) or first is _END:
            stop.set()
            err = first if isinstance(first, KafkaAgentError) else NotFound("The query ended without a header.")
            return _error(str(err), sql, status=403 if isinstance(err, Refused) else 400)

        async def lines() -> AsyncIterator[bytes]:
            query_id = str(first["queryId"])
            try:
                yield (b"[" if as_json else b"") + json.dumps(first).encode() + (b"" if as_json else b"\n")
                while True:
                    item = await anyio.to_thread.run_sync(items.get)
                    if item is _END:
                        break
                    if isinstance(item, KafkaAgentError):
                        item = {"@type": "generic_error", "error_code": 50000, "message": str(item)}
                    data = json.dumps(item, default=str).encode()
                    yield (b",\n" + data) if as_json else (data + b"\n")
                if as_json:
                    yield b"]"
            finally:
                stop.set()
                active.pop(query_id, None)

        return StreamingResponse(lines(), media_type="application/json" if as_json else DELIMITED_MEDIA)

    return Starlette(
        routes=[
            Route("/info", info, methods=["GET"]),
            Route("/healthcheck", healthcheck, methods=["GET"]),
            Route("/ksql", ksql, methods=["POST"]),
            Route("/status/{command:path}", status, methods=["GET"]),
            Route("/query-stream", query_stream, methods=["POST"]),
            Route("/close-query", close_query, methods=["POST"]),
        ]
    )
