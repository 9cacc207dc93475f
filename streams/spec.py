"""The stream application spec (what the runner executes), validated before anything is launched."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.errors import InvalidArgument
from streams import cel

ValueFormat = Literal["json", "string"]
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_RESERVED_PROPERTIES = {"application.id", "state.dir", "bootstrap.servers"}
JOIN_VARIABLES = frozenset({"key", "value", "left", "right"})
RECORD_VARIABLES = frozenset({"key", "value"})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceSpec(_Model):
    topic: str = Field(description="Input topic; its keys are read as UTF-8 strings.")
    value_format: ValueFormat = Field("json", description="How record values are read: json or string.")
    timestamp_field: str | None = Field(
        None, description="JSON field holding the event time (epoch ms); default: the record timestamp."
    )


class StepSpec(_Model):
    op: Literal["filter", "select", "set_key"] = Field(
        description="filter: keep records where expr is true; select: replace the value by an object of fields; "
        "set_key: re-key by expr (repartitions before a join or aggregation)."
    )
    expr: str | None = Field(None, description="CEL expression over key and value (filter, set_key).")
    fields: dict[str, str] | None = Field(None, description="select: output field -> CEL expression.")

    @model_validator(mode="after")
    def _check(self) -> StepSpec:
        if self.op == "select":
            if not self.fields:
                raise ValueError("a select step needs fields: {name: expression}")
            for name, expr in self.fields.items():
                _check_field(name, "select field")
                cel.validate(expr, where=f"select field {name!r}", variables=RECORD_VARIABLES)
        else:
            if not self.expr:
                raise ValueError(f"a {self.op} step needs expr")
            cel.validate(self.expr, where=f"{self.op} step", variables=RECORD_VARIABLES)
        return self


class JoinSpec(_Model):
    kind: Literal["table", "global_table", "stream"] = Field(
        description="table: KTable on the same key (co-partitioned); global_table: GlobalKTable looked up by "
        "key_expr; stream: stream-stream join within window_ms."
    )
    topic: str = Field(description="The other side's topic.")
    value_format: ValueFormat = "json"
    type: Literal["inner", "left"] = "inner"
    key_expr: str | None = Field(None, description="global_table: lookup key computed from key and value.")
    window_ms: int | None = Field(None, gt=0, description="stream: the maximum time difference between the sides.")
    grace_ms: int | None = Field(None, ge=0, description="stream: how long late records are still joined.")
    select: dict[str, str] | None = Field(
        None, description="Output field -> CEL over left, right, key; default: left's fields then right's."
    )

    @model_validator(mode="after")
    def _check(self) -> JoinSpec:
        if self.kind == "global_table":
            if not self.key_expr:
                raise ValueError("a global_table join needs key_expr (the lookup key from the stream record)")
            cel.validate(self.key_expr, where="join key_expr", variables=RECORD_VARIABLES)
        elif self.key_expr:
            raise ValueError("key_expr is only for global_table joins; re-key with a set_key step instead")
        if self.kind == "stream" and self.window_ms is None:
            raise ValueError("a stream-stream join needs window_ms")
        if self.kind != "stream" and (self.window_ms is not None or self.grace_ms is not None):
            raise ValueError("window_ms and grace_ms are only for stream-stream joins")
        for name, expr in (self.select or {}).items():
            _check_field(name, "join select field")
            cel.validate(expr, where=f"join select field {name!r}", variables=JOIN_VARIABLES)
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


class AggregationSpec(_Model):
    name: str = Field(description="Output field name.")
    op: Literal["count", "sum", "min", "max", "avg"]
    expr: str | None = Field(None, description="CEL over key and value; required except for count.")

    @model_validator(mode="after")
    def _check(self) -> AggregationSpec:
        _check_field(self.name, "aggregation name")
        if self.op != "count" and not self.expr:
            raise ValueError(f"aggregation {self.name!r} ({self.op}) needs expr, e.g. value.amount")
        if self.expr:
            cel.validate(self.expr, where=f"aggregation {self.name!r}", variables=RECORD_VARIABLES)
        return self


class AggregateSpec(_Model):
    group_by: str | None = Field(None, description="CEL grouping key; default: the record key.")
    key_field: str = Field("key", description="Name of the group key in output values.")
    window: WindowSpec | None = None
    aggregations: list[AggregationSpec] = Field(
        default_factory=lambda: [AggregationSpec(name="count", op="count")],
        description="Default: one count named 'count'.",
    )
    emit: Literal["changes", "final"] = Field(
        "changes", description="changes: every update; final: one result per window once it closes (suppress)."
    )

    @model_validator(mode="after")
    def _check(self) -> AggregateSpec:
        if self.group_by:
            cel.validate(self.group_by, where="group_by", variables=RECORD_VARIABLES)
        _check_field(self.key_field, "key_field")
        if self.emit == "final" and self.window is None:
            raise ValueError("emit 'final' needs a window (a table without windows never closes)")
        if not self.aggregations:
            raise ValueError("aggregations is empty; give at least one (count, sum, min, max, avg)")
        names = [a.name for a in self.aggregations]
        dupes = {n for n in names if names.count(n) > 1} | ({self.key_field} & set(names))
        if dupes:
            raise ValueError(f"output field names collide: {', '.join(sorted(dupes))}")
        return self


class SinkSpec(_Model):
    topic: str = Field(description="Output topic; created when missing (same partition count as the source).")
    value_format: ValueFormat = "json"
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
    aggregate: AggregateSpec | None = None
    sink: SinkSpec
    store: str | None = Field(None, description="Name of the queryable state store; default <name>-store.")
    processing_guarantee: Literal["exactly_once_v2", "at_least_once"] = "exactly_once_v2"
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
