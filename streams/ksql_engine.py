"""The built-in streaming SQL engine: a catalog of streams and tables, persistent queries compiled to stream specs and
run on Kafka Streams runners (``streams.ksql_compile``), pull queries answered from a runner's store or a scan of the
topic, push queries tailing a topic, PRINT, INSERT VALUES.

Results use ksqlDB's REST entity shapes (``currentStatus``, ``streams``, ``tables``, ``queries``, ``properties``,
``sourceDescription``, ...), so the REST facade can return them as they are.

A batch of statements is planned before anything runs: ``plan(text)`` parses, type-checks and compiles every
statement against a copy of the catalog (in order: DEFINE, SET and CREATE TYPE apply to the statements after them)
and returns each change the batch will make on a real resource (``PlannedChange``):

    topic.create     CREATE ... WITH (PARTITIONS=n) of a missing topic; the sink of CSAS/CTAS
    topic.delete     DROP ... DELETE TOPIC: the source's real topic
    topic.produce    INSERT INTO ... VALUES: one record
    schema.register  an AVRO sink's value schema, in the cluster's Schema Registry
    stream.deploy    a persistent query's runner application (and RESUME)
    stream.stop      PAUSE
    stream.delete    DROP of a source written by a query, TERMINATE: the runner, its internal topics, its group

``execute(text, applier)`` plans again, has the applier admit every change first (``Applier.prepare``), and only then
runs the statements, each real change through ``Applier.apply`` (``streams.service``: the gate, one change at a time).
Nothing runs when any statement fails to parse or check. The engine itself only reads the cluster (``Backend``).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from core.errors import Conflict, KafkaAgentError, NotFound
from core.kafka.topics import validate_topic_name
from streams import sql as q
from streams.ksql_catalog import Catalog, Column, PersistentQuery, Source, parse_type
from streams.ksql_compile import (
    Compiled,
    QueryCompiler,
    avro_columns,
    avro_schema,
    key_format,
    value_format,
)
from streams.ksql_rows import RawRecord, RowError, build_row, encode_key, encode_value, jsonable
from streams.spec import StreamSpec
from streams.sql import functions as fns
from streams.sql import types as t
from streams.sql.evaluate import evaluate
from streams.sql.typecheck import PSEUDO, Checker, Scope
from streams.sql.typecheck import Field as ScopeField

__all__ = [
    "AppResources",
    "Applier",
    "Backend",
    "Catalog",
    "Column",
    "KsqlEngine",
    "PersistentQuery",
    "PlannedChange",
    "QueryResult",
    "Source",
]

SERVER_DEFAULTS = {
    "ksql.streams.auto.offset.reset": "latest",
    "ksql.streams.processing.guarantee": "exactly_once_v2",
    "ksql.streams.num.stream.threads": "1",
    "ksql.persistence.default.format.key": "KAFKA",
    "ksql.persistence.default.format.value": "JSON",
    "ksql.service.id": "kafka_streaming_agent_",
}


class AppResources(BaseModel):
    """A deployed runner application, as far as deleting it is concerned."""

    application_id: str = Field(description="Kafka Streams' application.id, also its consumer group.")
    internal_topics: list[str] = Field(default_factory=list, description="Its repartition and changelog topics.")
    status: str = Field(description="starting, running, restarting, stopped or failed.")


class Backend(Protocol):
    """What the engine reads from the cluster, the registry and the runners (see streams.service). It changes
    nothing: changes go through the ``Applier`` of the call."""

    def topic_partitions(self, topic: str) -> int | None: ...
    def topic_records(self, topic: str) -> int: ...
    def topic_replicas(self, topic: str) -> int | None: ...
    def list_topics(self) -> list[str]: ...
    def default_replication_factor(self) -> int: ...
    def app_resources(self, name: str) -> AppResources | None: ...
    def app_state(self, name: str) -> str: ...
    def app_metrics(self, name: str) -> dict[str, Any] | None: ...
    def app_topology(self, name: str) -> str | None: ...
    def query_app(self, name: str, params: dict[str, Any]) -> list[dict[str, Any]]: ...
    def registry_latest(self, subject: str) -> tuple[int, str] | None: ...
    def registry_schema(self, schema_id: int) -> str | None: ...
    def registry_check(self, subject: str, schema: str) -> tuple[bool, list[str]]: ...
    def scan(
        self, topic: str, *, earliest: bool, to_end: bool, stop: threading.Event, timeout: float
    ) -> Iterator[RawRecord]: ...


class PlannedChange(BaseModel):
    """One change a statement makes on a real resource, with what it takes to make it."""

    statement: str = Field(description="The statement that makes the change.")
    action: Literal[
        "topic.create", "topic.delete", "topic.produce", "schema.register", "stream.deploy", "stream.stop",
        "stream.delete",
    ]  # fmt: skip
    resource_type: Literal["topic", "stream", "schema"]
    resources: list[str] = Field(
        description="The real resources: a topic; a subject; a runner application (for stream.delete with its internal "
        "topics and its consumer group)."
    )
    destructive: bool = False
    effect: str = Field(description="What the change does, for the person who consents.")
    details: dict[str, Any] = Field(default_factory=dict, description="Facts for the policies (core.gate).")
    topic: str | None = None
    partitions: int | None = None
    replication_factor: int | None = None
    records: int | None = Field(None, description="topic.delete: records in the topic when planned.")
    spec: StreamSpec | None = None
    application: str | None = Field(None, description="The runner application's name (stream.* changes).")
    application_id: str | None = None
    internal_topics: list[str] = Field(default_factory=list)
    subject: str | None = None
    schema_text: str | None = None
    key: str | None = Field(None, description="topic.produce: the record key, hex.")
    value: str | None = Field(None, description="topic.produce: the record value, hex.")
    timestamp: int | None = None

    def pairs(self) -> set[tuple[str, str]]:
        """The (action, resource) pairs a consent for this change must cover."""
        return {(self.action, r) for r in self.resources}


class Applier(Protocol):
    """Makes the planned changes of one call (streams.service: each through the gate)."""

    def prepare(self, changes: list[PlannedChange]) -> None:
        """Admit every change of the batch before any runs (raise to run nothing)."""
        ...

    def apply(self, change: PlannedChange) -> Any:
        """Make one change; returns what it did (e.g. the cleanup of a stream.delete, a schema id)."""
        ...


class QueryResult(BaseModel):
    """A pull or push query's answer: the header and the rows (lists in column order)."""

    query_id: str
    column_names: list[str]
    column_types: list[str]
    rows: list[list[Any]]
    kind: str = Field(description="pull, push or print")
    warnings: list[str] = Field(default_factory=list)


@dataclass
class Session:
    """What SET and DEFINE change, for the rest of the batch (or the request)."""

    properties: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)

    def offset_reset(self) -> str:
        return str(
            self.properties.get("auto.offset.reset")
            or self.properties.get("ksql.streams.auto.offset.reset")
            or "latest"
        ).lower()


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

    def _emit(self, change: PlannedChange) -> Any:
        self.changes.append(change)
        if self.applier is not None:
            return self.applier.apply(change)
        return None

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

    def insert_record(self, statement: str, topic: str, key: bytes | None, value: bytes | None, ts: int | None) -> None:
        if self.topic_partitions(topic) is None:
            raise NotFound(f"Topic {topic!r} does not exist, so nothing can be inserted into it.")
        self._emit(
            PlannedChange(
                statement=statement,
                action="topic.produce",
                resource_type="topic",
                resources=[topic],
                effect=f"write one record to topic {topic!r}",
                topic=topic,
                key=key.hex() if key is not None else None,
                value=value.hex() if value is not None else None,
                timestamp=ts,
            )
        )

    def register_schema(self, statement: str, subject: str, schema: str) -> int:
        compatible, reasons = self.backend.registry_check(subject, schema)
        if not compatible:
            raise Conflict(
                f"The value schema for subject {subject!r} breaks its compatibility level: {'; '.join(reasons)}.",
                hint="Write to another topic, or change the columns so the schema stays compatible.",
            )
        done = self._emit(
            PlannedChange(
                statement=statement,
                action="schema.register",
                resource_type="schema",
                resources=[subject],
                effect=f"register the Avro value schema of {subject!r} in the Schema Registry",
                details={"compatible": True, "reasons": [], "subject": subject},
                subject=subject,
                schema_text=schema,
            )
        )
        return int(done) if done is not None else 0

    def deploy(self, statement: str, spec: StreamSpec, query_id: str) -> None:
        inputs = [spec.source.topic] + ([spec.join.topic] if spec.join else [])
        for topic in inputs:
            if self.topic_partitions(topic) is None:
                raise NotFound(f"Input topic {topic!r} of {query_id} does not exist.")
        existing = self._apps[spec.name] if spec.name in self._apps else self.backend.app_resources(spec.name)
        if existing is not None and existing.status in ("running", "starting", "restarting"):
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
                effect=f"start stream application {spec.name!r} (query {query_id}): {spec.source.topic!r} -> {sink!r}"
                + (", reading from the end of its inputs" if spec.start_from == "latest" else ", from the beginning"),
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

    def pause(self, statement: str, app: str, query_id: str) -> None:
        self._emit(
            PlannedChange(
                statement=statement,
                action="stream.stop",
                resource_type="stream",
                resources=[app],
                effect=f"pause query {query_id} (stop its application {app!r}; its state and offsets stay)",
                application=app,
            )
        )

    def remove_app(self, statement: str, app: str, query_id: str) -> Any:
        found = self._apps[app] if app in self._apps else self.backend.app_resources(app)
        if found is None:
            return None  # no runner left (removed by hand): nothing real to delete
        topics = sorted(found.internal_topics)
        resources = list(dict.fromkeys([app, *topics, found.application_id]))
        done = self._emit(
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
        return done


def _int_prop(props: dict[str, Any], name: str) -> int | None:
    value = props.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise q.SqlError(f"{name} must be a whole number, got {value!r}.") from None


def _warnings(notes: list[str]) -> list[dict[str, str]]:
    return [{"message": note} for note in notes]


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

    def plan(self, text: str, properties: dict[str, Any] | None = None) -> list[PlannedChange]:
        """Parse, check and compile every statement of ``text`` and return the changes on real resources the batch
        will make, in order. Changes nothing; raises on the first statement that does not parse or check."""
        statements = self._split(text)
        with self._lock:
            fx = _Effects(self.backend, None)
            self._run_all(statements, self.load().model_copy(deep=True), fx, properties)
            return fx.changes

    def execute(self, text: str, applier: Applier, properties: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run every statement of ``text`` in order, after planning the whole batch and having ``applier`` admit every
        change it makes (nothing runs otherwise). SELECT and PRINT are refused here (use query())."""
        statements = self._split(text)
        with self._lock:
            catalog = self.load()
            planned = _Effects(self.backend, None)
            self._run_all(statements, catalog.model_copy(deep=True), planned, properties)
            applier.prepare(planned.changes)
            fx = _Effects(self.backend, applier)
            try:
                return self._run_all(statements, catalog, fx, properties)
            except KafkaAgentError as exc:
                if not fx.changes:
                    raise
                # planned and admitted whole, yet a change failed when made (a broker, a runner): say what ran
                made = ", ".join(f"{c.action} {c.resources[0]}" for c in fx.changes)
                try:
                    stopped = type(exc)(
                        f"{exc.message} The batch stopped there: {len(fx.changes)} change(s) were made before "
                        f"({made}); no statement after it ran.",
                        hint=exc.hint,
                        code=exc.code,
                    )
                except TypeError:
                    raise exc from None
                raise stopped from None

    @staticmethod
    def _split(text: str) -> list[str]:
        statements = q.split_statements(text)
        if not statements:
            raise q.SqlError("No SQL statement given.")
        return statements

    def _run_all(
        self, statements: list[str], catalog: Catalog, fx: _Effects, properties: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        session = Session(properties={str(k): str(v) for k, v in (properties or {}).items()})
        out = []
        for statement in statements:
            text = q.substitute(statement, session.variables)
            stmt = q.parse(text, catalog.type_map())
            if isinstance(stmt, q.Query | q.Print):
                raise q.SqlError(
                    "SELECT and PRINT are queries, not statements.",
                    hint="Send them to /query-stream (or to kafka_ksql as one query).",
                )
            entity = self._run(stmt, text, catalog, fx, session)
            if entity is not None:
                out.append(entity)
        return out

    def _status(
        self, text: str, command: str, message: str, catalog: Catalog, notes: list[str] | None = None
    ) -> dict[str, Any]:
        return {
            "@type": "currentStatus",
            "statementText": text,
            "commandId": command,
            "commandStatus": {"status": "SUCCESS", "message": message},
            "commandSequenceNumber": catalog.sequence,
            "warnings": _warnings(notes or []),
        }

    def _run(
        self, stmt: q.Statement, text: str, catalog: Catalog, fx: _Effects, session: Session
    ) -> dict[str, Any] | None:
        if isinstance(stmt, q.CreateSource):
            return self._create_source(stmt, text, catalog, fx)
        if isinstance(stmt, q.CreateAs | q.InsertSelect):
            return self._persistent(stmt, text, catalog, fx, session)
        if isinstance(stmt, q.InsertValues):
            return self._insert_values(stmt, text, catalog, fx)
        if isinstance(stmt, q.Drop):
            return self._drop(stmt, text, catalog, fx)
        if isinstance(stmt, q.Terminate):
            return self._terminate(stmt, text, catalog, fx)
        if isinstance(stmt, q.PauseResume):
            return self._pause_resume(stmt, text, catalog, fx)
        if isinstance(stmt, q.Show):
            return self._show(stmt, text, catalog, fx, session)
        if isinstance(stmt, q.Describe):
            return self._describe(self._source(catalog, stmt.name), stmt.extended, text, catalog, fx)
        if isinstance(stmt, q.DescribeAll):
            kind = "STREAM" if stmt.what == "STREAMS" else "TABLE"
            descriptions = [
                self._describe(s, stmt.extended, text, catalog, fx)["sourceDescription"]
                for s in catalog.sources.values()
                if s.kind == kind
            ]
            return {"@type": "source_descriptions", "statementText": text, "sourceDescriptions": descriptions}
        if isinstance(stmt, q.DescribeFunction):
            return _describe_function(stmt.name, text)
        if isinstance(stmt, q.Explain):
            return self._explain(stmt, text, catalog, fx)
        if isinstance(stmt, q.SetProperty):
            session.properties[stmt.name] = stmt.value
            return self._status(
                text, "set", f"Successfully changed local property '{stmt.name}' to '{stmt.value}'.", catalog
            )
        if isinstance(stmt, q.UnsetProperty):
            session.properties.pop(stmt.name, None)
            return self._status(text, "unset", f"Successfully unset local property '{stmt.name}'.", catalog)
        if isinstance(stmt, q.Define):
            session.variables[stmt.name.upper()] = stmt.value
            return self._status(text, "define", f"Defined variable {stmt.name}.", catalog)
        if isinstance(stmt, q.Undefine):
            session.variables.pop(stmt.name.upper(), None)
            return self._status(text, "undefine", f"Undefined variable {stmt.name}.", catalog)
        if isinstance(stmt, q.AssertTopic):
            return self._assert_topic(stmt, text)
        if isinstance(stmt, q.CreateType):
            if stmt.name in catalog.types or t.primitive(stmt.name) is not None:
                raise q.SqlError(f"Type {stmt.name} already exists.")
            catalog.types[stmt.name] = stmt.type.text()
            catalog.sequence += 1
            self._commit(catalog, fx)
            return self._status(
                text, f"type/{stmt.name}/create", f"Registered custom type with name '{stmt.name}'.", catalog
            )
        if isinstance(stmt, q.DropType):
            if stmt.name not in catalog.types:
                if stmt.if_exists:
                    return self._status(text, f"type/{stmt.name}/drop", "Nothing to drop.", catalog)
                raise NotFound(f"Type {stmt.name} does not exist.")
            del catalog.types[stmt.name]
            catalog.sequence += 1
            self._commit(catalog, fx)
            return self._status(text, f"type/{stmt.name}/drop", f"Dropped type '{stmt.name}'.", catalog)
        raise q.SqlError(f"Unsupported statement {text!r}.")

    def _source(self, catalog: Catalog, name: str) -> Source:
        src = catalog.sources.get(name) or next(
            (s for n, s in catalog.sources.items() if n.upper() == name.upper()), None
        )
        if src is None:
            known = ", ".join(sorted(catalog.sources)) or "none"
            raise NotFound(f"{name} does not exist.", hint=f"Known streams and tables: {known}.")
        return src

    # --- CREATE STREAM/TABLE (columns) WITH (...) ---------------------------------------------------------------

    def _create_source(self, stmt: q.CreateSource, text: str, catalog: Catalog, fx: _Effects) -> dict[str, Any]:
        if stmt.or_replace:
            raise q.SqlError("Unsupported construct: CREATE OR REPLACE (drop it and create it again).")
        if stmt.name in catalog.sources:
            if stmt.if_not_exists:
                return self._status(text, f"{stmt.kind.lower()}/{stmt.name}/create", "Already exists.", catalog)
            raise q.SqlError(f"{stmt.name} already exists.", hint=f"DROP {stmt.kind} {stmt.name} first.")
        props = stmt.props
        allowed = {
            "KAFKA_TOPIC", "VALUE_FORMAT", "KEY_FORMAT", "FORMAT", "PARTITIONS", "REPLICAS", "TIMESTAMP",
            "VALUE_SCHEMA_ID", "WRAP_SINGLE_VALUE", "VALUE_DELIMITER", "KEY",
        }  # fmt: skip
        unknown = set(props) - allowed
        if unknown:
            raise q.SqlError(f"Unsupported construct: WITH property {', '.join(sorted(unknown))}.")
        if "KEY" in props:
            raise q.SqlError("WITH (KEY=...) is gone from ksqlDB: mark the key column with KEY / PRIMARY KEY.")
        if props.get("VALUE_DELIMITER") not in (None, ","):
            raise q.SqlError("Unsupported construct: VALUE_DELIMITER other than ','.")
        topic = props.get("KAFKA_TOPIC")
        if not topic:
            raise q.SqlError(f"CREATE {stmt.kind} {stmt.name} needs WITH (KAFKA_TOPIC='...').")
        vfmt = value_format(str(props.get("VALUE_FORMAT") or props.get("FORMAT") or "JSON"), stmt.name)
        kfmt = key_format(str(props.get("KEY_FORMAT") or props.get("FORMAT") or "KAFKA"), stmt.name)
        columns = [Column(name=c.name, type=c.type.text(), key=c.key) for c in stmt.columns]
        if any(c.headers for c in stmt.columns):
            raise q.SqlError("Unsupported construct: HEADERS columns.")
        schema_id = schema_text = None
        if vfmt == "AVRO" and not [c for c in columns if not c.key]:
            found = self.backend.registry_latest(f"{topic}-value")
            if found is None:
                raise NotFound(
                    f"No value schema is registered for subject '{topic}-value', so the columns of {stmt.name} are "
                    "unknown.",
                    hint="Register the schema (kafka_register_schema) or declare the columns.",
                )
            schema_id, schema_text = found
            columns = [c for c in columns if c.key] + avro_columns(schema_text)
        names = [c.name for c in columns]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise q.SqlError(f"Column(s) {', '.join(sorted(dupes))} declared twice.")
        if not columns:
            raise q.SqlError(f"CREATE {stmt.kind} {stmt.name} needs a column list, e.g. (user_id VARCHAR, n INT).")
        keys = [c for c in columns if c.key]
        if stmt.kind == "TABLE" and not keys:
            raise q.SqlError(f"Tables require a PRIMARY KEY. Please define the PRIMARY KEY for {stmt.name}.")
        if len(keys) > 1 and kfmt == "KAFKA":
            raise q.SqlError("KEY_FORMAT='KAFKA' holds one key column; use KEY_FORMAT='JSON' for several.")
        if keys and kfmt == "NONE":
            raise q.SqlError("KEY_FORMAT='NONE' cannot hold key columns.")
        if len(keys) == 1 and kfmt == "KAFKA" and keys[0].sql_type(catalog.types).base not in (
            "STRING", "INT", "BIGINT", "DOUBLE",
        ):  # fmt: skip
            raise q.SqlError(f"KEY_FORMAT='KAFKA' does not hold a {keys[0].type} key; use KEY_FORMAT='JSON'.")
        value_cols = [c for c in columns if not c.key]
        if vfmt == "KAFKA" and (len(value_cols) != 1 or value_cols[0].sql_type(catalog.types).base != "STRING"):
            raise q.SqlError("VALUE_FORMAT='KAFKA' is read here as one STRING value column.")
        timestamp = props.get("TIMESTAMP")
        if timestamp:
            col = next((c for c in columns if c.name.upper() == str(timestamp).upper()), None)
            if col is None:
                raise q.SqlError(f"The TIMESTAMP column {timestamp!r} is not among the columns of {stmt.name}.")
            if col.sql_type(catalog.types).base not in ("BIGINT", "TIMESTAMP"):
                raise q.SqlError(f"The TIMESTAMP column {col.name} must be BIGINT or TIMESTAMP, not {col.type}.")
            timestamp = col.name
        partitions = _int_prop(props, "PARTITIONS")
        replicas = _int_prop(props, "REPLICAS")
        if fx.topic_partitions(str(topic)) is None:
            if partitions is None:
                raise NotFound(
                    f"Topic {topic!r} does not exist.", hint="Create it, or add PARTITIONS=n to the WITH clause."
                )
            fx.create_topic(text, str(topic), partitions, replicas)
        if vfmt == "AVRO" and schema_id is None:
            schema_text = avro_schema(value_cols, catalog.types)
            schema_id = fx.register_schema(text, f"{topic}-value", schema_text)
        catalog.sources[stmt.name] = Source(
            name=stmt.name,
            kind=stmt.kind,
            topic=str(topic),
            key_format=kfmt,
            value_format=vfmt,
            columns=sorted(columns, key=lambda c: not c.key),
            timestamp=str(timestamp) if timestamp else None,
            statement=text,
            read_only=stmt.read_only,
            value_schema_id=schema_id,
            value_schema=schema_text,
        )
        catalog.sequence += 1
        self._commit(catalog, fx)
        what = stmt.kind.capitalize()
        return self._status(text, f"{stmt.kind.lower()}/{stmt.name}/create", f"{what} created", catalog)

    # --- persistent queries ---------------------------------------------------------------------------------

    def _persistent(
        self, stmt: q.CreateAs | q.InsertSelect, text: str, catalog: Catalog, fx: _Effects, session: Session
    ) -> dict[str, Any]:
        if isinstance(stmt, q.CreateAs):
            if stmt.or_replace:
                raise q.SqlError("Unsupported construct: CREATE OR REPLACE (drop it and create it again).")
            if stmt.name in catalog.sources:
                if stmt.if_not_exists:
                    return self._status(text, f"{stmt.kind.lower()}/{stmt.name}/create", "Already exists.", catalog)
                raise q.SqlError(f"{stmt.name} already exists.", hint=f"DROP {stmt.kind} {stmt.name} first.")
            kind, name, props = stmt.kind, stmt.name, dict(stmt.props)
            prefix = "CTAS" if kind == "TABLE" else "CSAS"
            target = None
        else:
            target = self._source(catalog, stmt.target)
            if target.read_only:
                raise q.SqlError(
                    f"{target.name} is a SOURCE {target.kind.lower()} (read-only): nothing can be inserted."
                )
            if target.kind != "STREAM":
                raise q.SqlError("INSERT INTO ... SELECT writes into a STREAM, not a TABLE.")
            kind, name, prefix = "STREAM", target.name, "INSERTQUERY"
            props = {
                "KAFKA_TOPIC": target.topic,
                "VALUE_FORMAT": target.value_format,
                "KEY_FORMAT": target.key_format,
            }
        catalog.sequence += 1
        query_id = f"{prefix}_{catalog.sequence}" if prefix == "INSERTQUERY" else f"{prefix}_{name}_{catalog.sequence}"
        compiled = QueryCompiler(
            catalog,
            kind=kind,
            name=name,
            query_id=query_id,
            select=stmt.select,
            props=props,
            session=session.properties,
        ).compile()
        if target is not None:
            self._check_insert_schema(compiled, target, catalog)
            if target.value_format == "AVRO" and target.value_schema_id is not None:
                compiled.spec.sink.avro_schema = target.value_schema
                compiled.spec.sink.avro_schema_id = target.value_schema_id
                compiled.value_schema = None
        if compiled.value_schema is not None:
            sink_topic = compiled.spec.sink.topic
            compiled.spec.sink.avro_schema_id = fx.register_schema(text, f"{sink_topic}-value", compiled.value_schema)
        fx.deploy(text, compiled.spec, query_id)
        if target is None:
            catalog.sources[name] = Source(
                name=name,
                kind=kind,  # type: ignore[arg-type]
                topic=compiled.spec.sink.topic,
                key_format=compiled.key_format,
                value_format=compiled.value_format,
                columns=compiled.columns,
                windowed=compiled.windowed,
                window_type=compiled.window_type,
                query_id=query_id,
                app=compiled.spec.name,
                statement=text,
                value_schema_id=compiled.spec.sink.avro_schema_id if compiled.value_schema else None,
                value_schema=compiled.value_schema,
            )
        catalog.queries[query_id] = PersistentQuery(
            id=query_id,
            kind=prefix if prefix != "INSERTQUERY" else "INSERT",  # type: ignore[arg-type]
            sink=name,
            sources=compiled.sources,
            app=compiled.spec.name,
            statement=text,
        )
        self._commit(catalog, fx)
        return self._status(
            text, f"{kind.lower()}/{name}/create", f"Created query with ID {query_id}", catalog, compiled.notes
        )

    @staticmethod
    def _check_insert_schema(compiled: Compiled, target: Source, catalog: Catalog) -> None:
        def show(cols: list[Column]) -> str:
            return ", ".join(f"`{c.name}` {c.type}{' KEY' if c.key else ''}" for c in cols)

        ok = len(compiled.columns) == len(target.columns)
        if ok:
            wanted = {c.name: c for c in target.columns}
            for col in compiled.columns:
                other = wanted.get(col.name)
                if other is None or other.key != col.key:
                    ok = False
                    break
                if not t.assignable(col.sql_type(catalog.types), other.sql_type(catalog.types)):
                    ok = False
                    break
        if not ok:
            raise q.SqlError(
                f"Incompatible schema between results and sink. Result schema is {show(compiled.columns)}; sink schema "
                f"is {show(target.columns)}.",
                hint="Select the sink's columns by name (with AS) and types (CAST).",
            )

    # --- INSERT VALUES -------------------------------------------------------------------------------------------

    def _insert_values(self, stmt: q.InsertValues, text: str, catalog: Catalog, fx: _Effects) -> dict[str, Any]:
        target = self._source(catalog, stmt.target)
        if target.read_only:
            raise q.SqlError(f"{target.name} is a SOURCE {target.kind.lower()} (read-only): nothing can be inserted.")
        if target.windowed:
            raise q.SqlError("Unsupported construct: INSERT VALUES into a windowed table.")
        names = stmt.columns or [c.name for c in target.columns]
        if len(names) != len(stmt.values):
            raise q.SqlError(f"Expected {len(names)} value(s) ({', '.join(names)}), got {len(stmt.values)}.")
        checker = Checker(Scope())
        values: dict[str, Any] = {}
        timestamp = None
        for name, node in zip(names, stmt.values, strict=False):
            if name.upper() == "ROWTIME":
                tree, ty = checker.check(node)
                if not ty.numeric and ty.base not in ("TIMESTAMP", "NULL"):
                    raise q.SqlError(f"ROWTIME takes a number (epoch ms), not {ty.text()}.")
                timestamp = evaluate(tree, {})
                continue
            col = target.column(name)
            if col is None:
                raise q.SqlError(f"Column name {name} does not exist in {target.name}.")
            tree, ty = checker.check(node)
            want = col.sql_type(catalog.types)
            if not t.assignable(ty, want) and not (ty.base == "STRING" and isinstance(node, q.Lit)):
                raise q.SqlError(f"Expected type {want.text()} for column {col.name} but got {ty.text()}.")
            from streams.sql.evaluate import EvalError, coerce

            try:
                values[col.name] = coerce(evaluate(tree, {}), want.spec_text())
            except EvalError as exc:
                raise q.SqlError(f"Column {col.name}: {exc}.") from None
        key = encode_key(values, target, catalog.types)
        value = encode_value(values, target, catalog.types)
        fx.insert_record(text, target.topic, key, value, int(timestamp) if timestamp is not None else None)
        return self._status(text, f"insert/{target.name}", f"Inserted 1 row into {target.name}.", catalog)

    # --- DROP, TERMINATE, PAUSE, RESUME ----------------------------------------------------------------------

    def _drop(self, stmt: q.Drop, text: str, catalog: Catalog, fx: _Effects) -> dict[str, Any]:
        src = catalog.sources.get(stmt.name)
        if src is None:
            if stmt.if_exists:
                return self._status(text, f"{stmt.kind.lower()}/{stmt.name}/drop", "Nothing to drop.", catalog)
            raise NotFound(f"{stmt.kind} {stmt.name} does not exist.")
        if src.kind != stmt.kind:
            raise q.SqlError(f"{stmt.name} is a {src.kind}, not a {stmt.kind}: use DROP {src.kind}.")
        readers = [qid for qid in catalog.readers(stmt.name) if catalog.queries[qid].sink != stmt.name]
        if readers:
            raise q.SqlError(
                f"Cannot drop {stmt.name}: queries read from it ({', '.join(readers)}).",
                hint=f"TERMINATE {readers[0]}; (or drop what it writes) first.",
            )
        inserts = [qid for qid in catalog.writers(stmt.name) if qid != src.query_id]
        if inserts:
            raise q.SqlError(
                f"Cannot drop {stmt.name}: INSERT queries write into it ({', '.join(inserts)}).",
                hint=f"TERMINATE {inserts[0]}; first.",
            )
        notes: list[str] = []
        if src.query_id:
            query = catalog.queries.pop(src.query_id, None)
            if query:
                notes += _cleanup_notes(fx.remove_app(text, query.app, query.id))
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
            notes,
        )

    def _terminate(self, stmt: q.Terminate, text: str, catalog: Catalog, fx: _Effects) -> dict[str, Any]:
        if stmt.query_id is None:
            ids = list(catalog.queries)
        else:
            found = catalog.queries.get(stmt.query_id.upper()) or catalog.queries.get(stmt.query_id)
            if found is None:
                raise NotFound(f"Unknown query id {stmt.query_id!r}.", hint="SHOW QUERIES lists them.")
            ids = [found.id]
        notes: list[str] = []
        for qid in ids:
            query = catalog.queries.pop(qid)
            notes += _cleanup_notes(fx.remove_app(text, query.app, query.id))
            sink = catalog.sources.get(query.sink)
            if sink is not None and sink.query_id == query.id:
                sink.query_id = None
                sink.app = None
        catalog.sequence += 1
        self._commit(catalog, fx)
        message = "Query terminated." if stmt.query_id else f"{len(ids)} query(ies) terminated."
        return self._status(text, f"terminate/{stmt.query_id or 'ALL'}/execute", message, catalog, notes)

    def _pause_resume(self, stmt: q.PauseResume, text: str, catalog: Catalog, fx: _Effects) -> dict[str, Any]:
        if stmt.query_id is None:
            queries = list(catalog.queries.values())
        else:
            found = catalog.queries.get(stmt.query_id.upper()) or catalog.queries.get(stmt.query_id)
            if found is None:
                raise NotFound(f"Unknown query id {stmt.query_id!r}.", hint="SHOW QUERIES lists them.")
            queries = [found]
        for query in queries:
            if stmt.action == "PAUSE" and query.state == "RUNNING":
                fx.pause(text, query.app, query.id)
                query.state = "PAUSED"
            elif stmt.action == "RESUME" and query.state == "PAUSED":
                spec = self._query_spec(query)
                fx._apps[spec.name] = AppResources(application_id=spec.application_id or "", status="stopped")
                fx.deploy(text, spec, query.id)
                query.state = "RUNNING"
        catalog.sequence += 1
        self._commit(catalog, fx)
        done = "paused" if stmt.action == "PAUSE" else "resumed"
        return self._status(text, f"{stmt.action.lower()}/{stmt.query_id or 'ALL'}", f"Query {done}.", catalog)

    def _query_spec(self, query: PersistentQuery) -> StreamSpec:
        spec_path = self.folder.parent.parent / "apps" / query.app / "spec.json"
        if not spec_path.exists():
            raise NotFound(f"The application of query {query.id} is gone; drop and create the query again.")
        return StreamSpec.model_validate_json(spec_path.read_text(encoding="utf-8"))

    # --- SHOW, DESCRIBE, EXPLAIN, ASSERT ------------------------------------------------------------------------

    def _show(self, stmt: q.Show, text: str, catalog: Catalog, fx: _Effects, session: Session) -> dict[str, Any]:
        if stmt.what == "QUERIES":
            queries = []
            for query in catalog.queries.values():
                state = self.backend.app_state(query.app) if fx.live else "UNKNOWN"
                if query.state == "PAUSED":
                    state = "PAUSED"
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
        if stmt.what == "TOPICS":
            topics = [
                {"name": name, "replicaInfo": [self.backend.topic_replicas(name) or 1]}
                for name in sorted(self.backend.list_topics())
                if not name.startswith("_") and not name.startswith("__")
            ]
            return {"@type": "kafka_topics", "statementText": text, "topics": topics, "warnings": []}
        if stmt.what == "PROPERTIES":
            overrides = {k if k.startswith("ksql.") else f"ksql.streams.{k}": v for k, v in session.properties.items()}
            merged = {**SERVER_DEFAULTS, **overrides}
            return {
                "@type": "properties",
                "statementText": text,
                "properties": [
                    {"name": k, "scope": "KSQL" if not k.startswith("ksql.streams.") else "STREAMS", "value": v}
                    for k, v in sorted(merged.items())
                ],
                "overwrittenProperties": sorted(overrides),
                "defaultProperties": sorted(k for k in SERVER_DEFAULTS if k not in overrides),
                "warnings": [],
            }
        if stmt.what == "FUNCTIONS":
            functions = [{"name": f.name, "type": "SCALAR", "category": f.category} for f in fns.SCALARS.values()] + [
                {"name": a.name, "type": "AGGREGATE", "category": "AGGREGATE"} for a in fns.AGGREGATES.values()
            ]
            return {
                "@type": "function_names",
                "statementText": text,
                "functions": sorted(functions, key=lambda f: f["name"]),
            }
        if stmt.what == "TYPES":
            types = {name: _schema_json(parse_type(text_)) for name, text_ in catalog.types.items()}
            return {"@type": "type_list", "statementText": text, "types": types}
        if stmt.what == "VARIABLES":
            variables = [{"name": k, "value": v} for k, v in session.variables.items()]
            return {"@type": "variables", "statementText": text, "variables": variables}
        kind = "STREAM" if stmt.what == "STREAMS" else "TABLE"
        items = [
            {
                "type": kind,
                "name": s.name,
                "topic": s.topic,
                "keyFormat": s.key_format,
                "valueFormat": s.value_format,
                "isWindowed": s.windowed,
            }
            for s in catalog.sources.values()
            if s.kind == kind
        ]
        key = stmt.what.lower()
        return {"@type": key, "statementText": text, key: items, "warnings": []}

    def _describe(self, src: Source, extended: bool, text: str, catalog: Catalog, fx: _Effects) -> dict[str, Any]:
        def query_ref(qid: str) -> dict[str, Any]:
            query = catalog.queries[qid]
            sink = catalog.sources.get(query.sink)
            return {
                "queryString": query.statement,
                "sinks": [query.sink],
                "sinkKafkaTopics": [sink.topic] if sink else [],
                "id": qid,
                "state": query.state,
                "queryType": "PERSISTENT",
            }

        fields = [
            {
                "name": c.name,
                "schema": _schema_json(c.sql_type(catalog.types)),
                **({"type": "KEY"} if c.key else {}),
            }
            for c in src.columns
        ]
        description: dict[str, Any] = {
            "name": src.name,
            "windowType": src.window_type,
            "readQueries": [query_ref(qid) for qid in catalog.readers(src.name)],
            "writeQueries": [query_ref(qid) for qid in catalog.writers(src.name)],
            "fields": fields,
            "type": src.kind,
            "timestamp": src.timestamp or "",
            "statistics": "",
            "errorStats": "",
            "extended": extended,
            "keyFormat": src.key_format,
            "valueFormat": src.value_format,
            "topic": src.topic,
            "partitions": 0,
            "replication": 0,
            "statement": src.statement,
            "sourceConstraints": [],
        }
        warnings: list[str] = []
        if extended and fx.live:
            description["partitions"] = self.backend.topic_partitions(src.topic) or 0
            description["replication"] = self.backend.topic_replicas(src.topic) or 0
            if src.app:
                metrics = self.backend.app_metrics(src.app) or {}
                description["statistics"] = (
                    f"records-in: {metrics.get('records_in', 0)}  records-out: {metrics.get('records_out', 0)}  "
                    f"process-rate: {metrics.get('process_rate') or 0:.1f}/s  lag: {metrics.get('lag') or 0}"
                )
                description["errorStats"] = (
                    f"failed-records: {metrics.get('failed_records') or 0}  late-records: "
                    f"{metrics.get('late_records') or 0}  dropped-records: {metrics.get('dropped_records') or 0}"
                )
                warnings = _metric_warnings(metrics)
        return {
            "@type": "sourceDescription",
            "statementText": text,
            "sourceDescription": description,
            "warnings": _warnings(warnings),
        }

    def _explain(self, stmt: q.Explain, text: str, catalog: Catalog, fx: _Effects) -> dict[str, Any]:
        query = catalog.queries.get(stmt.query_id.upper()) or catalog.queries.get(stmt.query_id)
        if query is None:
            raise NotFound(f"Unknown query id {stmt.query_id!r}.", hint="SHOW QUERIES lists them.")
        sink = catalog.sources.get(query.sink)
        topology = (self.backend.app_topology(query.app) if fx.live else None) or ""
        state = self.backend.app_state(query.app) if fx.live else "UNKNOWN"
        return {
            "@type": "queryDescription",
            "statementText": text,
            "queryDescription": {
                "id": query.id,
                "statementText": query.statement,
                "windowType": sink.window_type if sink else None,
                "fields": [
                    {"name": c.name, "schema": _schema_json(c.sql_type(catalog.types))}
                    for c in (sink.columns if sink else [])
                ],
                "sources": query.sources,
                "sinks": [query.sink],
                "topology": topology,
                "executionPlan": f"query {query.id} runs as stream application {query.app}",
                "overriddenProperties": {},
                "ksqlHostQueryStatus": {"local": state},
                "queryType": "PERSISTENT",
                "state": "PAUSED" if query.state == "PAUSED" else state,
            },
            "warnings": [],
        }

    def _assert_topic(self, stmt: q.AssertTopic, text: str) -> dict[str, Any]:
        deadline = time.monotonic() + (stmt.timeout_ms or 0) / 1000
        while True:
            partitions = self.backend.topic_partitions(stmt.topic)
            if (partitions is not None) == stmt.exists:
                break
            if time.monotonic() >= deadline:
                state = "does not exist" if stmt.exists else "exists"
                raise NotFound(f"Topic {stmt.topic} {state}.", code="ASSERT_TOPIC")
            time.sleep(0.5)
        if stmt.exists:
            want = _int_prop(stmt.props, "PARTITIONS")
            if want is not None and partitions != want:
                raise Conflict(f"Topic {stmt.topic} has {partitions} partitions, not {want}.")
            replicas = _int_prop(stmt.props, "REPLICAS")
            if replicas is not None and self.backend.topic_replicas(stmt.topic) != replicas:
                raise Conflict(
                    f"Topic {stmt.topic} has {self.backend.topic_replicas(stmt.topic)} replicas, not {replicas}."
                )
        return {"@type": "assert_topic", "statementText": text, "topicName": stmt.topic, "exists": stmt.exists}

    # --- queries -------------------------------------------------------------------------------------------------

    def query(
        self,
        text: str,
        *,
        earliest: bool | None = None,
        limit: int | None = None,
        timeout: float = 10.0,
        stop: threading.Event | None = None,
        on_row: Callable[[list[Any]], None] | None = None,
        on_header: Callable[[QueryResult], None] | None = None,
        properties: dict[str, Any] | None = None,
    ) -> QueryResult:
        """A pull query (no EMIT: the table's current rows, or a stream's records so far), a push query (EMIT
        CHANGES: tail the topic), or PRINT.

        Push queries end after ``limit`` rows (the statement's LIMIT wins), when ``stop`` is set, or at ``timeout``;
        they start at the end of the topic unless ``earliest`` or auto.offset.reset=earliest."""
        statements = q.split_statements(text)
        if len(statements) != 1:
            raise q.SqlError("Send exactly one SELECT to the query endpoint.")
        catalog = self.load()
        stmt = q.parse(statements[0], catalog.type_map())
        props = {str(k): str(v) for k, v in (properties or {}).items()}
        if earliest is None:
            earliest = Session(properties=props).offset_reset() == "earliest"
        stopper = stop or threading.Event()
        with self._lock:
            catalog.sequence += 1
            self.save(catalog)
        if isinstance(stmt, q.Print):
            return self._print(stmt, catalog, stopper, timeout, limit, on_row, on_header)
        if not isinstance(stmt, q.Query):
            raise q.SqlError("Only SELECT and PRINT go to the query endpoint; statements go to /ksql.")
        sel = stmt.select
        if sel.joins or sel.group_by or sel.window or sel.partition_by or sel.having is not None:
            raise q.SqlError(
                "Unsupported construct: JOIN, GROUP BY, WINDOW, HAVING or PARTITION BY in a transient query.",
                hint="Create a persistent query (CREATE TABLE/STREAM ... AS SELECT) and query what it makes.",
            )
        src = self._source(catalog, sel.source)
        qualifier = sel.source_alias or src.name
        scope = Scope()
        fields = [
            ScopeField(qualifier, c.name, c.sql_type(catalog.types), ["col", c.name], c.key) for c in src.columns
        ] + [ScopeField(qualifier, n, ty, ["col", n]) for n, ty in PSEUDO.items()]
        scope.add(qualifier, fields, also=src.name)
        checker = Checker(scope, windowed=src.windowed)
        where = checker.condition(sel.where, "WHERE") if sel.where is not None else None
        names, types, trees = [], [], []
        for index, item in enumerate(sel.items):
            if item.star is not None:
                for c in src.columns:
                    names.append(c.name)
                    types.append(c.sql_type(catalog.types).text())
                    trees.append(["col", c.name])
                continue
            tree, ty = checker.check(item.expr)
            from streams.ksql_compile import _name_for

            names.append(_name_for(item, index, set(names)))
            types.append(ty.text())
            trees.append(tree)
        kind = "push" if sel.emit is not None else "pull"
        if sel.emit == "final":
            raise q.SqlError("Unsupported construct: EMIT FINAL in a transient query (use EMIT CHANGES).")
        result = QueryResult(
            query_id=f"transient_{src.name}_{catalog.sequence}",
            column_names=names,
            column_types=types,
            rows=[],
            kind=kind,
        )
        if on_header:
            on_header(result)
        wanted = sel.limit if sel.limit is not None else (limit if kind == "push" else None)
        if kind == "pull" and src.app:
            rows: Iterator[dict[str, Any]] = iter(self._pull_materialized(sel, src, where, catalog))
            if src.app:
                metrics = self.backend.app_metrics(src.app)
                result.warnings = _metric_warnings(metrics or {})
        elif kind == "pull":
            rows = self._scan_rows(
                src, catalog, stopper, timeout, earliest=True, to_end=True, table=src.kind == "TABLE"
            )
        else:
            rows = self._scan_rows(src, catalog, stopper, timeout, earliest=earliest, to_end=False, table=False)
        skipped = 0
        for row in rows:
            if row is None:
                skipped += 1
                continue
            if where is not None and evaluate(where, {"value": row}) is not True:
                continue
            values = [jsonable(evaluate(tr, {"value": row})) for tr in trees]
            result.rows.append(values)
            if on_row:
                on_row(values)
            if wanted is not None and len(result.rows) >= wanted:
                stopper.set()
                break
        if skipped:
            result.warnings.append(
                f"{skipped} record(s) of {src.topic} did not fit the columns of {src.name} and were skipped."
            )
        return result

    def _scan_rows(
        self,
        src: Source,
        catalog: Catalog,
        stop: threading.Event,
        timeout: float,
        *,
        earliest: bool,
        to_end: bool,
        table: bool,
    ) -> Iterator[dict[str, Any]]:
        """Rows of a topic (None for a record that does not fit, so it can be counted). A table scan keeps the latest
        row of each key (a tombstone removes it)."""
        latest: dict[str, dict[str, Any]] = {}
        for record in self.backend.scan(src.topic, earliest=earliest, to_end=to_end, stop=stop, timeout=timeout):
            try:
                row = build_row(record, src, catalog.types, self.backend.registry_schema)
            except (RowError, q.SqlError):
                yield None  # type: ignore[misc]
                continue
            if table:
                key = record.key.hex() if record.key is not None else ""
                if row is None:
                    latest.pop(key, None)
                else:
                    latest[key] = row
                continue
            if row is not None:
                yield row
        yield from latest.values()

    def _pull_materialized(
        self, sel: q.Select, src: Source, where: list[Any] | None, catalog: Catalog
    ) -> list[dict[str, Any]]:
        assert src.app is not None
        params: dict[str, Any] = {}
        keys = src.keys
        for cond in _conjuncts(sel.where):
            if not isinstance(cond, q.Bin) or not isinstance(cond.left, q.Col) or not isinstance(cond.right, q.Lit):
                continue
            col = cond.left.name.upper()
            if len(keys) == 1 and col == keys[0].name.upper() and cond.op == "=":
                value = cond.right.value
                params["key"] = value if isinstance(value, str) else json.dumps(jsonable(value))
            elif col == "WINDOWSTART" and isinstance(cond.right.value, int):
                if cond.op in (">=", ">", "="):
                    params["time_from"] = cond.right.value + (1 if cond.op == ">" else 0)
                if cond.op in ("<=", "<", "="):
                    params["time_to"] = cond.right.value - (1 if cond.op == "<" else 0)
        rows = self.backend.query_app(src.app, params)
        out = []
        for raw in rows:
            row = {c.name: raw.get(c.name) for c in src.columns}
            for c in src.columns:
                from streams.sql.evaluate import EvalError, coerce

                with contextlib.suppress(EvalError):
                    row[c.name] = coerce(row[c.name], c.sql_type(catalog.types).spec_text())
            out.append(row)
        return out

    def _print(
        self,
        stmt: q.Print,
        catalog: Catalog,
        stop: threading.Event,
        timeout: float,
        limit: int | None,
        on_row: Callable[[list[Any]], None] | None,
        on_header: Callable[[QueryResult], None] | None,
    ) -> QueryResult:
        if self.backend.topic_partitions(stmt.topic) is None:
            raise NotFound(f"Topic {stmt.topic!r} does not exist.")
        result = QueryResult(
            query_id=f"print_{catalog.sequence}",
            column_names=["ROWTIME", "PARTITION", "KEY", "VALUE"],
            column_types=["BIGINT", "INTEGER", "STRING", "STRING"],
            rows=[],
            kind="print",
        )
        if on_header:
            on_header(result)
        wanted = stmt.limit if stmt.limit is not None else limit
        n = 0
        for record in self.backend.scan(
            stmt.topic, earliest=stmt.from_beginning, to_end=False, stop=stop, timeout=timeout
        ):
            n += 1
            if (n - 1) % stmt.interval:
                continue
            row = [record.timestamp, record.partition, _text(record.key), _text(record.value)]
            result.rows.append(row)
            if on_row:
                on_row(row)
            if wanted is not None and len(result.rows) >= wanted:
                stop.set()
                break
        return result


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + raw.hex()


def _conjuncts(expr: Any) -> list[Any]:
    if isinstance(expr, q.Bin) and expr.op == "AND":
        return _conjuncts(expr.left) + _conjuncts(expr.right)
    return [] if expr is None else [expr]


def _cleanup_notes(done: Any) -> list[str]:
    """What a deletion left behind, as warnings of the statement."""
    if done is None or getattr(done, "complete", True):
        return []
    return [f"Not everything was deleted: {item}" for item in getattr(done, "remaining", [])]


def _metric_warnings(metrics: dict[str, Any]) -> list[str]:
    out = []
    if metrics.get("failed_records"):
        recent = "; ".join((metrics.get("recent_failures") or [])[-3:])
        out.append(f"{metrics['failed_records']} record(s) failed and are missing from the results (e.g. {recent}).")
    if metrics.get("late_records"):
        out.append(f"{metrics['late_records']} record(s) came after their window's grace period and were not counted.")
    if metrics.get("dropped_records"):
        out.append(
            f"Kafka Streams dropped {metrics['dropped_records']} record update(s) (expired windows, bad records)."
        )
    return out


def _schema_json(ty: t.SqlType) -> dict[str, Any]:
    if ty.base == "STRUCT":
        return {
            "type": "STRUCT",
            "fields": [{"name": n, "schema": _schema_json(ft)} for n, ft in ty.fields],
            "memberSchema": None,
        }
    if ty.base == "ARRAY":
        return {"type": "ARRAY", "fields": None, "memberSchema": _schema_json(ty.element or t.STRING)}
    if ty.base == "MAP":
        return {"type": "MAP", "fields": None, "memberSchema": _schema_json(ty.value or t.STRING)}
    out: dict[str, Any] = {"type": ty.text().split("(")[0], "fields": None, "memberSchema": None}
    if ty.base == "DECIMAL":
        out["parameters"] = {"precision": ty.precision, "scale": ty.scale}
    return out


def _describe_function(name: str, text: str) -> dict[str, Any]:
    found = fns.describe(name.upper())
    if found is None:
        raise NotFound(f"Can't find any functions with the name '{name}'.", hint="SHOW FUNCTIONS; lists them.")
    kind = "AGGREGATE" if isinstance(found, fns.Aggregate) else "SCALAR"
    return {
        "@type": "describe_function",
        "statementText": text,
        "name": found.name,
        "description": found.description,
        "author": "kafka-streaming-agent",
        "version": "",
        "path": "internal",
        "type": kind,
        "functions": [{"arguments": [], "returnType": "", "description": found.description, "argumentTypes": []}],
    }


def dumps(obj: Any) -> str:
    return json.dumps(obj, default=str)
