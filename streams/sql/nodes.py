"""The syntax tree of ksqlDB statements and expressions, as the parser builds it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# --- expressions -------------------------------------------------------------------------------------------------


@dataclass
class Lit:
    value: Any
    kind: Literal["int", "decimal", "double", "string", "bool", "null"]
    text: str = ""


@dataclass
class Col:
    name: str
    qualifier: str | None = None
    quoted: bool = False


@dataclass
class Bin:
    op: str  # + - * / % || = <> < <= > >= AND OR
    left: Any
    right: Any


@dataclass
class Un:
    op: str  # NOT, -
    expr: Any


@dataclass
class Func:
    name: str
    args: list[Any]
    star: bool = False
    distinct: bool = False


@dataclass
class InList:
    expr: Any
    items: list[Any]
    negated: bool = False


@dataclass
class Between:
    expr: Any
    low: Any
    high: Any
    negated: bool = False


@dataclass
class Like:
    expr: Any
    pattern: Any
    negated: bool = False
    escape: str | None = None


@dataclass
class IsNull:
    expr: Any
    negated: bool


@dataclass
class IsDistinct:
    left: Any
    right: Any
    negated: bool


@dataclass
class Case:
    whens: list[tuple[Any, Any]]
    otherwise: Any = None
    operand: Any = None


@dataclass
class Cast:
    expr: Any
    type: Any  # SqlType


@dataclass
class Subscript:
    expr: Any
    index: Any


@dataclass
class Deref:
    expr: Any
    field: str


@dataclass
class ArrayCtor:
    items: list[Any]


@dataclass
class MapCtor:
    pairs: list[tuple[Any, Any]]


@dataclass
class StructCtor:
    pairs: list[tuple[str, Any]]


# --- queries -----------------------------------------------------------------------------------------------------


@dataclass
class SelectItem:
    expr: Any  # None for * (qualifier in star)
    alias: str | None = None
    star: str | None = None  # "*" or the qualifier of q.*


@dataclass
class WindowClause:
    type: Literal["tumbling", "hopping", "session"]
    size_ms: int
    advance_ms: int | None = None
    grace_ms: int | None = None
    retention_ms: int | None = None


@dataclass
class JoinClause:
    kind: Literal["inner", "left", "full", "right"]
    source: str
    alias: str | None
    on: Any
    within_before_ms: int | None = None
    within_after_ms: int | None = None
    grace_ms: int | None = None


@dataclass
class Select:
    items: list[SelectItem]
    source: str
    source_alias: str | None = None
    joins: list[JoinClause] = field(default_factory=list)
    where: Any = None
    window: WindowClause | None = None
    group_by: list[Any] = field(default_factory=list)
    having: Any = None
    partition_by: list[Any] = field(default_factory=list)
    emit: Literal["changes", "final"] | None = None
    limit: int | None = None


# --- statements --------------------------------------------------------------------------------------------------


@dataclass
class ColumnDef:
    name: str
    type: Any  # SqlType
    key: bool = False
    headers: bool = False


@dataclass
class CreateSource:
    kind: Literal["STREAM", "TABLE"]
    name: str
    columns: list[ColumnDef]
    props: dict[str, Any]
    if_not_exists: bool = False
    or_replace: bool = False
    read_only: bool = False


@dataclass
class CreateAs:
    kind: Literal["STREAM", "TABLE"]
    name: str
    props: dict[str, Any]
    select: Select
    if_not_exists: bool = False
    or_replace: bool = False


@dataclass
class InsertSelect:
    target: str
    select: Select


@dataclass
class InsertValues:
    target: str
    columns: list[str]
    values: list[Any]


@dataclass
class Drop:
    kind: Literal["STREAM", "TABLE"]
    name: str
    if_exists: bool
    delete_topic: bool


@dataclass
class Terminate:
    query_id: str | None  # None: ALL


@dataclass
class PauseResume:
    action: Literal["PAUSE", "RESUME"]
    query_id: str | None  # None: ALL


@dataclass
class Show:
    what: str  # STREAMS TABLES QUERIES TOPICS PROPERTIES FUNCTIONS TYPES VARIABLES
    extended: bool = False


@dataclass
class Describe:
    name: str
    extended: bool = False


@dataclass
class DescribeAll:
    what: Literal["STREAMS", "TABLES"]
    extended: bool = False


@dataclass
class DescribeFunction:
    name: str


@dataclass
class Explain:
    query_id: str


@dataclass
class SetProperty:
    name: str
    value: str


@dataclass
class UnsetProperty:
    name: str


@dataclass
class Define:
    name: str
    value: str


@dataclass
class Undefine:
    name: str


@dataclass
class Print:
    topic: str
    from_beginning: bool = False
    interval: int = 1
    limit: int | None = None


@dataclass
class AssertTopic:
    topic: str
    exists: bool
    props: dict[str, Any]
    timeout_ms: int | None = None


@dataclass
class CreateType:
    name: str
    type: Any


@dataclass
class DropType:
    name: str
    if_exists: bool


@dataclass
class Query:
    select: Select


Statement = (
    CreateSource
    | CreateAs
    | InsertSelect
    | InsertValues
    | Drop
    | Terminate
    | PauseResume
    | Show
    | Describe
    | DescribeAll
    | DescribeFunction
    | Explain
    | SetProperty
    | UnsetProperty
    | Define
    | Undefine
    | Print
    | AssertTopic
    | CreateType
    | DropType
    | Query
)
