"""The built-in streaming SQL engine: a catalog of streams and tables, persistent queries compiled to stream specs and
run on Kafka Streams runners, pull queries answered from a runner's store, push queries tailing a topic.

Results use ksqlDB's REST entity shapes (``currentStatus``, ``streams``, ``tables``, ``queries``,
``sourceDescription``), so the REST facade can return them as they are.

A batch of statements is planned before anything runs: ``plan(text)`` parses and checks every statement against a
copy of the catalog and returns each change the batch will make on a real resource (``PlannedChange``):

    topic.create    CREATE STREAM/TABLE ... WITH (PARTITIONS=n) of a missing topic; the sink of CSAS/CTAS
    stream.deploy   a persistent query's runner application
    stream.delete   DROP of a source written by a query, TERMINATE: the runner, its internal topics, its group
    topic.delete    DROP ... DELETE TOPIC: the source's real topic

``execute(text, applier)`` plans again, has the applier admit every change first (``Applier.prepare``), and only then
runs the statements, each real change through ``Applier.apply`` (``streams.service``: the gate, one change at a time).
Nothing runs when any statement fails to parse or check. The engine itself only reads the cluster (``Backend``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from core.errors import Conflict, NotFound
from core.kafka.topics import validate_topic_name
from streams import sql as q
from streams.spec import StreamSpec, parse_spec

WINDOW_FIELDS = {"WINDOWSTART": "window_start", "WINDOWEND": "window_end"}


class Column(BaseModel):
    name: str
    type: str
    key: bool = False
    field: str | None = Field(None, description="JSON field when it differs from the name (window bounds).")


class Source(BaseModel):
    name: str
    kind: str  # STREAM | TABLE
    topic: str
    value_format: str = "JSON"
    columns: list[Column]
    timestamp: str | None = None
    windowed: bool = False
    query_id: str | None = None
    app: str | None = None
    statement: str = ""


class PersistentQuery(BaseModel):
    id: str
    sink: str
    app: str
    statement: str


class Catalog(BaseModel):
    sources: dict[str, Source] = Field(default_factory=dict)
    queries: dict[str, PersistentQuery] = Field(default_factory=dict)
    sequence: int = 0


class AppResources(BaseModel):
    """A deployed runner application, as far as deleting it is concerned."""

    application_id: str = Field(description="Kafka Streams' application.id, also its consumer group.")
    internal_topics: list[str] = Field(default_factory=list, description="Its repartition and changelog topics.")
    status: str = Field(description="starting, running, stopped or failed.")


class Backend(Protocol):
    """What the engine reads from the cluster and the runners (see streams.service). It changes nothing: changes go
    through the ``Applier`` of the call."""

    def topic_partitions(self, topic: str) -> int | None: ...
    def topic_records(self, topic: str) -> int: ...
    def default_replication_factor(self) -> int: ...
    def app_resources(self, name: str) -> AppResources | None: ...
    def app_state(self, name: str) -> str: ...
    def query_app(self, name: str, params: dict[str, Any]) -> list[dict[str, Any]]: ...
    def tail(
        self, topic: str, *, earliest: bool, stop: threading.Event, timeout: float
    ) -> Iterator[tuple[str | None, Any]]: ...


class PlannedChange(BaseModel):
    """One change a statement makes on a real resource, with what it takes to make it."""

    statement: str = Field(description="The statement that makes the change.")
    action: Literal["topic.create", "topic.delete", "stream.deploy", "stream.delete"]
    resource_type: Literal["topic", "stream"]
    resources: list[str] = Field(
        description="The real resources: a topic; a runner application (for stream.delete with its internal topics "
        "and its consumer group)."
    )
    destructive: bool = False
    effect: str = Field(description="What the change does, for the person who consents.")
    details: dict[str, Any] = Field(default_factory=dict, description="Facts for the policies (core.gate).")
    topic: str | None = None
    partitions: int | None = None
    replication_factor: int | None = None
    records: int | None = Field(None, description="topic.delete: records in the topic when planned.")
    spec: StreamSpec | None = None
    application: str | None = Field(None, description="stream.deploy/stream.delete: the runner application's name.")
    application_id: str | None = None
    internal_topics: list[str] = Field(default_factory=list)

    def pairs(self) -> set[tuple[str, str]]:
        """The (action, resource) pairs a consent for this change must cover."""
        return {(self.action, r) for r in self.resources}


class Applier(Protocol):
    """Makes the planned changes of one call (streams.service: each through the gate)."""

    def prepare(self, changes: list[PlannedChange]) -> None:
        """Admit every change of the batch before any runs (raise to run nothing)."""
        ...

    def apply(self, change: PlannedChange) -> None:
        """Make one change."""
        ...


class QueryResult(BaseModel):
    """A pull or push query's answer: the header and the rows (lists in column order)."""

    query_id: str
    column_names: list[str]
    column_types: list[str]
    rows: list[list[Any]]
    kind: str = Field(description="pull or push")


class _Effects:
    """What statements do to real resources: recorded (planning), and also applied when an applier is given.

    Topics and applications created or removed earlier in the same batch are remembered, so later statements of the
    batch plan against the state the earlier ones leave."""

    def __init__(self, backend: Backend, applier: Applier | None) -> None:
        self.backend = backend
        self.applier = applier
        self.changes: list[PlannedChange] = []
        self._topics: dict[str, int | None] = {}
        self._apps: dict[str, AppResources | None] = {}

    @property
    def live(self) -> bool:
        return self.applier is not None

    def topic_partitions(self, topic: str) -> int | None:
        if topic in self._topics:
            return self._topics[topic]
        return self.backend.topic_partitions(topic)

    def _emit(self, change: PlannedChange) -> None:
        self.changes.append(change)
        if self.applier is not None:
            self.applier.apply(change)

    def create_topic(self, statement: str, topic: str, partitions: int, replication_factor: int | None) -> None:
        validate_topic_name(topic)
        if partitions < 1:
            raise q.SqlError(f"PARTITIONS must be at least 1, got {partitions}.")
        rf = replication_factor or self.backend.default_replication_factor()
        self._emit(
            PlannedChange(
                statement=statement,
                action="topic.create",
                resource_type="topic",
                resources=[topic],
                effect=f"create topic {topic!r} ({partitions} partition(s), replication factor {rf})",
                details={"partitions": partitions, "replication_factor": rf},
                topic=topic,
                partitions=partitions,
                replication_factor=rf,
            )
        )
        self._topics[topic] = partitions

    def delete_topic(self, statement: str, topic: str, source: str) -> None:
        partitions = self.topic_partitions(topic)
        if partitions is None:
            raise NotFound(
                f"Topic {topic!r} of {source} does not exist, so DELETE TOPIC cannot delete it.",
                hint=f"Drop {source} without DELETE TOPIC.",
            )
        records = 0 if topic in self._topics else self.backend.topic_records(topic)
        self._emit(
            PlannedChange(
                statement=statement,
                action="topic.delete",
                resource_type="topic",
                resources=[topic],
                destructive=True,
                effect=f"delete topic {topic!r} ({partitions} partition(s), ~{records} record(s)) and its records",
                topic=topic,
                partitions=partitions,
                records=records,
            )
        )
        self._topics[topic] = None

    def deploy(self, statement: str, spec: StreamSpec, query_id: str) -> None:
        inputs = [spec.source.topic] + ([spec.join.topic] if spec.join else [])
        for topic in inputs:
            if self.topic_partitions(topic) is None:
                raise NotFound(f"Input topic {topic!r} of {query_id} does not exist.")
        existing = self._apps[spec.name] if spec.name in self._apps else self.backend.app_resources(spec.name)
        if existing is not None and existing.status in ("running", "starting"):
            raise Conflict(
                f"Stream application {spec.name!r} is already running.",
                hint="Drop or TERMINATE the query that runs it first, or use another name.",
            )
        sink = spec.sink.topic
        if self.topic_partitions(sink) is None:
            partitions = spec.sink.partitions or self.topic_partitions(spec.source.topic) or 1
            self.create_topic(statement, sink, partitions, spec.sink.replication_factor)
        application_id = spec.application_id or f"ksa-{spec.name}"
        self._emit(
            PlannedChange(
                statement=statement,
                action="stream.deploy",
                resource_type="stream",
                resources=[spec.name],
                effect=f"start stream application {spec.name!r} (query {query_id}): {spec.source.topic!r} -> {sink!r}",
                details={
                    "application_id": application_id,
                    "replication_factor": self.backend.default_replication_factor(),
                    "internal_topic_prefix": spec.internal_topic_prefix(),
                },
                spec=spec,
                application=spec.name,
                application_id=application_id,
            )
        )
        self._apps[spec.name] = AppResources(application_id=application_id, status="running")

    def remove_app(self, statement: str, app: str, query_id: str) -> None:
        found = self._apps[app] if app in self._apps else self.backend.app_resources(app)
        if found is None:
            return  # no runner left (removed by hand): nothing real to delete
        topics = sorted(found.internal_topics)
        resources = list(dict.fromkeys([app, *topics, found.application_id]))
        self._emit(
            PlannedChange(
                statement=statement,
                action="stream.delete",
                resource_type="stream",
                resources=resources,
                destructive=True,
                effect=(
                    f"stop stream application {app!r} (query {query_id}, {found.status}), delete its "
                    f"{len(topics)} internal topic(s) ({', '.join(topics) or 'none'}) and its consumer group "
                    f"{found.application_id!r}"
                ),
                application=app,
                application_id=found.application_id,
                internal_topics=topics,
            )
        )
        self._apps[app] = None


def _int_prop(props: dict[str, Any], name: str) -> int | None:
    value = props.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise q.SqlError(f"{name} must be a whole number, got {value!r}.") from None


class KsqlEngine:
    def __init__(self, folder: Path, backend: Backend) -> None:
        self.folder = folder
        self.backend = backend
        self._lock = threading.RLock()
        self.path = folder / "catalog.json"

    # catalog on disk

    def load(self) -> Catalog:
        if self.path.exists():
            return Catalog.model_validate_json(self.path.read_text(encoding="utf-8"))
        return Catalog()

    def save(self, catalog: Catalog) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(catalog.model_dump_json(indent=2), encoding="utf-8")
        tmp.replace(self.path)

    def _commit(self, catalog: Catalog, fx: _Effects) -> None:
        if fx.live:
            self.save(catalog)

    # statements

    def plan(self, text: str) -> list[PlannedChange]:
        """Parse and check every statement of ``text`` and return the changes on real resources the batch will make,
        in order. Changes nothing; raises on the first statement that does not parse or check."""
        statements = self._parse_batch(text)
        with self._lock:
            return self._simulate(statements, self.load())

    def execute(self, text: str, applier: Applier) -> list[dict[str, Any]]:
        """Run every statement of ``text`` in order, after planning the whole batch and having ``applier`` admit every
        change it makes (nothing runs otherwise). SELECTs are refused here (use query())."""
        statements = self._parse_batch(text)
        with self._lock:
            catalog = self.load()
            applier.prepare(self._simulate(statements, catalog))
            fx = _Effects(self.backend, applier)
            return [self._run(stmt, statement, catalog, fx) for stmt, statement in statements]

    @staticmethod
    def _parse_batch(text: str) -> list[tuple[q.Statement, str]]:
        out: list[tuple[q.Statement, str]] = []
        for statement in q.split_statements(text):
            stmt = q.parse(statement)
            if isinstance(stmt, q.Query):
                raise q.SqlError(
                    "SELECT is a query, not a statement.", hint="Send it to /query-stream (or kafka_ksql as a query)."
                )
            out.append((stmt, statement))
        if not out:
            raise q.SqlError("No SQL statement given.")
        return out

    def _simulate(self, statements: list[tuple[q.Statement, str]], catalog: Catalog) -> list[PlannedChange]:
        fx = _Effects(self.backend, None)
        scratch = catalog.model_copy(deep=True)
        for stmt, statement in statements:
            self._run(stmt, statement, scratch, fx)
        return fx.changes

    def _drop_target(self, stmt: q.Drop, catalog: Catalog) -> Source | None:
        src = catalog.sources.get(stmt.name)
        if src is None:
            if stmt.if_exists:
                return None
            raise NotFound(f"{stmt.kind} {stmt.name} does not exist.")
        if src.kind != stmt.kind:
            raise q.SqlError(f"{stmt.name} is a {src.kind}, not a {stmt.kind}.")
        readers = [s.name for s in catalog.sources.values() if s.query_id and _reads_from(catalog, s, stmt.name)]
        if readers:
            raise q.SqlError(f"Cannot drop {stmt.name}: queries of {', '.join(readers)} read from it.")
        return src

    def _status(self, text: str, command: str, message: str, catalog: Catalog) -> dict[str, Any]:
        return {
            "@type": "currentStatus",
            "statementText": text,
            "commandId": command,
            "commandStatus": {"status": "SUCCESS", "message": message},
            "commandSequenceNumber": catalog.sequence,
            "warnings": [],
        }

    def _run(self, stmt: q.Statement, text: str, catalog: Catalog, fx: _Effects) -> dict[str, Any]:
        if isinstance(stmt, q.CreateSource):
            return self._create_source(stmt, text, catalog, fx)
        if isinstance(stmt, q.CreateAs):
            return self._create_as(stmt, text, catalog, fx)
        if isinstance(stmt, q.Drop):
            return self._drop(stmt, text, catalog, fx)
        if isinstance(stmt, q.Terminate):
            query = catalog.queries.get(stmt.query_id.upper())
            if query is None:
                raise NotFound(f"Unknown query id {stmt.query_id!r}.", hint="SHOW QUERIES lists them.")
            fx.remove_app(text, query.app, query.id)
            del catalog.queries[query.id]
            if query.sink in catalog.sources:
                catalog.sources[query.sink].query_id = None
            catalog.sequence += 1
            self._commit(catalog, fx)
            return self._status(text, f"terminate/{query.id}/execute", "Query terminated.", catalog)
        if isinstance(stmt, q.Show):
            return self._show(stmt, text, catalog, fx)
        if isinstance(stmt, q.Describe):
            src = self._source(catalog, stmt.name.upper())
            return {
                "@type": "sourceDescription",
                "statementText": text,
                "sourceDescription": {
                    "name": src.name,
                    "type": src.kind,
                    "topic": src.topic,
                    "keyFormat": "KAFKA",
                    "valueFormat": src.value_format,
                    "windowType": None,
                    "fields": [
                        {"name": c.name, "schema": {"type": _schema_type(c.type)}, **({"type": "KEY"} if c.key else {})}
                        for c in src.columns
                    ],
                    "writeQueries": [{"id": src.query_id}] if src.query_id else [],
                    "statement": src.statement,
                },
            }
        raise q.SqlError(f"Unsupported statement {text!r}.")

    def _source(self, catalog: Catalog, name: str) -> Source:
        src = catalog.sources.get(name.upper())
        if src is None:
            known = ", ".join(sorted(catalog.sources)) or "none"
            raise NotFound(f"{name} does not exist.", hint=f"Known streams and tables: {known}.")
        return src

    def _create_source(self, stmt: q.CreateSource, text: str, catalog: Catalog, fx: _Effects) -> dict[str, Any]:
        if stmt.name in catalog.sources:
            if stmt.if_not_exists:
                return self._status(text, f"{stmt.kind.lower()}/{stmt.name}/create", "Already exists.", catalog)
            raise q.SqlError(f"{stmt.name} already exists.", hint=f"DROP {stmt.kind} {stmt.name} first.")
        if not stmt.columns:
            raise q.SqlError(f"CREATE {stmt.kind} {stmt.name} needs a column list, e.g. (user_id VARCHAR, n INT).")
        topic = stmt.props.get("KAFKA_TOPIC")
        if not topic:
            raise q.SqlError(f"CREATE {stmt.kind} {stmt.name} needs WITH (KAFKA_TOPIC='...').")
        fmt = str(stmt.props.get("VALUE_FORMAT", "JSON")).upper()
        if fmt != "JSON":
            raise q.SqlError(f"Unsupported construct: VALUE_FORMAT='{fmt}' (only JSON).")
        unknown = set(stmt.props) - {"KAFKA_TOPIC", "VALUE_FORMAT", "PARTITIONS", "TIMESTAMP", "KEY_FORMAT", "REPLICAS"}
        if unknown:
            raise q.SqlError(f"Unsupported construct: WITH property {', '.join(sorted(unknown))}.")
        keys = [c for c in stmt.columns if c.key]
        if stmt.kind == "TABLE" and len(keys) != 1:
            raise q.SqlError(f"CREATE TABLE {stmt.name} needs exactly one PRIMARY KEY column.")
        timestamp = stmt.props.get("TIMESTAMP")
        if timestamp and not any(c.name.lower() == str(timestamp).lower() for c in stmt.columns):
            raise q.SqlError(f"TIMESTAMP column {timestamp!r} is not among the columns.")
        partitions = _int_prop(stmt.props, "PARTITIONS")
        replicas = _int_prop(stmt.props, "REPLICAS")
        if fx.topic_partitions(str(topic)) is None:
            if partitions is None:
                raise NotFound(
                    f"Topic {topic!r} does not exist.", hint="Create it, or add PARTITIONS=n to the WITH clause."
                )
            fx.create_topic(text, str(topic), partitions, replicas)
        catalog.sources[stmt.name] = Source(
            name=stmt.name,
            kind=stmt.kind,
            topic=str(topic),
            columns=[Column(name=c.name, type=c.type, key=c.key) for c in stmt.columns],
            timestamp=str(timestamp) if timestamp else None,
            statement=text,
        )
        catalog.sequence += 1
        self._commit(catalog, fx)
        return self._status(
            text, f"{stmt.kind.lower()}/{stmt.name}/create", f"{stmt.kind.capitalize()} created", catalog
        )

    def _create_as(self, stmt: q.CreateAs, text: str, catalog: Catalog, fx: _Effects) -> dict[str, Any]:
        if stmt.name in catalog.sources:
            raise q.SqlError(f"{stmt.name} already exists.", hint=f"DROP {stmt.kind} {stmt.name} first.")
        compiled = compile_create_as(stmt, catalog)
        catalog.sequence += 1
        prefix = "CTAS" if stmt.kind == "TABLE" else "CSAS"
        query_id = f"{prefix}_{stmt.name}_{catalog.sequence}"
        fx.deploy(text, compiled.spec, query_id)
        catalog.sources[stmt.name] = Source(
            name=stmt.name,
            kind=stmt.kind,
            topic=compiled.spec.sink.topic,
            columns=compiled.columns,
            windowed=compiled.windowed,
            query_id=query_id,
            app=compiled.spec.name,
            statement=text,
        )
        catalog.queries[query_id] = PersistentQuery(id=query_id, sink=stmt.name, app=compiled.spec.name, statement=text)
        self._commit(catalog, fx)
        return self._status(
            text, f"{stmt.kind.lower()}/{stmt.name}/create", f"Created query with ID {query_id}", catalog
        )

    def _drop(self, stmt: q.Drop, text: str, catalog: Catalog, fx: _Effects) -> dict[str, Any]:
        src = self._drop_target(stmt, catalog)
        if src is None:
            return self._status(text, f"{stmt.kind.lower()}/{stmt.name}/drop", "Nothing to drop.", catalog)
        if src.query_id:
            query = catalog.queries.pop(src.query_id, None)
            if query:
                fx.remove_app(text, query.app, query.id)
        if stmt.delete_topic:
            fx.delete_topic(text, src.topic, f"{stmt.kind} {stmt.name}")
        del catalog.sources[stmt.name]
        catalog.sequence += 1
        self._commit(catalog, fx)
        return self._status(
            text,
            f"{stmt.kind.lower()}/{stmt.name}/drop",
            f"Source `{stmt.name}` (topic: {src.topic}) was dropped.",
            catalog,
        )

    def _show(self, stmt: q.Show, text: str, catalog: Catalog, fx: _Effects) -> dict[str, Any]:
        if stmt.what == "QUERIES":
            queries = []
            for query in catalog.queries.values():
                state = self.backend.app_state(query.app) if fx.live else "UNKNOWN"
                sink = catalog.sources.get(query.sink)
                queries.append(
                    {
                        "queryString": query.statement,
                        "sinks": [query.sink],
                        "sinkKafkaTopics": [sink.topic] if sink else [],
                        "id": query.id,
                        "statusCount": {state: 1},
                        "queryType": "PERSISTENT",
                        "state": state,
                    }
                )
            return {"@type": "queries", "statementText": text, "queries": queries, "warnings": []}
        kind = "STREAM" if stmt.what == "STREAMS" else "TABLE"
        items = [
            {
                "type": kind,
                "name": s.name,
                "topic": s.topic,
                "keyFormat": "KAFKA",
                "valueFormat": s.value_format,
                "isWindowed": s.windowed,
            }
            for s in catalog.sources.values()
            if s.kind == kind
        ]
        key = stmt.what.lower()
        return {"@type": key, "statementText": text, key: items, "warnings": []}

    # queries

    def query(
        self,
        text: str,
        *,
        earliest: bool = False,
        limit: int | None = None,
        timeout: float = 10.0,
        stop: threading.Event | None = None,
        on_row: Callable[[list[Any]], None] | None = None,
        on_header: Callable[[QueryResult], None] | None = None,
    ) -> QueryResult:
        """A pull query (no EMIT: from the table's store) or a push query (EMIT CHANGES: tail the topic).

        Push queries end after ``limit`` rows (the statement's LIMIT wins), when ``stop`` is set, or at ``timeout``.
        """
        statements = q.split_statements(text)
        if len(statements) != 1:
            raise q.SqlError("Send exactly one SELECT to the query endpoint.")
        stmt = q.parse(statements[0])
        if not isinstance(stmt, q.Query):
            raise q.SqlError("Only SELECT queries go to the query endpoint; statements go to /ksql.")
        sel = stmt.select
        if sel.join or sel.group_by or sel.window:
            raise q.SqlError(
                "Unsupported construct: JOIN, GROUP BY or WINDOW in a transient query.",
                hint="Create a persistent query (CREATE TABLE ... AS SELECT) and query the table.",
            )
        catalog = self.load()
        src = self._source(catalog, sel.source)
        names, fields = _projection(sel, src)
        types = [_column_type(src, f) for f in fields]
        with self._lock:
            catalog.sequence += 1
            self.save(catalog)
        if sel.emit is None:
            result = QueryResult(
                query_id=f"transient_{src.name}_{catalog.sequence}",
                column_names=names,
                column_types=types,
                rows=[],
                kind="pull",
            )
            if on_header:
                on_header(result)
            for row in self._pull(sel, src):
                if sel.where is None or q.evaluate(sel.where, row, _row_lookup(src)):
                    values = [_lookup(row, src, f) for f in fields]
                    result.rows.append(values)
                    if on_row:
                        on_row(values)
                    if sel.limit is not None and len(result.rows) >= sel.limit:
                        break
            return result
        if sel.emit == "final":
            raise q.SqlError("Unsupported construct: EMIT FINAL in a transient query (use EMIT CHANGES).")
        result = QueryResult(
            query_id=f"transient_{src.name}_{catalog.sequence}",
            column_names=names,
            column_types=types,
            rows=[],
            kind="push",
        )
        if on_header:
            on_header(result)
        wanted = sel.limit if sel.limit is not None else limit
        stopper = stop or threading.Event()
        for key, value in self.backend.tail(src.topic, earliest=earliest, stop=stopper, timeout=timeout):
            row = dict(value) if isinstance(value, dict) else {}
            row["__key__"] = key
            if sel.where is not None and not q.evaluate(sel.where, row, _row_lookup(src)):
                continue
            values = [_lookup(row, src, f) for f in fields]
            result.rows.append(values)
            if on_row:
                on_row(values)
            if wanted is not None and len(result.rows) >= wanted:
                stopper.set()
                break
        return result

    def _pull(self, sel: q.Select, src: Source) -> list[dict[str, Any]]:
        if src.kind != "TABLE" or not src.app:
            raise q.SqlError(
                f"Pull queries read tables built by CREATE TABLE ... AS SELECT; {src.name} is not one.",
                hint=f"Use a push query: SELECT ... FROM {src.name} EMIT CHANGES;",
            )
        params: dict[str, Any] = {}
        key_col = next((c for c in src.columns if c.key), None)
        for cond in _conjuncts(sel.where):
            if not isinstance(cond, q.Bin) or not isinstance(cond.left, q.Col) or not isinstance(cond.right, q.Lit):
                continue
            col = cond.left.name.upper()
            if key_col and col == key_col.name.upper() and cond.op == "=":
                params["key"] = str(cond.right.value)
            elif col == "WINDOWSTART" and isinstance(cond.right.value, int):
                if cond.op in (">=", ">", "="):
                    params["time_from"] = cond.right.value + (1 if cond.op == ">" else 0)
                if cond.op in ("<=", "<", "="):
                    params["time_to"] = cond.right.value - (1 if cond.op == "<" else 0)
        rows = self.backend.query_app(src.app, params)
        out = []
        for raw in rows:
            row = dict(raw)
            if key_col:
                row["__key__"] = row.get(key_col.field or key_col.name)
            out.append(row)
        return out


class Compiled(BaseModel):
    spec: StreamSpec
    columns: list[Column]
    windowed: bool = False


def _conjuncts(expr: Any) -> list[Any]:
    if isinstance(expr, q.Bin) and expr.op == "AND":
        return _conjuncts(expr.left) + _conjuncts(expr.right)
    return [] if expr is None else [expr]


def _reads_from(catalog: Catalog, sink: Source, name: str) -> bool:
    try:
        stmt = q.parse(sink.statement)
    except q.SqlError:
        return False
    if isinstance(stmt, q.CreateAs):
        sel = stmt.select
        return sel.source == name or (sel.join is not None and sel.join.table == name)
    return False


def _schema_type(ctype: str) -> str:
    return {"VARCHAR": "STRING", "INT": "INTEGER"}.get(ctype, ctype)


def _column(src: Source, name: str) -> Column:
    upper = name.upper()
    for c in src.columns:
        if c.name.upper() == upper:
            return c
    if upper in WINDOW_FIELDS and src.windowed:
        return Column(name=upper, type="BIGINT", field=WINDOW_FIELDS[upper])
    raise q.SqlError(f"Column {name!r} is not in {src.name} (columns: {', '.join(c.name for c in src.columns)}).")


def _column_type(src: Source, name: str) -> str:
    return _schema_type(_column(src, name).type)


def _lookup(row: dict[str, Any], src: Source, name: str) -> Any:
    col = _column(src, name)
    if col.key and "__key__" in row and src.kind == "STREAM":
        return row["__key__"]
    if col.key and src.kind == "TABLE" and not src.app:
        return row.get("__key__")
    field = col.field or col.name
    if field in row:
        return row[field]
    lowered = {k.lower(): v for k, v in row.items() if isinstance(k, str)}
    return lowered.get(field.lower())


def _row_lookup(src: Source) -> Callable[[dict[str, Any], q.Col], Any]:
    return lambda row, col: _lookup(row, src, col.name)


def _projection(sel: q.Select, src: Source) -> tuple[list[str], list[str]]:
    names: list[str] = []
    fields: list[str] = []
    for item in sel.items:
        if item.expr is None:
            for c in src.columns:
                names.append(c.name.upper())
                fields.append(c.name)
            continue
        if not isinstance(item.expr, q.Col):
            raise q.SqlError("Transient queries select columns only (no expressions or functions).")
        col = _column(src, item.expr.name)
        names.append((item.alias or col.name).upper())
        fields.append(col.name)
    return names, fields


def _app_name(name: str) -> str:
    app = f"ksql-{name.lower()}"
    if len(app) > 48:
        raise q.SqlError(f"The name {name} is too long (at most 43 characters).")
    return app


def compile_create_as(stmt: q.CreateAs, catalog: Catalog) -> Compiled:
    """The stream spec (and output columns) of a CREATE STREAM/TABLE ... AS SELECT."""
    sel = stmt.select
    src = catalog.sources.get(sel.source)
    if src is None:
        raise NotFound(f"{sel.source} does not exist.", hint="CREATE STREAM ... WITH (KAFKA_TOPIC=...) first.")
    allowed_props = {"KAFKA_TOPIC", "PARTITIONS", "VALUE_FORMAT", "REPLICAS"}
    bad = set(stmt.props) - allowed_props
    if bad:
        raise q.SqlError(f"Unsupported construct: WITH property {', '.join(sorted(bad))}.")
    if str(stmt.props.get("VALUE_FORMAT", "JSON")).upper() != "JSON":
        raise q.SqlError("Unsupported construct: VALUE_FORMAT other than JSON.")
    if sel.limit is not None:
        raise q.SqlError("Unsupported construct: LIMIT in a persistent query.")
    sink_topic = str(stmt.props.get("KAFKA_TOPIC") or stmt.name)
    sink: dict[str, Any] = {"topic": sink_topic}
    if "PARTITIONS" in stmt.props:
        sink["partitions"] = int(stmt.props["PARTITIONS"])
    if "REPLICAS" in stmt.props:
        sink["replication_factor"] = int(stmt.props["REPLICAS"])
    spec: dict[str, Any] = {
        "name": _app_name(stmt.name),
        "source": {"topic": src.topic, **({"timestamp_field": src.timestamp} if src.timestamp else {})},
        "sink": sink,
        "steps": [],
    }
    aliases = {sel.source, *([sel.source_alias] if sel.source_alias else [])}

    def resolve_value(col: q.Col) -> str:
        if col.qualifier and col.qualifier not in aliases:
            raise q.SqlError(f"Unknown qualifier {col.qualifier} in {col.qualifier}.{col.name}.")
        c = _column(src, col.name)
        return "key" if c.key else f"value.{c.name}"

    if sel.where is not None:
        spec["steps"].append({"op": "filter", "expr": q.to_cel(sel.where, resolve_value)})
    has_aggs = any(
        isinstance(i.expr, q.Func) and i.expr.name in ("COUNT", "SUM", "MIN", "MAX", "AVG") for i in sel.items
    )
    if src.kind == "TABLE":
        raise q.SqlError(
            f"Unsupported construct: a persistent query reading the TABLE {src.name} (only streams are read).",
            hint="Read a STREAM; tables are joined (JOIN) or queried (pull query).",
        )
    if sel.group_by or has_aggs or sel.window:
        if stmt.kind != "TABLE":
            raise q.SqlError("Aggregations (GROUP BY) create a TABLE: use CREATE TABLE ... AS SELECT.")
        if sel.join:
            raise q.SqlError("Unsupported construct: JOIN together with GROUP BY in one query.")
        return _compile_aggregate(stmt, sel, src, spec, resolve_value)
    if stmt.kind == "TABLE":
        raise q.SqlError("CREATE TABLE ... AS SELECT needs GROUP BY (aggregations).")
    if sel.emit == "final":
        raise q.SqlError("EMIT FINAL needs a windowed aggregation.")
    if sel.join:
        return _compile_join(stmt, sel, src, spec, catalog)
    columns: list[Column] = []
    if any(i.expr is None for i in sel.items):
        if len(sel.items) != 1:
            raise q.SqlError("Unsupported construct: * together with other columns.")
        columns = [c.model_copy() for c in src.columns]
    else:
        fields: dict[str, str] = {}
        for n, item in enumerate(sel.items):
            name = item.alias or (item.expr.name if isinstance(item.expr, q.Col) else f"KSQL_COL_{n}")
            fields[name] = q.to_cel(item.expr, resolve_value)
            ctype = _column(src, item.expr.name).type if isinstance(item.expr, q.Col) else "DOUBLE"
            columns.append(Column(name=name, type=ctype))
        spec["steps"].append({"op": "select", "fields": fields})
    return Compiled(spec=parse_spec(spec), columns=columns)


def _compile_aggregate(
    stmt: q.CreateAs, sel: q.Select, src: Source, spec: dict[str, Any], resolve: Callable[[q.Col], str]
) -> Compiled:
    if len(sel.group_by) != 1:
        raise q.SqlError("Unsupported construct: GROUP BY on more (or fewer) than one column.")
    group = sel.group_by[0]
    gcol = _column(src, group.name)
    key_field = gcol.name
    columns: list[Column] = []
    aggregations = []
    for n, item in enumerate(sel.items):
        expr = item.expr
        if expr is None:
            raise q.SqlError("Unsupported construct: SELECT * in an aggregation.")
        if isinstance(expr, q.Col):
            if expr.name.upper() in WINDOW_FIELDS:
                if sel.window is None:
                    raise q.SqlError(f"{expr.name.upper()} needs a WINDOW clause.")
                continue
            if expr.name.upper() != gcol.name.upper():
                raise q.SqlError(f"Non-aggregate column {expr.name} must be the GROUP BY column.")
            if item.alias:
                key_field = item.alias
            continue
        if not isinstance(expr, q.Func) or expr.name not in ("COUNT", "SUM", "MIN", "MAX", "AVG"):
            raise q.SqlError("Aggregation queries select the GROUP BY column and COUNT/SUM/MIN/MAX/AVG only.")
        name = item.alias or f"KSQL_COL_{n}"
        agg: dict[str, Any] = {"name": name, "op": expr.name.lower()}
        if expr.star:
            if expr.name != "COUNT":
                raise q.SqlError(f"{expr.name}(*) is not valid; only COUNT(*).")
        else:
            if len(expr.args) != 1:
                raise q.SqlError(f"{expr.name}() takes one argument.")
            agg["expr"] = q.to_cel(expr.args[0], resolve)
        aggregations.append(agg)
        columns.append(Column(name=name, type="BIGINT" if expr.name == "COUNT" else "DOUBLE"))
    if not aggregations:
        raise q.SqlError("An aggregation query needs at least one of COUNT, SUM, MIN, MAX, AVG.")
    aggregate: dict[str, Any] = {
        "group_by": "key" if gcol.key else f"value.{gcol.name}",
        "key_field": key_field,
        "aggregations": aggregations,
        "emit": sel.emit or "changes",
    }
    windowed = sel.window is not None
    if sel.window is not None:
        w = sel.window
        window: dict[str, Any] = {"type": w.type}
        if w.type == "session":
            window["gap_ms"] = w.size_ms
        else:
            window["size_ms"] = w.size_ms
        if w.advance_ms is not None:
            window["advance_ms"] = w.advance_ms
        if w.grace_ms is not None:
            window["grace_ms"] = w.grace_ms
        aggregate["window"] = window
    elif sel.emit == "final":
        raise q.SqlError("EMIT FINAL needs a WINDOW clause.")
    spec["aggregate"] = aggregate
    key = Column(name=key_field, type=gcol.type, key=True)
    bounds = [Column(name=n, type="BIGINT", field=f) for n, f in WINDOW_FIELDS.items()] if windowed else []
    return Compiled(spec=parse_spec(spec), columns=[key, *bounds, *columns], windowed=windowed)


def _compile_join(stmt: q.CreateAs, sel: q.Select, src: Source, spec: dict[str, Any], catalog: Catalog) -> Compiled:
    join = sel.join
    assert join is not None
    table = catalog.sources.get(join.table)
    if table is None:
        raise NotFound(f"{join.table} does not exist.")
    if table.kind != "TABLE":
        raise q.SqlError("Unsupported construct: stream-stream joins in SQL (join a TABLE; the spec API has them).")
    left_names = {sel.source, *([sel.source_alias] if sel.source_alias else [])}
    right_names = {join.table, *([join.alias] if join.alias else [])}

    def side(col: q.Col) -> tuple[str, Column]:
        if col.qualifier in left_names:
            return "left", _column(src, col.name)
        if col.qualifier in right_names:
            return "right", _column(table, col.name)
        if col.qualifier is not None:
            raise q.SqlError(f"Unknown qualifier {col.qualifier}.")
        in_left = any(c.name.upper() == col.name.upper() for c in src.columns)
        in_right = any(c.name.upper() == col.name.upper() for c in table.columns)
        if in_left and in_right:
            raise q.SqlError(f"Column {col.name} is ambiguous: qualify it (e.g. {sel.source_alias or sel.source}.x).")
        return ("left", _column(src, col.name)) if in_left else ("right", _column(table, col.name))

    a, b = side(join.on_left), side(join.on_right)
    if a[0] == b[0]:
        raise q.SqlError("JOIN ... ON must compare a stream column with the table's key column.")
    stream_col, table_col = (a[1], b[1]) if a[0] == "left" else (b[1], a[1])
    if not table_col.key:
        raise q.SqlError(f"The join must be on {table.name}'s PRIMARY KEY column, not {table_col.name}.")
    if not stream_col.key:
        spec["steps"].append({"op": "set_key", "expr": f"value.{stream_col.name}"})
    if sel.where is not None:
        for cond_col in _columns_of(sel.where):
            if side(cond_col)[0] == "right":
                raise q.SqlError("Unsupported construct: WHERE on the table's columns in a join.")
    select: dict[str, str] = {}
    columns: list[Column] = []
    if any(i.expr is None for i in sel.items):
        raise q.SqlError("Unsupported construct: SELECT * in a join (name the columns).")
    for item in sel.items:
        if not isinstance(item.expr, q.Col):
            raise q.SqlError("Join queries select columns only.")
        where, col = side(item.expr)
        name = item.alias or col.name
        select[name] = "key" if col.key else f"{where}.{col.name}"
        columns.append(Column(name=name, type=col.type))
    spec["join"] = {"kind": "table", "topic": table.topic, "type": "left" if join.left else "inner", "select": select}
    return Compiled(spec=parse_spec(spec), columns=columns)


def _columns_of(expr: Any) -> list[q.Col]:
    if isinstance(expr, q.Col):
        return [expr]
    out: list[q.Col] = []
    for attr in ("left", "right", "expr"):
        if hasattr(expr, attr):
            out += _columns_of(getattr(expr, attr))
    for item in getattr(expr, "items", []) or []:
        out += _columns_of(item)
    for item in getattr(expr, "args", []) or []:
        out += _columns_of(item)
    return out


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)
