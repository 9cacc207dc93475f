"""Persistent queries (CREATE STREAM/TABLE AS SELECT, INSERT INTO ... SELECT) compiled to stream specs, as ksqlDB
compiles them to Kafka Streams topologies: every expression type-checked (``streams.sql.typecheck``), columns read by
name into typed rows, keys kept or changed as ksqlDB keeps or changes them.

- Projection, WHERE, PARTITION BY: ``filter``, ``set_key`` and ``select`` steps of SQL expression trees.
- Joins: a stream with a table (on the table's PRIMARY KEY), or two streams WITHIN a window (INNER, LEFT, FULL
  OUTER); the stream is re-keyed by its join expression when needed; WHERE and the projection run on the joined row.
- GROUP BY (one or several expressions), HAVING, aggregate functions, WINDOW TUMBLING/HOPPING/SESSION with GRACE
  PERIOD and RETENTION, EMIT CHANGES/FINAL. Without GRACE PERIOD a window (and a stream-stream join) keeps late records
  for 24 hours, ksqlDB's documented default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from streams import sql as q
from streams.ksql_catalog import Catalog, Column, Source
from streams.spec import StreamSpec, parse_spec
from streams.sql import types as t
from streams.sql.lexer import SqlError
from streams.sql.typecheck import PSEUDO, Checker, Field, GroupKey, Scope, render

DEFAULT_GRACE_MS = 86_400_000  # ksqlDB's documented default grace period for windows and stream-stream joins
VALUE_FORMATS = {"JSON": "json", "AVRO": "avro", "DELIMITED": "delimited", "KAFKA": "string"}
KEY_FORMATS = {"KAFKA": "kafka", "JSON": "json", "NONE": "none"}
STREAMS_PROPERTIES = {
    "commit.interval.ms",
    "cache.max.bytes.buffering",
    "statestore.cache.max.bytes",
    "num.stream.threads",
    "processing.guarantee",
}
SINK_PROPS = {"KAFKA_TOPIC", "PARTITIONS", "REPLICAS", "VALUE_FORMAT", "KEY_FORMAT", "FORMAT", "RETENTION_MS"}


@dataclass
class Compiled:
    spec: StreamSpec
    columns: list[Column]
    sources: list[str]
    windowed: bool = False
    window_type: str | None = None
    key_format: str = "KAFKA"
    value_format: str = "JSON"
    value_schema: str | None = None  # AVRO sinks: the schema to register
    notes: list[str] = field(default_factory=list)


def value_format(fmt: str, where: str) -> str:
    upper = fmt.upper()
    if upper not in VALUE_FORMATS:
        raise SqlError(
            f"Unsupported construct: VALUE_FORMAT='{fmt}' ({where}).",
            hint="Supported value formats: JSON, AVRO (with the cluster's Schema Registry), DELIMITED, KAFKA (a single "
            "STRING column).",
        )
    return upper


def key_format(fmt: str, where: str) -> str:
    upper = fmt.upper()
    if upper not in KEY_FORMATS:
        raise SqlError(
            f"Unsupported construct: KEY_FORMAT='{fmt}' ({where}).", hint="Supported key formats: KAFKA, JSON, NONE."
        )
    return upper


def source_spec(src: Source, types: dict[str, str]) -> dict[str, Any]:
    """How the runner reads a source: its topic, formats and columns."""
    keys = src.keys
    out: dict[str, Any] = {
        "topic": src.topic,
        "value_format": VALUE_FORMATS[src.value_format],
        "key_format": KEY_FORMATS[src.key_format],
        "key_type": keys[0].sql_type(types).spec_text() if len(keys) == 1 else "STRING",
        "columns": [{"name": c.name, "type": c.sql_type(types).spec_text(), "key": c.key} for c in src.columns],
    }
    if src.timestamp:
        out["timestamp_field"] = src.timestamp
    if src.value_schema_id is not None and src.value_schema:
        out["avro_schemas"] = {str(src.value_schema_id): src.value_schema}
    return out


def fields_of(
    src: Source, qualifier: str, types: dict[str, str], *, var: str = "value", prefix: str = ""
) -> list[Field]:
    """The columns of a source as a query sees them (with ROWTIME, ROWPARTITION, ROWOFFSET)."""

    def tree(name: str) -> list[Any]:
        return ["col", prefix + name] if var == "value" else ["col", prefix + name, var]

    out = [Field(qualifier, c.name, c.sql_type(types), tree(c.name), c.key) for c in src.columns]
    out += [Field(qualifier, name, ty, tree(name)) for name, ty in PSEUDO.items()]
    return out


def _sql(tree: list[Any]) -> dict[str, Any]:
    return {"sql": tree}


def _name_for(item: q.SelectItem, index: int, taken: set[str]) -> str:
    if item.alias:
        return item.alias
    if isinstance(item.expr, q.Col):
        return item.expr.name
    if isinstance(item.expr, q.Deref):
        return item.expr.field
    n = index
    while f"KSQL_COL_{n}" in taken:
        n += 1
    return f"KSQL_COL_{n}"


def app_name(query_id: str) -> str:
    app = f"ksql-{query_id.lower()}"
    if len(app) > 48:
        raise SqlError(f"The query id {query_id} is too long for an application name (at most 43 characters).")
    return app


class QueryCompiler:
    """One persistent query: CREATE ... AS SELECT or INSERT INTO ... SELECT."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        kind: str,
        name: str,
        query_id: str,
        select: q.Select,
        props: dict[str, Any],
        session: dict[str, str],
    ) -> None:
        self.catalog = catalog
        self.types = catalog.types
        self.kind = kind  # STREAM | TABLE (the result)
        self.name = name
        self.query_id = query_id
        self.sel = select
        self.props = props
        self.session = session
        self.notes: list[str] = []

    def source(self, name: str) -> Source:
        src = self.catalog.sources.get(name)
        if src is None:
            known = ", ".join(sorted(self.catalog.sources)) or "none"
            raise SqlError(f"{name} does not exist.", hint=f"Known streams and tables: {known}.")
        return src

    def compile(self) -> Compiled:
        sel = self.sel
        bad = set(self.props) - SINK_PROPS
        if "TIMESTAMP" in bad:
            raise SqlError("Unsupported construct: WITH (TIMESTAMP=...) in CREATE ... AS SELECT.")
        if bad:
            raise SqlError(f"Unsupported construct: WITH property {', '.join(sorted(bad))}.")
        if sel.limit is not None:
            raise SqlError("Unsupported construct: LIMIT in a persistent query.")
        if len(sel.joins) > 1:
            raise SqlError("Unsupported construct: joins of more than two sources (N-way joins).")
        left = self.source(sel.source)
        if left.kind == "TABLE":
            raise SqlError(
                f"Unsupported construct: a persistent query reading the TABLE {left.name} (only streams are read; "
                "a table is joined or queried).",
                hint="Read a STREAM; join tables to it (JOIN ... ON its PRIMARY KEY), or pull-query the table.",
            )
        aggregate = bool(sel.group_by) or any(it.expr is not None and _has_agg(it.expr) for it in sel.items)
        if sel.having is not None and not aggregate:
            raise SqlError("HAVING needs GROUP BY.")
        if aggregate and self.kind != "TABLE":
            raise SqlError("Aggregations (GROUP BY) create a TABLE: use CREATE TABLE ... AS SELECT.")
        if not aggregate and self.kind == "TABLE":
            raise SqlError("CREATE TABLE ... AS SELECT needs GROUP BY (an aggregation).")
        if sel.window is not None and not aggregate:
            raise SqlError("WINDOW needs GROUP BY (a windowed aggregation).")
        if sel.emit == "final" and sel.window is None:
            raise SqlError("EMIT FINAL needs a windowed aggregation.")
        if aggregate and sel.partition_by:
            raise SqlError("PARTITION BY cannot be combined with GROUP BY.")
        lq = sel.source_alias or left.name
        spec: dict[str, Any] = {
            "name": app_name(self.query_id),
            "application_id": f"ksa-{app_name(self.query_id)}",
            "source": source_spec(left, self.types),
            "steps": [],
            "start_from": "earliest"
            if self.session.get("auto.offset.reset", "latest").lower() == "earliest"
            else "latest",
            "properties": self.stream_properties(),
        }
        sources = [left.name]
        join_key: tuple[list[Any], t.SqlType, list[q.Col]] | None = None
        if sel.joins:
            scope, join_key = self.join(spec, left, lq, sel.joins[0])
            sources.append(sel.joins[0].source)
            where_steps = spec["post_steps"] = []
        else:
            scope = Scope()
            scope.add(lq, fields_of(left, lq, self.types), also=left.name)
            where_steps = spec["steps"]
        row = Checker(scope)
        if sel.where is not None:
            where_steps.append({"op": "filter", "expr": _sql(row.condition(sel.where, "WHERE"))})
        if aggregate:
            compiled = self.aggregate(spec, scope, left, where_steps)
        else:
            compiled = self.project(spec, scope, left, where_steps, join_key)
        compiled.sources = sources
        compiled.notes = self.notes
        return compiled

    def stream_properties(self) -> dict[str, str]:
        """SET 'ksql.streams.x' / plain Kafka Streams properties for the runner (auto.offset.reset is handled as the
        start position)."""
        out = {}
        for key, value in self.session.items():
            name = key.removeprefix("ksql.streams.")
            if name == "auto.offset.reset":
                continue
            if key.startswith("ksql.streams.") or name in STREAMS_PROPERTIES:
                out[name] = str(value)
        return out

    # --- joins ---------------------------------------------------------------------------------------------------

    def join(
        self, spec: dict[str, Any], left: Source, lq: str, clause: q.JoinClause
    ) -> tuple[Scope, tuple[list[Any], t.SqlType, list[q.Col]]]:
        right = self.source(clause.source)
        rq = clause.alias or right.name
        if rq.upper() == lq.upper():
            raise SqlError(f"Both sides of the join are called {rq}: give one an alias.")
        if clause.kind == "right":
            raise SqlError(
                "Unsupported construct: RIGHT OUTER JOIN (as in ksqlDB): swap the sources and use LEFT JOIN."
            )
        stream_stream = right.kind == "STREAM"
        if stream_stream and clause.within_before_ms is None:
            raise SqlError(
                f"Stream-stream joins need a WITHIN clause: JOIN {right.name} WITHIN 1 HOUR ON ...",
                hint="WITHIN n UNIT, or WITHIN (before, after), optionally with GRACE PERIOD.",
            )
        if not stream_stream and clause.within_before_ms is not None:
            raise SqlError("WITHIN is for stream-stream joins; a stream-table join has no window.")
        if not stream_stream and clause.kind == "full":
            raise SqlError("Unsupported construct: FULL OUTER JOIN of a stream and a table (as in ksqlDB).")
        # each side's join expression, over that side's own row
        left_scope, right_scope = Scope(), Scope()
        left_scope.add(lq, fields_of(left, lq, self.types), also=left.name)
        right_scope.add(rq, fields_of(right, rq, self.types), also=right.name)
        on = clause.on
        if not isinstance(on, q.Bin) or on.op != "=":
            raise SqlError(f"Invalid join condition {render(on)}: joins are on one equality, e.g. a.id = b.id.")
        sides = []
        for part in (on.left, on.right):
            cols = _columns(part)
            quals = {(c.qualifier or "").upper() for c in cols}
            in_left = all(_resolves(left_scope, c) for c in cols)
            in_right = all(_resolves(right_scope, c) for c in cols)
            if in_left and in_right and quals <= {""}:
                raise SqlError(f"Column(s) in {render(part)} are ambiguous in the join: qualify them.")
            sides.append("left" if in_left and not (in_right and lq.upper() not in quals) else "right")
        if sorted(sides) != ["left", "right"]:
            raise SqlError(f"Invalid join condition {render(on)}: it must compare a column of each source.")
        left_expr, right_expr = (on.left, on.right) if sides[0] == "left" else (on.right, on.left)
        ltree, ltype = Checker(left_scope).check(left_expr)
        rtree, rtype = Checker(right_scope).check(right_expr)
        if t.common([ltype, rtype]) is None:
            raise SqlError(
                f"Invalid join condition {render(on)}: {render(left_expr)} is {ltype.text()} and "
                f"{render(right_expr)} is {rtype.text()}."
            )
        lkeys = left.keys
        if not (len(lkeys) == 1 and ltree == ["col", lkeys[0].name]):
            spec["steps"].append({"op": "set_key", "expr": _sql(ltree)})
        rkeys = right.keys
        right_is_key = len(rkeys) == 1 and rtree == ["col", rkeys[0].name]
        join: dict[str, Any] = {
            "topic": right.topic,
            "value_format": VALUE_FORMATS[right.value_format],
            "key_format": KEY_FORMATS[right.key_format],
            "key_type": rkeys[0].sql_type(self.types).spec_text() if len(rkeys) == 1 else "STRING",
            "right_columns": [
                {"name": c.name, "type": c.sql_type(self.types).spec_text(), "key": c.key} for c in right.columns
            ],
            "type": {"inner": "inner", "left": "left", "full": "outer"}[clause.kind],
        }
        if right.value_schema_id is not None and right.value_schema:
            join["avro_schemas"] = {str(right.value_schema_id): right.value_schema}
        if stream_stream:
            join["kind"] = "stream"
            join["before_ms"] = clause.within_before_ms
            join["after_ms"] = clause.within_after_ms
            join["window_ms"] = max(clause.within_before_ms or 0, clause.within_after_ms or 0) or 1
            join["grace_ms"] = clause.grace_ms if clause.grace_ms is not None else DEFAULT_GRACE_MS
            if clause.grace_ms is None:
                self.notes.append(
                    "The join has no GRACE PERIOD: late records are joined for 24 hours (ksqlDB's default)."
                )
            if not right_is_key:
                join["right_key"] = _sql(rtree)
        else:
            if not right_is_key:
                raise SqlError(
                    f"Invalid join condition {render(on)}: a stream-table join is on the table's PRIMARY KEY "
                    f"({', '.join(c.name for c in rkeys) or 'none'}), not {render(right_expr)}.",
                    hint="Join on the table's key column; re-key the table's topic first if needed.",
                )
            join["kind"] = "table"
        # the joined row: every column of both sides, named <qualifier>.<column>
        select: dict[str, Any] = {}
        scope = Scope()
        for src, qual, var in ((left, lq, "left"), (right, rq, "right")):
            fields = []
            for f in fields_of(src, qual, self.types):
                merged = f"{qual}.{f.name}"
                select[merged] = _sql(["col", f.name, var])
                fields.append(Field(qual, f.name, f.type, ["col", merged], f.key))
            scope.add(qual, fields, also=src.name)
        join["select"] = select
        spec["join"] = join
        key_cols = [c for c in (_columns(left_expr) + _columns(right_expr))]
        return scope, (ltree, ltype, key_cols)

    # --- projection (no aggregation) -------------------------------------------------------------------------------

    def project(
        self,
        spec: dict[str, Any],
        scope: Scope,
        left: Source,
        steps: list[dict[str, Any]],
        join_key: tuple[list[Any], t.SqlType, list[q.Col]] | None,
    ) -> Compiled:
        sel = self.sel
        row = Checker(scope)
        items = self.expand(sel.items, scope)
        # which expressions are the key of the output
        key_nodes: list[Any] = []
        key_types: list[t.SqlType] = []
        partition_null = False
        if sel.partition_by:
            if (
                len(sel.partition_by) == 1
                and isinstance(sel.partition_by[0], q.Lit)
                and sel.partition_by[0].kind == "null"
            ):
                partition_null = True
            else:
                trees = []
                for node in sel.partition_by:
                    tree, ty = row.check(node)
                    trees.append(tree)
                    key_nodes.append(node)
                    key_types.append(ty)
                names = [_expr_name(node, i) for i, node in enumerate(sel.partition_by)]
                key_tree = (
                    trees[0]
                    if len(trees) == 1
                    else ["struct", *[part for n, tr in zip(names, trees, strict=False) for part in (n, tr)]]
                )
                steps.append({"op": "set_key", "expr": _sql(key_tree)})
        elif join_key is not None:
            key_nodes = join_key[2]
            key_types = [join_key[1]]
        else:
            key_nodes = [q.Col(c.name, qualifier=sel.source_alias or left.name) for c in left.keys]
            key_types = [c.sql_type(self.types) for c in left.keys]
        fields: dict[str, Any] = {}
        columns: list[Column] = []
        taken: set[str] = set()
        found_keys: dict[int, str] = {}
        for index, (item, node) in enumerate(items):
            out = _name_for(item, index, taken)
            if out in taken:
                raise SqlError(f"The projection names {out} twice: give one an alias.")
            taken.add(out)
            tree, ty = row.check(node)
            matched = next((i for i, k in enumerate(key_nodes) if _same_expr(row, node, k)), None)
            is_key = False
            if matched is not None and join_key is not None:
                is_key = not found_keys  # the first join column projected is the key
                if is_key:
                    found_keys[0] = out
            elif matched is not None and matched not in found_keys:
                is_key = True
                found_keys[matched] = out
            if is_key:
                columns.append(Column(name=out, type=ty.text(), key=True))
                continue
            fields[out] = _sql(tree)
            columns.append(Column(name=out, type=ty.text()))
        needed = 1 if join_key is not None else len(key_nodes)
        if not partition_null and len(found_keys) < needed:
            missing = [render(k) for i, k in enumerate(key_nodes) if i not in found_keys]
            what = " or ".join(missing) if join_key is not None else ", ".join(missing)
            raise SqlError(
                f"Key missing from projection. The query used to build `{self.name}` must include the key column(s) "
                f"{what} in its projection (eg, SELECT {missing[0]}...).",
            )
        if not fields:
            raise SqlError(f"The query used to build `{self.name}` has only key columns: select at least one value.")
        steps.append({"op": "select", "fields": fields})
        keys = [c for c in columns if c.key]
        return self.finish(spec, columns, keys, left, window=None)

    def expand(self, items: list[q.SelectItem], scope: Scope) -> list[tuple[q.SelectItem, Any]]:
        """SELECT * and q.* as the columns they stand for (keys first, then values; no pseudo columns)."""
        out: list[tuple[q.SelectItem, Any]] = []
        for item in items:
            if item.star is None:
                out.append((item, item.expr))
                continue
            quals = list(scope.sources) if item.star == "*" else [scope.names.get(item.star.upper(), "")]
            if "" in quals:
                raise SqlError(f"'{item.star}' is not a source of this query.")
            multi = len(scope.sources) > 1
            for qual in quals:
                for f in scope.sources[qual].values():
                    if f.name in PSEUDO:
                        continue
                    alias = f"{qual}_{f.name}" if multi else f.name
                    out.append((q.SelectItem(q.Col(f.name, qualifier=qual), alias), q.Col(f.name, qualifier=qual)))
        return out

    # --- aggregation -------------------------------------------------------------------------------------------------

    def aggregate(self, spec: dict[str, Any], scope: Scope, left: Source, steps: list[dict[str, Any]]) -> Compiled:
        sel = self.sel
        if not sel.group_by:
            raise SqlError("Aggregate functions without GROUP BY are not supported: add GROUP BY.")
        row = Checker(scope)
        items = self.expand(sel.items, scope)
        keys: list[GroupKey] = []
        for i, node in enumerate(sel.group_by):
            tree, ty = row.check(node)
            if _has_agg(node):
                raise SqlError(f"GROUP BY cannot hold an aggregate function: {render(node)}.")
            field_id = None
            if isinstance(node, q.Col):
                found = scope.resolve(node)
                field_id = (found.source, found.name)
            keys.append(GroupKey(node, _expr_name(node, i), ty, tree, field_id))
        agg = Checker(scope, aggregate=True, group_keys=keys, windowed=sel.window is not None, row_checker=row)
        # output names of the key columns: the projection's alias of each group expression
        for item, node in items:
            for key in keys:
                if agg._same(node, key.node) and item.alias:
                    key.name = item.alias
        fields: dict[str, Any] = {}
        columns: list[Column] = []
        taken: set[str] = set()
        seen_keys: set[str] = set()
        for index, (item, node) in enumerate(items):
            tree, ty = agg.check(node)
            group_key = next((k for k in keys if tree == ["col", k.name] and agg._same(node, k.node)), None)
            out = group_key.name if group_key is not None else _name_for(item, index, taken)
            if out in taken:
                raise SqlError(f"The projection names {out} twice: give one an alias.")
            taken.add(out)
            if group_key is not None:
                seen_keys.add(group_key.name)
                columns.append(Column(name=out, type=ty.text(), key=True))
                continue
            fields[out] = _sql(tree)
            columns.append(Column(name=out, type=ty.text()))
        missing = [render(k.node) for k in keys if k.name not in seen_keys]
        if missing:
            raise SqlError(
                f"Key missing from projection. The query used to build `{self.name}` must include the grouping "
                f"expression(s) {', '.join(missing)} in its projection (eg, SELECT {missing[0]}...).",
            )
        having = agg.condition(sel.having, "HAVING") if sel.having is not None else None
        if not agg.aggs:
            raise SqlError("An aggregation query needs at least one aggregate function (COUNT, SUM, ...).")
        windowed = sel.window is not None
        if windowed:
            for bound in ("WINDOWSTART", "WINDOWEND"):
                if bound not in fields:
                    fields[bound] = _sql(["col", bound])
        key_columns = [{"name": k.name, "type": k.type.spec_text(), "key": True} for k in keys]
        group_tree = keys[0].tree if len(keys) == 1 else ["struct", *[part for k in keys for part in (k.name, k.tree)]]
        aggregate: dict[str, Any] = {
            "group_by": _sql(group_tree),
            "key_field": None,
            "key_columns": key_columns,
            "aggregations": [
                {
                    "name": a.name,
                    "op": a.op,
                    **({"expr": _sql(a.arg)} if a.arg is not None else {}),
                    **({"param": a.param} if a.param is not None else {}),
                    **({"ignore_nulls": a.ignore_nulls} if a.ignore_nulls is not None else {}),
                    "type": a.type.spec_text(),
                }
                for a in agg.aggs
            ],
            "emit": sel.emit or "changes",
            "select": fields,
            "window_start_field": "WINDOWSTART",
            "window_end_field": "WINDOWEND",
        }
        if having is not None:
            aggregate["having"] = _sql(having)
        window_type = None
        if sel.window is not None:
            w = sel.window
            window_type = w.type.upper()
            window: dict[str, Any] = {"type": w.type}
            if w.type == "session":
                window["gap_ms"] = w.size_ms
            else:
                window["size_ms"] = w.size_ms
            if w.advance_ms is not None and w.type == "hopping":
                window["advance_ms"] = w.advance_ms
            window["grace_ms"] = w.grace_ms if w.grace_ms is not None else DEFAULT_GRACE_MS
            if w.grace_ms is None:
                self.notes.append(
                    "The window has no GRACE PERIOD: late records are counted for 24 hours after a window ends "
                    "(ksqlDB's documented default), so EMIT FINAL results come out only then. Set GRACE PERIOD to "
                    "fit the data."
                )
            if w.retention_ms is not None:
                window["retention_ms"] = w.retention_ms
            aggregate["window"] = window
        spec["aggregate"] = aggregate
        key_cols = [c for c in columns if c.key]
        if windowed:
            columns = [c for c in columns if c.name not in ("WINDOWSTART", "WINDOWEND")]
            columns += [Column(name="WINDOWSTART", type="BIGINT"), Column(name="WINDOWEND", type="BIGINT")]
        compiled = self.finish(spec, columns, key_cols, left, window=window_type)
        compiled.windowed = windowed
        return compiled

    # --- the sink ------------------------------------------------------------------------------------------------

    def finish(
        self, spec: dict[str, Any], columns: list[Column], keys: list[Column], left: Source, *, window: str | None
    ) -> Compiled:
        props = self.props
        fmt = props.get("FORMAT")
        vfmt = value_format(str(props.get("VALUE_FORMAT") or fmt or left.value_format), f"the sink of {self.name}")
        kfmt = key_format(str(props.get("KEY_FORMAT") or fmt or left.key_format), f"the sink of {self.name}")
        if len(keys) > 1 and kfmt == "KAFKA":
            kfmt = "JSON"
            self.notes.append("Several key columns: the key is written as a JSON object (KEY_FORMAT='JSON').")
        if len(keys) > 1 and kfmt == "NONE":
            raise SqlError("KEY_FORMAT='NONE' cannot hold key columns.")
        if vfmt == "KAFKA":
            values = [c for c in columns if not c.key]
            if len(values) != 1 or values[0].type != "STRING":
                raise SqlError("VALUE_FORMAT='KAFKA' holds one STRING value column here.")
        if vfmt == "DELIMITED" and any(c.type.startswith(("ARRAY", "MAP", "STRUCT")) for c in columns if not c.key):
            raise SqlError("The DELIMITED format cannot hold ARRAY, MAP or STRUCT columns.")
        sink: dict[str, Any] = {
            "topic": str(props.get("KAFKA_TOPIC") or self.name),
            "value_format": VALUE_FORMATS[vfmt],
            "key_format": KEY_FORMATS[kfmt],
            "key_type": t.STRING.spec_text() if len(keys) != 1 else _spec_type(keys[0].type, self.types),
        }
        if "PARTITIONS" in props:
            sink["partitions"] = _int(props["PARTITIONS"], "PARTITIONS")
        if "REPLICAS" in props:
            sink["replication_factor"] = _int(props["REPLICAS"], "REPLICAS")
        value_schema = None
        if vfmt == "AVRO":
            value_schema = avro_schema([c for c in columns if not c.key], self.types)
            sink["avro_schema"] = value_schema
            sink["avro_schema_id"] = 0  # replaced by the registered id when the query runs
        spec["sink"] = sink
        compiled = Compiled(
            spec=parse_spec(spec),
            columns=columns,
            sources=[],
            window_type=window,
            key_format=kfmt,
            value_format=vfmt,
        )
        compiled.value_schema = value_schema
        return compiled


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SqlError(f"{name} must be a whole number, got {value!r}.") from None


def _spec_type(text: str, types: dict[str, str]) -> str:
    from streams.ksql_catalog import parse_type

    return parse_type(text, types).spec_text()


def _has_agg(node: Any) -> bool:
    from streams.sql.typecheck import contains_aggregate

    return contains_aggregate(node)


def _columns(node: Any) -> list[q.Col]:
    if isinstance(node, q.Col):
        return [node]
    out: list[q.Col] = []
    if hasattr(node, "__dataclass_fields__"):
        for value in vars(node).values():
            for item in value if isinstance(value, list | tuple) else [value]:
                for part in item if isinstance(item, tuple) else (item,):
                    if hasattr(part, "__dataclass_fields__"):
                        out += _columns(part)
    return out


def _resolves(scope: Scope, col: q.Col) -> bool:
    try:
        scope.resolve(col)
    except SqlError:
        return False
    return True


def _same_expr(checker: Checker, a: Any, b: Any) -> bool:
    return checker._same(a, b)


def _expr_name(node: Any, index: int) -> str:
    if isinstance(node, q.Col):
        return node.name
    return f"KSQL_COL_{index}"


def avro_schema(columns: list[Column], types: dict[str, str]) -> str:
    """The Avro schema of value columns, as ksqlDB writes it: a record of nullable fields."""
    from streams.ksql_catalog import parse_type

    def avro(ty: t.SqlType, name: str) -> Any:
        base = ty.base
        if base == "BOOLEAN":
            return "boolean"
        if base == "INT":
            return "int"
        if base == "BIGINT":
            return "long"
        if base == "DOUBLE":
            return "double"
        if base == "STRING":
            return "string"
        if base == "BYTES":
            return "bytes"
        if base == "DECIMAL":
            return {"type": "bytes", "logicalType": "decimal", "precision": ty.precision, "scale": ty.scale}
        if base == "TIMESTAMP":
            return {"type": "long", "logicalType": "timestamp-millis"}
        if base == "DATE":
            return {"type": "int", "logicalType": "date"}
        if base == "TIME":
            return {"type": "int", "logicalType": "time-millis"}
        if base == "ARRAY":
            return {"type": "array", "items": ["null", avro(ty.element or t.STRING, name + "_element")]}
        if base == "MAP":
            return {"type": "map", "values": ["null", avro(ty.value or t.STRING, name + "_value")]}
        if base == "STRUCT":
            return {
                "type": "record",
                "name": name,
                "fields": [
                    {"name": n, "type": ["null", avro(ft, name + "_" + n)], "default": None} for n, ft in ty.fields
                ],
            }
        raise SqlError(f"No Avro type for {ty.text()}.")

    fields = [
        {"name": c.name, "type": ["null", avro(parse_type(c.type, types), c.name)], "default": None} for c in columns
    ]
    return json.dumps(
        {
            "type": "record",
            "name": "KsqlDataSourceSchema",
            "namespace": "io.confluent.ksql.avro_schemas",
            "fields": fields,
        }
    )


def avro_columns(schema_text: str) -> list[Column]:
    """Value columns from a registered Avro record schema (the types ksqlDB infers)."""
    try:
        schema = json.loads(schema_text)
    except ValueError:
        raise SqlError("The registered value schema is not JSON (Avro).") from None
    if not isinstance(schema, dict) or schema.get("type") != "record":
        raise SqlError("The registered value schema is not an Avro record: declare the columns instead.")

    def sql(avro: Any) -> t.SqlType:
        if isinstance(avro, list):
            branches = [b for b in avro if b != "null"]
            if len(branches) != 1:
                raise SqlError(f"Unsupported Avro union {avro} (only a type and null).")
            return sql(branches[0])
        if isinstance(avro, dict):
            logical = avro.get("logicalType")
            kind = avro.get("type")
            if logical == "decimal":
                return t.decimal(int(avro.get("precision", 38)), int(avro.get("scale", 0)))
            if logical in ("timestamp-millis", "timestamp-micros"):
                return t.TIMESTAMP
            if logical == "date":
                return t.DATE
            if logical == "time-millis":
                return t.TIME
            if kind == "array":
                return t.array(sql(avro["items"]))
            if kind == "map":
                return t.map_of(t.STRING, sql(avro["values"]))
            if kind == "record":
                return t.SqlType("STRUCT", fields=tuple((f["name"].upper(), sql(f["type"])) for f in avro["fields"]))
            if kind == "enum":
                return t.STRING
            return sql(kind)
        mapping = {
            "boolean": t.BOOLEAN,
            "int": t.INT,
            "long": t.BIGINT,
            "float": t.DOUBLE,
            "double": t.DOUBLE,
            "string": t.STRING,
            "bytes": t.BYTES,
        }
        if avro not in mapping:
            raise SqlError(f"Unsupported Avro type {avro!r}.")
        return mapping[avro]

    return [Column(name=f["name"].upper(), type=sql(f["type"]).text()) for f in schema.get("fields", [])]
