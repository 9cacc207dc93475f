"""Type checking of SQL expressions, as ksqlDB does at CREATE: every column resolves, every operator and function gets
the types it takes, conditions are BOOLEAN. The result is the typed tree the runner (``SqlExpr.java``) and the Python
evaluator (``streams.sql.evaluate``) run, and its type.

Errors name the expression and the types, e.g. ``Cannot compare VIEWTIME (BIGINT) to 'abc' (STRING) with
GREATER_THAN.``
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from streams.sql import functions as fns
from streams.sql import nodes as n
from streams.sql import types as t
from streams.sql.evaluate import EvalError, parse_timestamp
from streams.sql.lexer import SqlError

PSEUDO = {"ROWTIME": t.BIGINT, "ROWPARTITION": t.INT, "ROWOFFSET": t.BIGINT}
WINDOW_BOUNDS = ("WINDOWSTART", "WINDOWEND")
_OP_NAMES = {
    "=": "EQUAL",
    "<>": "NOT_EQUAL",
    "<": "LESS_THAN",
    "<=": "LESS_THAN_OR_EQUAL",
    ">": "GREATER_THAN",
    ">=": "GREATER_THAN_OR_EQUAL",
}


@dataclass
class Field:
    """A column a query can read: where it is in the row, and its type."""

    source: str  # the qualifier that names its source (alias or name)
    name: str
    type: t.SqlType
    tree: list[Any]
    key: bool = False


@dataclass
class Scope:
    """The columns visible to a query, by source (its alias and its name both qualify)."""

    sources: dict[str, dict[str, Field]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # alias or source name -> the source's qualifier

    def add(self, qualifier: str, fields: list[Field], *, also: str | None = None) -> None:
        self.sources[qualifier] = {f.name: f for f in fields}
        self.names[qualifier.upper()] = qualifier
        if also:
            self.names.setdefault(also.upper(), qualifier)

    def resolve(self, col: n.Col) -> Field:
        name = col.name
        if col.qualifier is not None:
            qualifier = self.names.get(col.qualifier.upper())
            if qualifier is None:
                known = ", ".join(sorted(self.sources))
                raise SqlError(f"'{col.qualifier}' is not a source of this query (sources: {known}).")
            found = _lookup(self.sources[qualifier], name, col.quoted)
            if found is None:
                raise SqlError(f"Column '{col.qualifier}.{name}' cannot be resolved.", hint=_columns_hint(self))
            return found
        matches = [f for fields in self.sources.values() if (f := _lookup(fields, name, col.quoted)) is not None]
        if not matches:
            raise SqlError(f"Column '{name}' cannot be resolved.", hint=_columns_hint(self))
        if len(matches) > 1 and len({id(m) for m in matches}) > 1:
            options = " or ".join(f"{m.source}.{m.name}" for m in matches)
            raise SqlError(f"Column '{name}' is ambiguous. Could be {options}.")
        return matches[0]


def _lookup(fields: dict[str, Field], name: str, quoted: bool) -> Field | None:
    if name in fields:
        return fields[name]
    if not quoted:
        for key, f in fields.items():
            if key.upper() == name.upper():
                return f
    return None


def _columns_hint(scope: Scope) -> str:
    cols = [
        f"{q}.{c}" if len(scope.sources) > 1 else c for q, fs in scope.sources.items() for c in fs if c not in PSEUDO
    ]
    return f"Columns: {', '.join(cols)}."


def render(node: Any) -> str:
    """SQL text of an expression, for messages (ksqlDB style)."""
    if isinstance(node, n.Lit):
        if node.kind == "string":
            return "'" + str(node.value).replace("'", "''") + "'"
        if node.kind == "null":
            return "NULL"
        if node.kind == "bool":
            return "true" if node.value else "false"
        return node.text or str(node.value)
    if isinstance(node, n.Col):
        return f"{node.qualifier}.{node.name}" if node.qualifier else node.name
    if isinstance(node, n.Bin):
        return f"({render(node.left)} {node.op} {render(node.right)})"
    if isinstance(node, n.Un):
        return f"(NOT {render(node.expr)})" if node.op == "NOT" else f"-{render(node.expr)}"
    if isinstance(node, n.Func):
        inner = "*" if node.star else ", ".join(render(a) for a in node.args)
        return f"{node.name}({'DISTINCT ' if node.distinct else ''}{inner})"
    if isinstance(node, n.Cast):
        return f"CAST({render(node.expr)} AS {node.type.text()})"
    if isinstance(node, n.Deref):
        return f"{render(node.expr)}->{node.field}"
    if isinstance(node, n.Subscript):
        return f"{render(node.expr)}[{render(node.index)}]"
    if isinstance(node, n.IsNull):
        return f"({render(node.expr)} IS {'NOT ' if node.negated else ''}NULL)"
    if isinstance(node, n.Case):
        whens = " ".join(f"WHEN {render(c)} THEN {render(v)}" for c, v in node.whens)
        other = f" ELSE {render(node.otherwise)}" if node.otherwise is not None else ""
        return f"(CASE {whens}{other} END)"
    if isinstance(node, n.Like):
        return f"({render(node.expr)} {'NOT ' if node.negated else ''}LIKE {render(node.pattern)})"
    if isinstance(node, n.InList):
        return f"({render(node.expr)} IN ({', '.join(render(i) for i in node.items)}))"
    if isinstance(node, n.Between):
        return f"({render(node.expr)} BETWEEN {render(node.low)} AND {render(node.high)})"
    return type(node).__name__.upper()


def contains_aggregate(node: Any) -> bool:
    if isinstance(node, n.Func) and node.name in fns.AGGREGATES:
        return True
    for value in vars(node).values() if hasattr(node, "__dataclass_fields__") else []:
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            parts = item if isinstance(item, tuple) else (item,)
            if any(hasattr(p, "__dataclass_fields__") and contains_aggregate(p) for p in parts):
                return True
    return False


@dataclass
class AggCall:
    name: str  # the output field the runner writes (KSQL_AGG_n)
    function: str
    op: str
    arg: list[Any] | None
    type: t.SqlType
    param: int | None = None
    ignore_nulls: bool | None = None
    node: Any = None


@dataclass
class GroupKey:
    node: Any
    name: str
    type: t.SqlType
    tree: list[Any] = field(default_factory=list)
    field_id: tuple[str, str] | None = None  # (source, column) when the key is a plain column


class Checker:
    """Compiles expressions in a scope. In aggregate mode, group keys and aggregate calls become columns of the
    aggregate's output row."""

    def __init__(
        self,
        scope: Scope,
        *,
        aggregate: bool = False,
        group_keys: list[GroupKey] | None = None,
        windowed: bool = False,
        row_checker: Checker | None = None,
    ) -> None:
        self.scope = scope
        self.aggregate = aggregate
        self.group_keys = group_keys or []
        self.windowed = windowed
        self.aggs: list[AggCall] = []
        self.row_checker = row_checker  # checks the arguments of aggregate calls (over the input rows)

    # entry points

    def condition(self, node: Any, clause: str) -> list[Any]:
        tree, ty = self.check(node)
        if ty.base not in ("BOOLEAN", "NULL"):
            raise SqlError(
                f"Type error in {clause} expression: Should evaluate to boolean but is {render(node)} ({ty.text()}) "
                "instead.",
                hint="Compare the value, e.g. x > 0, or test it with IS NULL.",
            )
        return tree

    def check(self, node: Any) -> tuple[list[Any], t.SqlType]:
        if self.aggregate:
            for key in self.group_keys:
                if self._same(node, key.node):
                    return ["col", key.name], key.type
            if isinstance(node, n.Func) and node.name in fns.AGGREGATES:
                return self._aggregate(node)
        return self._check(node)

    # helpers

    def _same(self, a: Any, b: Any) -> bool:
        if isinstance(a, n.Col) and isinstance(b, n.Col):
            try:
                fa, fb = self.scope.resolve(a), self.scope.resolve(b)
            except SqlError:
                return False
            return (fa.source, fa.name) == (fb.source, fb.name)
        return bool(a == b)

    def _aggregate(self, node: n.Func) -> tuple[list[Any], t.SqlType]:
        inner = self.row_checker or Checker(self.scope)
        spec = fns.AGGREGATES[node.name]
        if node.distinct and node.name != "COUNT":
            raise SqlError(f"Unsupported construct: {node.name}(DISTINCT ...).")
        args = node.args
        arg_tree: list[Any] | None = None
        arg_types: list[t.SqlType] = []
        param = ignore_nulls = None
        if args:
            if any(contains_aggregate(a) for a in args):
                raise SqlError(f"Aggregate functions cannot be nested: {render(node)}.")
            arg_tree, arg_type = inner.check(args[0])
            arg_types.append(arg_type)
        op = spec.op
        if node.name == "COUNT" and node.distinct:
            op = "count_distinct"
        if node.name in ("TOPK", "TOPKDISTINCT"):
            if len(args) != 2 or not isinstance(args[1], n.Lit) or args[1].kind not in ("int", "bigint"):
                raise SqlError(f"{node.name}(x, k) takes a column and a whole number k.")
            param = int(args[1].value)
        elif node.name in ("LATEST_BY_OFFSET", "EARLIEST_BY_OFFSET"):
            if len(args) == 2 and isinstance(args[1], n.Lit) and args[1].kind == "bool":
                ignore_nulls = bool(args[1].value)
            elif len(args) != 1:
                raise SqlError(
                    f"Unsupported construct: {node.name} with {len(args)} arguments (only {node.name}(x) and "
                    f"{node.name}(x, ignoreNulls)).",
                )
        elif node.star and node.name != "COUNT":
            raise SqlError(f"{node.name}(*) is not valid; only COUNT(*).")
        elif not node.star and len(args) != 1:
            raise SqlError(f"{node.name}() takes one argument.")
        result = fns.aggregate_type(node.name, arg_types, node.star)
        for existing in self.aggs:
            if existing.node == node:
                return ["col", existing.name], existing.type
        call = AggCall(f"KSQL_AGG_{len(self.aggs)}", node.name, op, arg_tree, result, param, ignore_nulls, node)
        self.aggs.append(call)
        return ["col", call.name], result

    def _check(self, node: Any) -> tuple[list[Any], t.SqlType]:
        if isinstance(node, n.Lit):
            return _literal(node)
        if isinstance(node, n.Col):
            return self._column(node)
        if isinstance(node, n.Un):
            tree, ty = self.check(node.expr)
            if node.op == "NOT":
                if ty.base not in ("BOOLEAN", "NULL"):
                    raise SqlError(f"NOT needs a BOOLEAN, but {render(node.expr)} is {ty.text()}.")
                return ["not", tree], t.BOOLEAN
            if not ty.numeric and not ty.is_null:
                raise SqlError(f"Unary minus needs a number, but {render(node.expr)} is {ty.text()}.")
            return ["neg", ty.spec_text(), tree], ty
        if isinstance(node, n.Bin):
            return self._binary(node)
        if isinstance(node, n.IsNull):
            tree, _ = self.check(node.expr)
            return ["isnull", tree, node.negated], t.BOOLEAN
        if isinstance(node, n.IsDistinct):
            (a, ta), (b, tb) = self.check(node.left), self.check(node.right)
            self._comparable("=", node.left, ta, node.right, tb)
            return ["distinct", a, b, node.negated], t.BOOLEAN
        if isinstance(node, n.InList):
            tree, ty = self.check(node.expr)
            items = []
            for item in node.items:
                itree, ity = self.check(item)
                itree = self._comparable("=", node.expr, ty, item, ity, right_tree=itree)
                items.append(itree)
            return ["in", tree, items, node.negated], t.BOOLEAN
        if isinstance(node, n.Between):
            tree, ty = self.check(node.expr)
            lo, lt_ = self.check(node.low)
            hi, ht = self.check(node.high)
            lo = self._comparable(">=", node.expr, ty, node.low, lt_, right_tree=lo)
            hi = self._comparable("<=", node.expr, ty, node.high, ht, right_tree=hi)
            return ["between", tree, lo, hi, node.negated], t.BOOLEAN
        if isinstance(node, n.Like):
            (a, ta), (p, tp) = self.check(node.expr), self.check(node.pattern)
            for part, ty in ((node.expr, ta), (node.pattern, tp)):
                if ty.base not in ("STRING", "NULL"):
                    raise SqlError(f"LIKE compares strings, but {render(part)} is {ty.text()}.")
            return ["like", a, p, node.negated, node.escape], t.BOOLEAN
        if isinstance(node, n.Case):
            return self._case(node)
        if isinstance(node, n.Cast):
            tree, ty = self.check(node.expr)
            target = node.type
            if ty.base in ("ARRAY", "MAP", "STRUCT") and target.base != ty.base:
                raise SqlError(f"Cannot cast {render(node.expr)} ({ty.text()}) to {target.text()}.")
            if target.base in ("ARRAY", "MAP", "STRUCT") and ty.base not in (target.base, "NULL"):
                raise SqlError(f"Cannot cast {render(node.expr)} ({ty.text()}) to {target.text()}.")
            if ty == target:
                return tree, ty
            return ["cast", target.spec_text(), tree], target
        if isinstance(node, n.Func):
            return self._function(node)
        if isinstance(node, n.Deref):
            tree, ty = self.check(node.expr)
            if ty.base != "STRUCT":
                raise SqlError(f"'->' reads a STRUCT field, but {render(node.expr)} is {ty.text()}.")
            ftype = ty.field(node.field)
            if ftype is None:
                names = ", ".join(name for name, _ in ty.fields)
                raise SqlError(f"{render(node.expr)} has no field {node.field!r} (fields: {names}).")
            name = next(name for name, _ in ty.fields if name.upper() == node.field.upper())
            return ["field", tree, name], ftype
        if isinstance(node, n.Subscript):
            tree, ty = self.check(node.expr)
            itree, ity = self.check(node.index)
            if ty.base == "ARRAY":
                if ity.base not in ("INT", "BIGINT"):
                    raise SqlError(f"An array index is a whole number, not {render(node.index)} ({ity.text()}).")
                return ["index", tree, itree], ty.element or t.STRING
            if ty.base == "MAP":
                if ity.base not in ("STRING", "NULL"):
                    raise SqlError(f"A map key is a STRING, not {render(node.index)} ({ity.text()}).")
                return ["index", tree, itree], ty.value or t.STRING
            raise SqlError(f"'[]' reads an ARRAY or MAP, but {render(node.expr)} is {ty.text()}.")
        if isinstance(node, n.ArrayCtor):
            parts = [self.check(i) for i in node.items]
            element = t.common([p[1] for p in parts]) if parts else t.STRING
            if element is None:
                raise SqlError("The elements of an ARRAY[...] must have one type.")
            return ["array", *[p[0] for p in parts]], t.array(element if not element.is_null else t.STRING)
        if isinstance(node, n.MapCtor):
            out: list[Any] = ["map"]
            values = []
            for k, v in node.pairs:
                kt, kty = self.check(k)
                if kty.base not in ("STRING", "NULL"):
                    raise SqlError(f"MAP keys are STRING, not {render(k)} ({kty.text()}).")
                vt, vty = self.check(v)
                out += [kt, vt]
                values.append(vty)
            value = t.common(values) if values else t.STRING
            if value is None:
                raise SqlError("The values of a MAP(...) must have one type.")
            return out, t.map_of(t.STRING, value)
        if isinstance(node, n.StructCtor):
            out = ["struct"]
            fields: list[tuple[str, t.SqlType]] = []
            for name, v in node.pairs:
                vt, vty = self.check(v)
                out += [name, vt]
                fields.append((name, vty))
            return out, t.SqlType("STRUCT", fields=tuple(fields))
        raise SqlError(f"Unsupported expression {render(node)}.")

    def _column(self, col: n.Col) -> tuple[list[Any], t.SqlType]:
        upper = col.name.upper()
        if upper in WINDOW_BOUNDS and col.qualifier is None and not col.quoted:
            if not self.windowed:
                raise SqlError(f"{upper} is only available in windowed aggregations and windowed tables.")
            return ["col", upper], t.BIGINT
        if self.aggregate:
            found = self.scope.resolve(col)
            for key in self.group_keys:
                if key.field_id == (found.source, found.name):
                    return ["col", key.name], key.type
            raise SqlError(
                f"Non-aggregate SELECT expression(s) not part of GROUP BY: {render(col)}.",
                hint="Add it to the GROUP BY, or aggregate it (e.g. LATEST_BY_OFFSET).",
            )
        found = self.scope.resolve(col)
        return list(found.tree), found.type

    def _binary(self, node: n.Bin) -> tuple[list[Any], t.SqlType]:
        op = node.op
        if op in ("AND", "OR"):
            parts = []
            for side in (node.left, node.right):
                tree, ty = self.check(side)
                if ty.base not in ("BOOLEAN", "NULL"):
                    raise SqlError(f"{op} needs BOOLEAN operands, but {render(side)} is {ty.text()}.")
                parts.append(tree)
            return [op.lower(), *parts], t.BOOLEAN
        (a, ta), (b, tb) = self.check(node.left), self.check(node.right)
        if op in _OP_NAMES:
            b = self._comparable(op, node.left, ta, node.right, tb, right_tree=b)
            if ta.base in ("TIMESTAMP", "DATE", "TIME") and tb.base == "STRING":
                pass
            elif tb.base in ("TIMESTAMP", "DATE", "TIME") and ta.base == "STRING":
                a = self._comparable(op, node.right, tb, node.left, ta, right_tree=a)
            return ["cmp", op, a, b], t.BOOLEAN
        if op == "||" or (op == "+" and ta.base == "STRING" and tb.base in ("STRING", "NULL")):
            for side, ty in ((node.left, ta), (node.right, tb)):
                if ty.base not in ("STRING", "NULL"):
                    raise SqlError(f"String concatenation needs STRING operands, but {render(side)} is {ty.text()}.")
            return ["arith", "+", "STRING", a, b], t.STRING
        if (not ta.numeric and not ta.is_null) or (not tb.numeric and not tb.is_null):
            raise SqlError(
                f"Error processing expression: {render(node)}. Unsupported arithmetic types. {ta.text()} {tb.text()}",
                hint="Arithmetic (+ - * / %) takes numbers; + and || also concatenate two strings.",
            )
        result = t.arithmetic(op, ta if not ta.is_null else tb, tb if not tb.is_null else ta)
        if result.is_null:
            result = t.INT
        return ["arith", op, result.spec_text(), a, b], result

    def _comparable(
        self, op: str, left: Any, lt_: t.SqlType, right: Any, rt: t.SqlType, right_tree: list[Any] | None = None
    ) -> list[Any]:
        """Check that ``left op right`` may be compared (ksqlDB's rules); returns the right side's tree (a string
        literal compared with a TIMESTAMP, DATE or TIME becomes that type)."""
        tree = right_tree if right_tree is not None else self.check(right)[0]
        if lt_.is_null or rt.is_null:
            return tree
        ok = (
            (lt_.numeric and rt.numeric)
            or (lt_.base == rt.base and lt_.base in ("STRING", "TIMESTAMP", "DATE", "TIME", "BYTES"))
            or (lt_.base == rt.base == "BOOLEAN" and op in ("=", "<>"))
        )
        if not ok and lt_.base in ("TIMESTAMP", "DATE", "TIME") and rt.base == "STRING" and isinstance(right, n.Lit):
            try:
                ms = parse_timestamp(str(right.value))
            except EvalError as exc:
                raise SqlError(f"Cannot compare {render(left)} ({lt_.text()}) to {render(right)}: {exc}.") from None
            if lt_.base == "DATE":
                return ["lit", ms // 86_400_000]
            if lt_.base == "TIME":
                return ["lit", ms % 86_400_000]
            return ["lit", ms]
        if not ok:
            raise SqlError(
                f"Cannot compare {render(left)} ({lt_.text()}) to {render(right)} ({rt.text()}) with "
                f"{_OP_NAMES.get(op, op)}.",
                hint="Compare values of the same kind, or CAST one of them.",
            )
        return tree

    def _case(self, node: n.Case) -> tuple[list[Any], t.SqlType]:
        whens = []
        types: list[t.SqlType] = []
        for cond, value in node.whens:
            cond_node = n.Bin("=", node.operand, cond) if node.operand is not None else cond
            whens.append([self.condition(cond_node, "CASE WHEN"), None])
            vtree, vty = self.check(value)
            whens[-1][1] = vtree
            if types and t.common([*types, vty]) is None:
                raise SqlError(
                    "Invalid Case expression. Type for all 'THEN' clauses should be the same. THEN expression "
                    f"'{render(value)}' has type: {vty.text()}. Previous THEN expression(s) type: {types[0].text()}."
                )
            types.append(vty)
        otherwise: list[Any] | None = None
        if node.otherwise is not None:
            otherwise, oty = self.check(node.otherwise)
            if t.common([*types, oty]) is None:
                raise SqlError(
                    f"Invalid Case expression. Type for the 'ELSE' clause should be the same as for the THEN clauses: "
                    f"'{render(node.otherwise)}' has type {oty.text()}, the THEN clauses {types[0].text()}."
                )
            types.append(oty)
        result = t.common(types) or t.STRING
        if result.is_null:
            result = t.STRING
        if result.numeric:  # every branch gives the result's type (INT 1 in a DOUBLE CASE is 1.0)
            whens = [[c, _widen(v or ["lit", None], ty, result)] for (c, v), ty in zip(whens, types, strict=False)]
            if otherwise is not None:
                otherwise = _widen(otherwise, types[-1], result)
        return ["case", whens, otherwise], result

    def _function(self, node: n.Func) -> tuple[list[Any], t.SqlType]:
        if node.name in fns.AGGREGATES:
            raise SqlError(
                f"Use of aggregate function {node.name} requires a GROUP BY clause.",
                hint="Aggregations make a TABLE: CREATE TABLE ... AS SELECT ... GROUP BY ...",
            )
        fn = fns.SCALARS.get(node.name)
        if fn is None:
            raise SqlError(f"Can't find any functions with the name '{node.name}'.", hint="SHOW FUNCTIONS; lists them.")
        if node.star or node.distinct:
            raise SqlError(f"{node.name}() takes no '*' or DISTINCT.")
        if not fn.min_args <= len(node.args) <= fn.max_args:
            count = f"{fn.min_args}" if fn.min_args == fn.max_args else f"{fn.min_args} to {fn.max_args}"
            raise SqlError(f"Function '{node.name}' takes {count} argument(s), not {len(node.args)}.")
        parts = [self.check(a) for a in node.args]
        result = fn.rule([p[1] for p in parts])
        trees = [p[0] for p in parts]
        if node.name in ("GREATEST", "LEAST", "IFNULL", "COALESCE") and result.numeric:
            trees = [_widen(tree, ty, result) for tree, ty in parts]
        return ["call", node.name, *trees], result


def _widen(tree: list[Any], have: t.SqlType, want: t.SqlType) -> list[Any]:
    return tree if have == want or have.is_null else ["cast", want.spec_text(), tree]


def _literal(node: n.Lit) -> tuple[list[Any], t.SqlType]:
    if node.kind == "null":
        return ["lit", None], t.NULL
    if node.kind == "bool":
        return ["lit", bool(node.value)], t.BOOLEAN
    if node.kind == "string":
        return ["lit", node.value], t.STRING
    if node.kind == "double":
        return ["lit", float(node.value)], t.DOUBLE
    if node.kind == "decimal":
        value = Decimal(node.value)
        digits = value.as_tuple()
        scale = max(0, -int(digits.exponent))  # type: ignore[arg-type]
        precision = max(len(digits.digits), scale, 1)
        return ["dec", format(value, "f")], t.decimal(precision, scale)
    whole = int(node.value)
    return ["lit", whole], t.INT if -(2**31) <= whole < 2**31 else t.BIGINT
