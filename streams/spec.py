"""The stream application spec (what the runner executes), validated before anything is launched.

Expressions are CEL text (the spec API) or, when compiled from SQL, a typed SQL expression tree ``{"sql": [...]}``
(``streams.sql.compile``; evaluated by the runner's ``SqlExpr`` with SQL semantics)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.errors import InvalidArgument
from streams import cel

ValueFormat = Literal["json", "string", "avro", "delimited"]
KeyFormat = Literal["kafka", "json", "none"]
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_RESERVED_PROPERTIES = {"application.id", "state.dir", "bootstrap.servers"}
JOIN_VARIABLES = frozenset({"key", "value", "left", "right"})
RECORD_VARIABLES = frozenset({"key", "value"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SqlExpr(_Model):
    """A typed SQL expression tree, compiled from ksqlDB's SQL (not written by hand)."""

    sql: list[Any]


Expression = str | SqlExpr


def _check_expr(expr: Expression | None, where: str, variables: frozenset[str], *, boolean: bool = False) -> None:
    if isinstance(expr, str):
        cel.validate(expr, where=where, variables=variables, boolean=boolean)
    elif isinstance(expr, SqlExpr) and (not expr.sql or not isinstance(expr.sql[0], str)):
        raise ValueError(f"{where}: a SQL expression tree starts with its node name")


class ColumnSpec(_Model):
    name: str
    type: str = Field("STRING", description="SQL type, e.g. BIGINT, DECIMAL(10,2), ARRAY<STRING>.")
    key: bool = False


class SourceSpec(_Model):
    topic: str = Field(description="Input topic.")
    value_format: ValueFormat = Field("json", description="How record values are read: json, string, avro, delimited.")
    key_format: KeyFormat = Field("kafka", description="kafka (UTF-8 text, or binary INT/BIGINT/DOUBLE), json, none.")
    key_type: str = Field("STRING", description="SQL type of the key (for the kafka and json key formats).")
    timestamp_field: str | None = Field(
        None, description="JSON field holding the event time (epoch ms); default: the record timestamp."
    )
    columns: list[ColumnSpec] | None = Field(
        None, description="SQL sources: records are read into these columns (by name, case-insensitive, and type)."
    )
    avro_schemas: dict[str, str] | None = Field(None, description="Avro writer schemas known in advance, by id.")


class StepSpec(_Model):
    op: Literal["filter", "select", "set_key"] = Field(
        description="filter: keep records where expr is true; select: replace the value by an object of fields; "
        "set_key: re-key by expr (repartitions before a join or aggregation)."
    )
    expr: Expression | None = Field(
        None, description="CEL expression over key and value (filter: must be true or false; set_key)."
    )
    fields: dict[str, Expression] | None = Field(None, description="select: output field -> CEL expression.")

    @model_validator(mode="after")
    def _check(self) -> StepSpec:
        if self.op == "select":
            if not self.fields:
                raise ValueError("a select step needs fields: {name: expression}")
            for name, expr in self.fields.items():
                if isinstance(expr, str):
                    _check_field(name, "select field")
                _check_expr(expr, f"select field {name!r}", RECORD_VARIABLES)
        else:
            if not self.expr:
                raise ValueError(f"a {self.op} step needs expr")
            _check_expr(self.expr, f"{self.op} step", RECORD_VARIABLES, boolean=self.op == "filter")
        return self


class JoinSpec(_Model):
    kind: Literal["table", "global_table", "stream"] = Field(
        description="table: KTable on the same key (co-partitioned); global_table: GlobalKTable looked up by "
        "key_expr; stream: stream-stream join within window_ms."
    )
    topic: str = Field(description="The other side's topic.")
    value_format: ValueFormat = "json"
    key_format: KeyFormat = "kafka"
    key_type: str = "STRING"
    type: Literal["inner", "left", "outer"] = Field("inner", description="outer: stream-stream joins only.")
    key_expr: Expression | None = Field(None, description="global_table: lookup key computed from key and value.")
    right_key: Expression | None = Field(None, description="stream: re-key the other stream by this first.")
    right_columns: list[ColumnSpec] | None = Field(None, description="SQL: the other side's columns.")
    avro_schemas: dict[str, str] | None = None
    window_ms: int | None = Field(None, gt=0, description="stream: the maximum time difference between the sides.")
    before_ms: int | None = Field(None, ge=0, description="stream: how far the other side may be earlier.")
    after_ms: int | None = Field(None, ge=0, description="stream: how far the other side may be later.")
    grace_ms: int | None = Field(None, ge=0, description="stream: how long late records are still joined.")
    select: dict[str, Expression] | None = Field(
        None, description="Output field -> CEL over left, right, key; default: left's fields then right's."
    )

    @model_validator(mode="after")
    def _check(self) -> JoinSpec:
        if self.kind == "global_table":
            if not self.key_expr:
                raise ValueError("a global_table join needs key_expr (the lookup key from the stream record)")
            _check_expr(self.key_expr, "join key_expr", RECORD_VARIABLES)
        elif self.key_expr:
            raise ValueError("key_expr is only for global_table joins; re-key with a set_key step instead")
        if self.kind == "stream" and self.window_ms is None and self.before_ms is None:
            raise ValueError("a stream-stream join needs window_ms")
        windowed = (self.window_ms, self.grace_ms, self.before_ms, self.after_ms, self.right_key)
        if self.kind != "stream" and any(v is not None for v in windowed):
            raise ValueError("window_ms, before_ms, after_ms, grace_ms and right_key are only for stream-stream joins")
        if self.type == "outer" and self.kind != "stream":
            raise ValueError("an outer join needs two streams (kind 'stream')")
        _check_expr(self.right_key, "join right_key", RECORD_VARIABLES)
        for name, expr in (self.select or {}).items():
            if isinstance(expr, str):
                _check_field(name, "join select field")
            _check_expr(expr, f"join select field {name!r}", JOIN_VARIABLES)
        return self


class WindowSpec(_Model):
    type: Literal["tumbling", "hopping", "session", "sliding"]
    size_ms: int | None = Field(None, gt=0, description="tumbling, hopping: window size; sliding: max difference.")
    advance_ms: int | None = Field(None, gt=0, description="hopping: how far each window moves.")
    gap_ms: int | None = Field(None, gt=0, description="session: inactivity gap that closes a session.")
    grace_ms: int | None = Field(None, ge=0, description="How long late records are accepted; default none.")
    retention_ms: int | None = Field(
        None, gt=0, description="How long windows stay queryable; default max(size + grace, 1 day)."
    )

    @model_validator(mode="after")
    def _check(self) -> WindowSpec:
        if self.type == "session":
            if self.gap_ms is None:
                raise ValueError("a session window needs gap_ms")
            if self.size_ms is not None or self.advance_ms is not None:
                raise ValueError("a session window takes gap_ms, not size_ms/advance_ms")
        else:
            if self.size_ms is None:
                raise ValueError(f"a {self.type} window needs size_ms")
            if self.gap_ms is not None:
                raise ValueError("gap_ms is only for session windows")
        if self.type == "hopping":
            if self.advance_ms is None:
                raise ValueError("a hopping window needs advance_ms")
            if self.size_ms is not None and self.advance_ms > self.size_ms:
                raise ValueError("advance_ms cannot exceed size_ms")
        elif self.advance_ms is not None:
            raise ValueError("advance_ms is only for hopping windows")
        return self


AggregationOp = Literal[
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "latest_by_offset",
    "earliest_by_offset",
    "count_distinct",
    "topk",
    "topkdistinct",
    "collect_list",
    "collect_set",
    "histogram",
]


class AggregationSpec(_Model):
    name: str = Field(description="Output field name.")
    op: AggregationOp
    expr: Expression | None = Field(None, description="CEL over key and value; required except for count.")
    param: int | None = Field(None, ge=1, le=1000, description="topk, topkdistinct: how many values.")
    ignore_nulls: bool | None = Field(None, description="latest/earliest_by_offset: skip nulls (default true).")
    type: str | None = Field(None, description="SQL: the result's type (a DECIMAL sum keeps its scale).")

    @model_validator(mode="after")
    def _check(self) -> AggregationSpec:
        if self.op != "count" and not self.expr:
            raise ValueError(f"aggregation {self.name!r} ({self.op}) needs expr, e.g. value.amount")
        if self.op in ("topk", "topkdistinct") and self.param is None:
            raise ValueError(f"aggregation {self.name!r} ({self.op}) needs param (how many values)")
        if isinstance(self.expr, str):
            _check_field(self.name, "aggregation name")
        _check_expr(self.expr, f"aggregation {self.name!r}", RECORD_VARIABLES)
        return self


class AggregateSpec(_Model):
    group_by: Expression | None = Field(None, description="CEL grouping key; default: the record key.")
    key_field: str | None = Field("key", description="Name of the group key in output values (none for SQL).")
    key_columns: list[ColumnSpec] | None = Field(None, description="SQL: the key column(s) of the output table.")
    window: WindowSpec | None = None
    aggregations: list[AggregationSpec] = Field(
        default_factory=lambda: [AggregationSpec(name="count", op="count")],
        description="Default: one count named 'count'.",
    )
    emit: Literal["changes", "final"] = Field(
        "changes", description="changes: every update; final: one result per window once it closes (suppress)."
    )
    having: Expression | None = Field(None, description="SQL HAVING over the output row; a miss is a tombstone.")
    select: dict[str, Expression] | None = Field(None, description="SQL: the output value's fields.")
    window_start_field: str = "window_start"
    window_end_field: str = "window_end"

    @model_validator(mode="after")
    def _check(self) -> AggregateSpec:
        _check_expr(self.group_by, "group_by", RECORD_VARIABLES)
        _check_expr(self.having, "having", RECORD_VARIABLES, boolean=True)
        if self.key_field is not None and self.key_columns is None:
            _check_field(self.key_field, "key_field")
        if self.emit == "final" and self.window is None:
            raise ValueError("emit 'final' needs a window (a table without windows never closes)")
        if not self.aggregations:
            raise ValueError("aggregations is empty; give at least one (count, sum, min, max, avg)")
        names = [a.name for a in self.aggregations]
        dupes = {n for n in names if names.count(n) > 1} | ({self.key_field or ""} & set(names))
        if dupes:
            raise ValueError(f"output field names collide: {', '.join(sorted(dupes))}")
        return self


class SinkSpec(_Model):
    topic: str = Field(description="Output topic; created when missing (same partition count as the source).")
    value_format: ValueFormat = "json"
    key_format: KeyFormat = "kafka"
    key_type: str = "STRING"
    avro_schema: str | None = Field(None, description="avro: the schema values are written with (registered).")
    avro_schema_id: int | None = Field(None, description="avro: its registry id.")
    partitions: int | None = Field(None, ge=1, description="Partitions if the sink is created; default the source's.")
    replication_factor: int | None = Field(None, ge=1, description="RF if created; default min(3, brokers).")


class StreamSpec(_Model):
    """A Kafka Streams application: source -> steps -> [join] -> [aggregate] -> sink."""

    name: str = Field(description="Application name (lowercase, digits, '-', '_'); unique per server.")
    application_id: str | None = Field(
        None, description="Kafka Streams application.id (consumer group, internal topic prefix); default ksa-<name>."
    )
    source: SourceSpec
    steps: list[StepSpec] = Field(default_factory=list)
    join: JoinSpec | None = None
    post_steps: list[StepSpec] = Field(default_factory=list, description="Steps after the join.")
    aggregate: AggregateSpec | None = None
    sink: SinkSpec
    store: str | None = Field(None, description="Name of the queryable state store; default <name>-store.")
    processing_guarantee: Literal["exactly_once_v2", "at_least_once"] = "exactly_once_v2"
    start_from: Literal["earliest", "latest"] = Field(
        "earliest",
        description="Where a new application starts reading its inputs: earliest (every record kept), or latest (only "
        "records produced after the deploy; ksqlDB's default for new queries).",
    )
    properties: dict[str, str] = Field(
        default_factory=dict, description="Extra Kafka Streams properties, e.g. commit.interval.ms."
    )

    @model_validator(mode="after")
    def _check(self) -> StreamSpec:
        if not _NAME.match(self.name):
            raise ValueError(f"name {self.name!r} must be 1-48 lowercase letters, digits, '-' or '_'")
        if self.application_id is None:
            self.application_id = f"ksa-{self.name}"
        if self.store is None and self.aggregate is not None:
            self.store = f"{self.name}-store"
        reserved = _RESERVED_PROPERTIES & set(self.properties)
        if reserved:
            raise ValueError(f"properties may not set {', '.join(sorted(reserved))}: the runner sets them")
        if self.sink.topic in (self.source.topic, self.join.topic if self.join else None):
            raise ValueError("the sink topic must differ from the input topics")
        if self.sink.value_format == "avro" and (self.sink.avro_schema is None or self.sink.avro_schema_id is None):
            raise ValueError("an avro sink needs avro_schema and avro_schema_id (a registered schema)")
        return self

    def internal_topic_prefix(self) -> str:
        return f"{self.application_id}-"


def _check_field(name: str, what: str) -> None:
    if not _FIELD.match(name):
        raise ValueError(f"{what} {name!r} must be a simple identifier (letters, digits, '_')")


def parse_spec(data: object) -> StreamSpec:
    """A validated spec from a dict or a JSON string; errors name the field and say what to change."""
    from pydantic import ValidationError

    try:
        if isinstance(data, str):
            return StreamSpec.model_validate_json(data)
        return StreamSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors()
        )
        raise InvalidArgument(f"The stream spec is invalid: {problems}") from None
