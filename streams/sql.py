"""A compiler for a documented subset of ksqlDB's streaming SQL onto stream specs (as ksqlDB compiles to Streams).

Supported (keywords case-insensitive; identifiers are case-insensitive and stored upper-case, column names keep
the spelling of their declaration, which is the JSON field name)::

    CREATE STREAM s (col TYPE, ...) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON' [, PARTITIONS=n] [, TIMESTAMP='c']);
    CREATE TABLE t (id VARCHAR PRIMARY KEY, col TYPE, ...) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON');
    CREATE STREAM s2 [WITH (KAFKA_TOPIC='x', PARTITIONS=n)] AS SELECT * | expr [AS a], ... FROM s
        [[LEFT] JOIN t ON s.col = t.id] [WHERE cond] [EMIT CHANGES];
    CREATE TABLE t2 [WITH (...)] AS SELECT col, COUNT(*) AS n, SUM(x) AS total, MIN(x), MAX(x), AVG(x) FROM s
        [WHERE cond] [WINDOW TUMBLING (SIZE 5 MINUTES [, GRACE PERIOD 1 MINUTE])
                    | WINDOW HOPPING (SIZE .., ADVANCE BY .. [, GRACE PERIOD ..])
                    | WINDOW SESSION (5 MINUTES [, GRACE PERIOD ..])]
        GROUP BY col [EMIT CHANGES | EMIT FINAL];
    DROP STREAM|TABLE [IF EXISTS] name [DELETE TOPIC];   TERMINATE query_id;
    SHOW|LIST STREAMS | TABLES | QUERIES;   DESCRIBE name;
    SELECT ... FROM table [WHERE key = 'k' [AND WINDOWSTART >= ms AND WINDOWSTART <= ms]];   -- pull query
    SELECT ... FROM stream [WHERE cond] EMIT CHANGES [LIMIT n];                              -- push query

Conditions: = != <> < <= > >=, AND OR NOT, + - * / %, IN (...), BETWEEN .. AND .., IS [NOT] NULL, LEN(x),
literals. Everything else (HAVING, PARTITION BY, LIKE, CASE, INSERT INTO, stream-stream joins in SQL, multi-column
GROUP BY, connectors, types, ...) is refused with an error naming the construct.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from core.errors import InvalidArgument

# --- errors ---------------------------------------------------------------------------------------------------


class SqlError(InvalidArgument):
    """A statement outside the supported subset, or wrong; the message names the construct."""


UNSUPPORTED = {
    "HAVING": "HAVING",
    "PARTITION": "PARTITION BY",
    "LIKE": "LIKE",
    "CASE": "CASE expressions",
    "INSERT": "INSERT INTO / INSERT VALUES",
    "CONNECTOR": "connectors",
    "SOURCE": "CREATE SOURCE ...",
    "TYPE": "custom types",
    "FULL": "FULL OUTER JOIN",
    "RIGHT": "RIGHT JOIN",
    "OUTER": "OUTER JOIN",
    "WITHIN": "stream-stream joins (JOIN ... WITHIN) in SQL",
    "EXPLODE": "table functions (EXPLODE)",
    "STRUCT": "STRUCT types",
    "UNION": "UNION",
    "ORDER": "ORDER BY",
    "OFFSET": "OFFSET",
    "REPLACE": "CREATE OR REPLACE",
    "SCALABLE": "scalable push queries",
    "PRINT": "PRINT",
    "EXPLAIN": "EXPLAIN",
    "PAUSE": "PAUSE",
    "RESUME": "RESUME",
    "ASSERT": "ASSERT",
    "DEFINE": "DEFINE",
    "SET": "SET",
    "UNSET": "UNSET",
    "RUN": "RUN SCRIPT",
}

# --- tokens ---------------------------------------------------------------------------------------------------

_TOK = re.compile(
    r"""\s*(?:
    (?P<comment>--[^\n]*)
  | (?P<num>\d+(?:\.\d+)?)
  | (?P<str>'(?:[^']|'')*')
  | (?P<qid>"[^"]+"|`[^`]+`)
  | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><>|!=|<=|>=|[=<>+\-*/%(),;.])
    )""",
    re.VERBOSE,
)


@dataclass
class Tok:
    kind: str  # num str id qid op end
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "id" else self.text


def tokenize(sql: str) -> list[Tok]:
    toks: list[Tok] = []
    i = 0
    while i < len(sql):
        if not sql[i:].strip():
            break
        m = _TOK.match(sql, i)
        if m is None or m.end() == i:
            raise SqlError(f"unexpected character {sql[i:].lstrip()[:1]!r} at position {i}")
        kind = m.lastgroup or "op"
        i = m.end()
        if kind == "comment":
            continue
        text = m.group(kind)
        if kind == "str":
            text = text[1:-1].replace("''", "'")
        elif kind == "qid":
            text, kind = text[1:-1], "qid"
        toks.append(Tok(kind, text, m.start(kind)))
    toks.append(Tok("end", "", len(sql)))
    return toks


def split_statements(sql: str) -> list[str]:
    """Statements separated by ';' outside string literals."""
    out: list[str] = []
    buf: list[str] = []
    quote = False
    for ch in sql:
        if ch == "'":
            quote = not quote
        if ch == ";" and not quote:
            if "".join(buf).strip():
                out.append("".join(buf).strip())
            buf = []
            continue
        buf.append(ch)
    if "".join(buf).strip():
        out.append("".join(buf).strip())
    return out


# --- AST ------------------------------------------------------------------------------------------------------


@dataclass
class Col:
    name: str
    qualifier: str | None = None


@dataclass
class Lit:
    value: Any


@dataclass
class Bin:
    op: str
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


@dataclass
class InList:
    expr: Any
    items: list[Any]


@dataclass
class IsNull:
    expr: Any
    negated: bool


@dataclass
class SelectItem:
    expr: Any  # None for *
    alias: str | None = None


@dataclass
class WindowClause:
    type: Literal["tumbling", "hopping", "session"]
    size_ms: int
    advance_ms: int | None = None
    grace_ms: int | None = None


@dataclass
class JoinClause:
    table: str
    alias: str | None
    left: bool
    on_left: Col
    on_right: Col


@dataclass
class Select:
    items: list[SelectItem]
    source: str
    source_alias: str | None = None
    join: JoinClause | None = None
    where: Any = None
    window: WindowClause | None = None
    group_by: list[Col] = field(default_factory=list)
    emit: Literal["changes", "final"] | None = None
    limit: int | None = None


@dataclass
class ColumnDef:
    name: str
    type: str
    key: bool = False


@dataclass
class CreateSource:
    kind: Literal["STREAM", "TABLE"]
    name: str
    columns: list[ColumnDef]
    props: dict[str, Any]
    if_not_exists: bool = False


@dataclass
class CreateAs:
    kind: Literal["STREAM", "TABLE"]
    name: str
    props: dict[str, Any]
    select: Select


@dataclass
class Drop:
    kind: Literal["STREAM", "TABLE"]
    name: str
    if_exists: bool
    delete_topic: bool


@dataclass
class Show:
    what: Literal["STREAMS", "TABLES", "QUERIES"]


@dataclass
class Terminate:
    query_id: str


@dataclass
class Describe:
    name: str


@dataclass
class Query:
    select: Select


Statement = CreateSource | CreateAs | Drop | Show | Terminate | Describe | Query

_UNITS = {
    "MILLISECOND": 1,
    "MILLISECONDS": 1,
    "SECOND": 1000,
    "SECONDS": 1000,
    "MINUTE": 60_000,
    "MINUTES": 60_000,
    "HOUR": 3_600_000,
    "HOURS": 3_600_000,
    "DAY": 86_400_000,
    "DAYS": 86_400_000,
}
_AGGS = {"COUNT", "SUM", "MIN", "MAX", "AVG"}
_TYPES = {"VARCHAR", "STRING", "INT", "INTEGER", "BIGINT", "DOUBLE", "BOOLEAN", "DECIMAL", "TIMESTAMP", "DATE"}


class Parser:
    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.toks = tokenize(sql)
        self.i = 0

    # helpers

    def peek(self, ahead: int = 0) -> Tok:
        return self.toks[min(self.i + ahead, len(self.toks) - 1)]

    def next(self) -> Tok:
        tok = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def at(self, *words: str) -> bool:
        return self.peek().kind in ("id", "op") and self.peek().upper in words

    def accept(self, *words: str) -> bool:
        if self.at(*words):
            self.next()
            return True
        return False

    def fail(self, expected: str) -> SqlError:
        tok = self.peek()
        if tok.kind == "id" and tok.upper in UNSUPPORTED:
            return SqlError(
                f"Unsupported construct: {UNSUPPORTED[tok.upper]} (at position {tok.pos}).",
                hint="See the supported subset in kafka_ksql's description.",
            )
        found = repr(tok.text) if tok.kind != "end" else "the end of the statement"
        return SqlError(f"Expected {expected} at position {tok.pos}, found {found}.")

    def expect(self, word: str) -> None:
        if not self.accept(word):
            raise self.fail(repr(word))

    def ident(self, what: str = "a name") -> str:
        tok = self.peek()
        if tok.kind == "qid":
            self.next()
            return tok.text
        if tok.kind == "id":
            if tok.upper in UNSUPPORTED:
                raise self.fail(what)
            self.next()
            return tok.text
        raise self.fail(what)

    # statements

    def statement(self) -> Statement:
        tok = self.peek()
        if self.accept("CREATE"):
            stmt: Statement = self.create()
        elif self.accept("DROP"):
            stmt = self.drop()
        elif self.accept("SHOW", "LIST"):
            what = self.peek().upper
            if what not in ("STREAMS", "TABLES", "QUERIES"):
                raise self.fail("STREAMS, TABLES or QUERIES")
            self.next()
            self.accept("EXTENDED")
            stmt = Show(what)  # type: ignore[arg-type]
        elif self.accept("TERMINATE"):
            stmt = Terminate(self.ident("a query id"))
        elif self.accept("DESCRIBE"):
            stmt = Describe(self.ident("a stream or table name"))
        elif self.at("SELECT"):
            stmt = Query(self.select())
        else:
            if tok.kind == "id" and tok.upper in UNSUPPORTED:
                raise self.fail("a statement")
            raise SqlError(
                f"Unsupported statement starting with {tok.text!r}.",
                hint="Supported: CREATE STREAM/TABLE [AS SELECT], DROP, TERMINATE, SHOW, DESCRIBE, SELECT.",
            )
        self.accept(";")
        if self.peek().kind != "end":
            raise self.fail("the end of the statement")
        return stmt

    def create(self) -> Statement:
        if self.at("OR"):
            raise SqlError("Unsupported construct: CREATE OR REPLACE.")
        if self.at("SOURCE", "SINK", "TYPE", "CONNECTOR"):
            raise self.fail("STREAM or TABLE")
        kind = self.peek().upper
        if kind not in ("STREAM", "TABLE"):
            raise self.fail("STREAM or TABLE")
        self.next()
        if_not_exists = False
        if self.accept("IF"):
            self.expect("NOT")
            self.expect("EXISTS")
            if_not_exists = True
        name = self.ident("a stream or table name").upper()
        columns: list[ColumnDef] = []
        if self.accept("("):
            while True:
                col = self.ident("a column name")
                ctype = self.peek().upper
                if ctype not in _TYPES:
                    raise SqlError(
                        f"Unsupported column type {self.peek().text!r} for {col!r}.",
                        hint=f"Use one of {', '.join(sorted(_TYPES))}.",
                    )
                self.next()
                if ctype == "DECIMAL" and self.accept("("):
                    while not self.accept(")"):
                        self.next()
                key = False
                if self.accept("PRIMARY"):
                    self.expect("KEY")
                    key = True
                elif self.accept("KEY"):
                    key = True
                columns.append(ColumnDef(col, ctype, key))
                if self.accept(")"):
                    break
                self.expect(",")
        props: dict[str, Any] = {}
        if self.accept("WITH"):
            props = self.with_props()
        if self.accept("AS"):
            if columns:
                raise SqlError("CREATE ... AS SELECT takes no column list.")
            return CreateAs(kind, name, props, self.select())  # type: ignore[arg-type]
        return CreateSource(kind, name, columns, props, if_not_exists)  # type: ignore[arg-type]

    def with_props(self) -> dict[str, Any]:
        self.expect("(")
        props: dict[str, Any] = {}
        while True:
            key = self.ident("a property name").upper()
            self.expect("=")
            tok = self.next()
            if tok.kind == "num":
                props[key] = int(float(tok.text))
            elif tok.kind in ("str", "id"):
                props[key] = tok.text
            else:
                raise SqlError(f"Property {key} needs a value, found {tok.text!r}.")
            if self.accept(")"):
                return props
            self.expect(",")

    def drop(self) -> Drop:
        kind = self.peek().upper
        if kind not in ("STREAM", "TABLE"):
            raise self.fail("STREAM or TABLE")
        self.next()
        if_exists = False
        if self.accept("IF"):
            self.expect("EXISTS")
            if_exists = True
        name = self.ident().upper()
        delete_topic = False
        if self.accept("DELETE"):
            self.expect("TOPIC")
            delete_topic = True
        return Drop(kind, name, if_exists, delete_topic)  # type: ignore[arg-type]

    def duration(self) -> int:
        tok = self.next()
        if tok.kind != "num":
            raise SqlError(f"Expected a duration like '5 MINUTES' at position {tok.pos}, found {tok.text!r}.")
        unit = self.peek().upper
        if unit not in _UNITS:
            raise self.fail("a time unit (MILLISECONDS, SECONDS, MINUTES, HOURS, DAYS)")
        self.next()
        return int(float(tok.text) * _UNITS[unit])

    def window(self) -> WindowClause:
        kind = self.peek().upper
        if kind not in ("TUMBLING", "HOPPING", "SESSION"):
            raise self.fail("TUMBLING, HOPPING or SESSION")
        self.next()
        self.expect("(")
        size = advance = grace = None
        if kind == "SESSION":
            size = self.duration()
        while not self.accept(")"):
            self.accept(",")
            if self.accept("SIZE"):
                size = self.duration()
            elif self.accept("ADVANCE"):
                self.expect("BY")
                advance = self.duration()
            elif self.accept("GRACE"):
                self.expect("PERIOD")
                grace = self.duration()
            elif self.at("RETENTION"):
                raise SqlError("Unsupported construct: window RETENTION.")
            else:
                raise self.fail("SIZE, ADVANCE BY or GRACE PERIOD")
        if size is None:
            raise SqlError(f"A {kind} window needs a SIZE.")
        if kind == "HOPPING" and advance is None:
            raise SqlError("A HOPPING window needs ADVANCE BY.")
        return WindowClause(kind.lower(), size, advance, grace)  # type: ignore[arg-type]

    def select(self) -> Select:
        self.expect("SELECT")
        items: list[SelectItem] = []
        while True:
            if self.accept("*"):
                items.append(SelectItem(None))
            else:
                expr = self.expr()
                alias = None
                if self.accept("AS") or (self.peek().kind in ("id", "qid") and not self.at("FROM")):
                    alias = self.ident("an alias")
                items.append(SelectItem(expr, alias))
            if not self.accept(","):
                break
        self.expect("FROM")
        source = self.ident("a stream or table name").upper()
        alias = None
        if self.accept("AS") or (self.peek().kind == "id" and not self.at(*_CLAUSE_WORDS)):
            alias = self.ident("an alias").upper()
        sel = Select(items, source, alias)
        if self.at("LEFT", "INNER", "JOIN"):
            left = self.accept("LEFT")
            self.accept("INNER")
            if self.at("OUTER"):
                raise self.fail("JOIN")
            self.expect("JOIN")
            table = self.ident("a table name").upper()
            talias = None
            if self.accept("AS") or (self.peek().kind == "id" and not self.at("ON", "WITHIN")):
                talias = self.ident("an alias").upper()
            if self.at("WITHIN"):
                raise self.fail("ON")
            self.expect("ON")
            a = self.primary()
            self.expect("=")
            b = self.primary()
            if not isinstance(a, Col) or not isinstance(b, Col):
                raise SqlError("JOIN ... ON must compare two columns, e.g. o.user_id = u.id.")
            sel.join = JoinClause(table, talias, left, a, b)
        if self.accept("WHERE"):
            sel.where = self.expr()
        if self.accept("WINDOW"):
            sel.window = self.window()
        if self.accept("GROUP"):
            self.expect("BY")
            while True:
                col = self.primary()
                if not isinstance(col, Col):
                    raise SqlError("GROUP BY takes column names.")
                sel.group_by.append(col)
                if not self.accept(","):
                    break
        if self.at("HAVING", "PARTITION", "ORDER"):
            raise self.fail("EMIT")
        if self.accept("EMIT"):
            what = self.peek().upper
            if what not in ("CHANGES", "FINAL"):
                raise self.fail("CHANGES or FINAL")
            self.next()
            sel.emit = what.lower()  # type: ignore[assignment]
        if self.accept("LIMIT"):
            tok = self.next()
            if tok.kind != "num":
                raise SqlError("LIMIT takes a number.")
            sel.limit = int(tok.text)
        return sel

    # expressions

    def expr(self) -> Any:
        return self.or_()

    def or_(self) -> Any:
        left = self.and_()
        while self.accept("OR"):
            left = Bin("OR", left, self.and_())
        return left

    def and_(self) -> Any:
        left = self.not_()
        while self.accept("AND"):
            left = Bin("AND", left, self.not_())
        return left

    def not_(self) -> Any:
        if self.accept("NOT"):
            return Un("NOT", self.not_())
        return self.comparison()

    def comparison(self) -> Any:
        left = self.additive()
        if self.at("=", "!=", "<>", "<", "<=", ">", ">="):
            op = self.next().text
            return Bin("!=" if op == "<>" else op, left, self.additive())
        if self.accept("IS"):
            negated = self.accept("NOT")
            self.expect("NULL")
            return IsNull(left, negated)
        if self.accept("IN"):
            self.expect("(")
            items = [self.additive()]
            while self.accept(","):
                items.append(self.additive())
            self.expect(")")
            return InList(left, items)
        if self.accept("BETWEEN"):
            low = self.additive()
            self.expect("AND")
            high = self.additive()
            return Bin("AND", Bin(">=", left, low), Bin("<=", left, high))
        if self.at("LIKE"):
            raise self.fail("a comparison")
        return left

    def additive(self) -> Any:
        left = self.term()
        while self.at("+", "-"):
            left = Bin(self.next().text, left, self.term())
        return left

    def term(self) -> Any:
        left = self.unary()
        while self.at("*", "/", "%"):
            left = Bin(self.next().text, left, self.unary())
        return left

    def unary(self) -> Any:
        if self.accept("-"):
            return Un("-", self.unary())
        return self.primary()

    def primary(self) -> Any:
        tok = self.peek()
        if tok.kind == "num":
            self.next()
            return Lit(float(tok.text) if "." in tok.text else int(tok.text))
        if tok.kind == "str":
            self.next()
            return Lit(tok.text)
        if self.accept("("):
            inner = self.expr()
            self.expect(")")
            return inner
        if tok.kind == "id" and tok.upper in ("TRUE", "FALSE", "NULL"):
            self.next()
            return Lit({"TRUE": True, "FALSE": False, "NULL": None}[tok.upper])
        if tok.kind == "id" and tok.upper in UNSUPPORTED:
            raise self.fail("an expression")
        if tok.kind in ("id", "qid"):
            self.next()
            name = tok.text
            if self.accept("("):
                fname = name.upper()
                if self.accept("*"):
                    self.expect(")")
                    return Func(fname, [], star=True)
                args: list[Any] = []
                if not self.accept(")"):
                    args.append(self.expr())
                    while self.accept(","):
                        args.append(self.expr())
                    self.expect(")")
                if fname not in _AGGS and fname not in ("LEN",):
                    raise SqlError(
                        f"Unsupported construct: function {fname}().",
                        hint="Supported functions: COUNT, SUM, MIN, MAX, AVG (aggregations) and LEN.",
                    )
                return Func(fname, args)
            if self.accept("."):
                return Col(self.ident("a column name"), qualifier=name.upper())
            return Col(name)
        raise self.fail("an expression")


_CLAUSE_WORDS = ("WHERE", "WINDOW", "GROUP", "EMIT", "LIMIT", "JOIN", "LEFT", "INNER", "HAVING", "PARTITION")


def parse(sql: str) -> Statement:
    return Parser(sql).statement()


# --- expressions to CEL, and evaluation in Python (push queries) -------------------------------------------------


def _cel_literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value)


def to_cel(expr: Any, resolve: Any) -> str:
    """CEL for a SQL expression; ``resolve(col) -> CEL path`` maps columns (e.g. to value.x or left.x)."""
    if isinstance(expr, Lit):
        return _cel_literal(expr.value)
    if isinstance(expr, Col):
        return str(resolve(expr))
    if isinstance(expr, Un):
        inner = to_cel(expr.expr, resolve)
        return f"!({inner})" if expr.op == "NOT" else f"-({inner})"
    if isinstance(expr, Bin):
        op = {"AND": "&&", "OR": "||", "=": "=="}.get(expr.op, expr.op)
        return f"({to_cel(expr.left, resolve)} {op} {to_cel(expr.right, resolve)})"
    if isinstance(expr, IsNull):
        if not isinstance(expr.expr, Col):
            raise SqlError("IS NULL applies to a column.")
        path = to_cel(expr.expr, resolve)
        return f"has({path})" if expr.negated else f"!has({path})"
    if isinstance(expr, InList):
        return f"({to_cel(expr.expr, resolve)} in [{', '.join(to_cel(i, resolve) for i in expr.items)}])"
    if isinstance(expr, Func):
        if expr.name == "LEN" and len(expr.args) == 1:
            return f"size({to_cel(expr.args[0], resolve)})"
        raise SqlError(f"Function {expr.name}() is not allowed here (aggregations belong in a GROUP BY query).")
    raise SqlError(f"Unsupported expression {expr!r}.")


def evaluate(expr: Any, row: dict[str, Any], lookup: Any) -> Any:
    """Evaluate a SQL expression on one JSON row (push queries); ``lookup(row, col)`` reads a column."""
    if isinstance(expr, Lit):
        return expr.value
    if isinstance(expr, Col):
        return lookup(row, expr)
    if isinstance(expr, Un):
        v = evaluate(expr.expr, row, lookup)
        if expr.op == "NOT":
            return None if v is None else not v
        return None if v is None else -v
    if isinstance(expr, IsNull):
        return (lookup(row, expr.expr) is None) != expr.negated
    if isinstance(expr, InList):
        v = evaluate(expr.expr, row, lookup)
        return v in [evaluate(i, row, lookup) for i in expr.items]
    if isinstance(expr, Func):
        if expr.name == "LEN" and len(expr.args) == 1:
            v = evaluate(expr.args[0], row, lookup)
            return None if v is None else len(v)
        raise SqlError(f"Function {expr.name}() cannot be used in a push query.")
    if isinstance(expr, Bin):
        a = evaluate(expr.left, row, lookup)
        if expr.op == "AND":
            return bool(a) and bool(evaluate(expr.right, row, lookup))
        if expr.op == "OR":
            return bool(a) or bool(evaluate(expr.right, row, lookup))
        b = evaluate(expr.right, row, lookup)
        if a is None or b is None:
            return None
        try:
            return _BIN[expr.op](a, b)
        except (TypeError, ZeroDivisionError):
            return None
    raise SqlError(f"Unsupported expression {expr!r}.")


_BIN: dict[str, Any] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "%": lambda a, b: a % b,
}


def expr_name(expr: Any) -> str:
    """The default output name of a select item (ksqlDB style: the column, or KSQL_COL_n elsewhere)."""
    if isinstance(expr, Col):
        return expr.name
    if isinstance(expr, Func):
        return expr.name
    return "KSQL_COL"
