"""The SQL engine's catalog: streams and tables (their topic, formats and columns), persistent queries, custom types.
Kept as JSON in ``<data_dir>/streams/ksql/<cluster>/catalog.json``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from streams.sql import types as t
from streams.sql.lexer import SqlError

Kind = Literal["STREAM", "TABLE"]


class Column(BaseModel):
    name: str
    type: str = Field(description="ksqlDB's type text, e.g. BIGINT, DECIMAL(10, 2), ARRAY<STRING>.")
    key: bool = False

    def sql_type(self, types: dict[str, str] | None = None) -> t.SqlType:
        return parse_type(self.type, types)


class Source(BaseModel):
    name: str
    kind: Kind
    topic: str
    key_format: str = "KAFKA"
    value_format: str = "JSON"
    columns: list[Column]
    timestamp: str | None = Field(None, description="The column holding the event time (TIMESTAMP=...).")
    windowed: bool = False
    window_type: str | None = None
    query_id: str | None = Field(None, description="The persistent query that writes it (CSAS/CTAS).")
    app: str | None = Field(None, description="The stream application of that query.")
    statement: str = ""
    read_only: bool = Field(False, description="CREATE SOURCE STREAM/TABLE: no INSERT.")
    value_schema_id: int | None = Field(None, description="AVRO: the registered schema of the values.")
    value_schema: str | None = None

    @property
    def keys(self) -> list[Column]:
        return [c for c in self.columns if c.key]

    @property
    def values(self) -> list[Column]:
        return [c for c in self.columns if not c.key]

    def column(self, name: str) -> Column | None:
        for c in self.columns:
            if c.name == name or c.name.upper() == name.upper():
                return c
        return None


class PersistentQuery(BaseModel):
    id: str
    kind: Literal["CSAS", "CTAS", "INSERT"] = "CSAS"
    sink: str
    sources: list[str] = Field(default_factory=list)
    app: str
    statement: str
    state: Literal["RUNNING", "PAUSED"] = "RUNNING"


class Catalog(BaseModel):
    sources: dict[str, Source] = Field(default_factory=dict)
    queries: dict[str, PersistentQuery] = Field(default_factory=dict)
    types: dict[str, str] = Field(default_factory=dict, description="CREATE TYPE: name -> type text.")
    sequence: int = 0

    def type_map(self) -> dict[str, t.SqlType]:
        return {name: parse_type(text) for name, text in self.types.items()}

    def readers(self, name: str) -> list[str]:
        """The queries that read a source."""
        return [q.id for q in self.queries.values() if name in q.sources]

    def writers(self, name: str) -> list[str]:
        return [q.id for q in self.queries.values() if q.sink == name]


def parse_type(text: str, types: dict[str, str] | None = None) -> t.SqlType:
    from streams.sql.parser import Parser

    parser = Parser(text, {k: parse_type(v) for k, v in (types or {}).items()})
    found = parser.type_()
    if parser.peek().kind != "end":
        raise SqlError(f"Bad type {text!r}.")
    return found
