"""A parser for ksqlDB's statements (keywords case-insensitive; identifiers upper-cased unless back-quoted)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from streams.sql import nodes as n
from streams.sql import types as t
from streams.sql.lexer import SqlError, Tok, tokenize

# Constructs ksqlDB has that this engine refuses, by the keyword that starts them: the error names the construct.
UNSUPPORTED = {
    "CONNECTOR": "connectors (CREATE SOURCE/SINK CONNECTOR; use the kafka_create_or_update_connector tool)",
    "CONNECTORS": "connectors (use kafka_list_connectors)",
    "EXPLODE": "table functions (EXPLODE)",
    "CUBE_EXPLODE": "table functions (CUBE_EXPLODE)",
    "UNION": "UNION",
    "ORDER": "ORDER BY",
    "OFFSET": "OFFSET",
    "SCALABLE": "scalable push queries",
    "RUN": "RUN SCRIPT",
    "TRANSFORM": "lambda functions (TRANSFORM)",
    "REDUCE": "lambda functions (REDUCE)",
    "FILTER": "lambda functions (FILTER)",
}

UNITS = {
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
    "WEEK": 7 * 86_400_000,
    "WEEKS": 7 * 86_400_000,
    "MONTH": 30 * 86_400_000,
    "MONTHS": 30 * 86_400_000,
    "YEAR": 365 * 86_400_000,
    "YEARS": 365 * 86_400_000,
}
_CLAUSE_WORDS = {
    "WHERE",
    "WINDOW",
    "GROUP",
    "HAVING",
    "PARTITION",
    "EMIT",
    "LIMIT",
    "JOIN",
    "LEFT",
    "INNER",
    "FULL",
    "RIGHT",
    "OUTER",
    "ON",
    "WITHIN",
}
SHOWABLE = {"STREAMS", "TABLES", "QUERIES", "TOPICS", "PROPERTIES", "FUNCTIONS", "TYPES", "VARIABLES"}


class Parser:
    def __init__(self, sql: str, types: dict[str, t.SqlType] | None = None) -> None:
        self.sql = sql
        self.toks = tokenize(sql)
        self.i = 0
        self.custom_types = types or {}

    # helpers

    def peek(self, ahead: int = 0) -> Tok:
        return self.toks[min(self.i + ahead, len(self.toks) - 1)]

    def next(self) -> Tok:
        tok = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def at(self, *words: str) -> bool:
        return self.peek().kind in ("id", "op") and self.peek().upper in words

    def at_seq(self, *words: str) -> bool:
        return all(self.peek(k).kind in ("id", "op") and self.peek(k).upper == w for k, w in enumerate(words))

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
        """An identifier, upper-cased unless back-quoted."""
        tok = self.peek()
        if tok.kind == "qid":
            self.next()
            return tok.text
        if tok.kind == "id":
            self.next()
            return tok.text.upper()
        raise self.fail(what)

    def string(self, what: str) -> str:
        tok = self.next()
        if tok.kind != "str":
            raise SqlError(f"Expected {what} (a quoted string) at position {tok.pos}, found {tok.text!r}.")
        return tok.text

    def integer(self, what: str) -> int:
        tok = self.next()
        if tok.kind != "num" or not tok.text.isdigit():
            raise SqlError(f"Expected {what} (a whole number) at position {tok.pos}, found {tok.text!r}.")
        return int(tok.text)

    def end(self) -> None:
        self.accept(";")
        if self.peek().kind != "end":
            raise self.fail("the end of the statement")

    # statements

    def statement(self) -> n.Statement:
        tok = self.peek()
        word = tok.upper if tok.kind == "id" else ""
        stmt: n.Statement
        if self.accept("CREATE"):
            stmt = self.create()
        elif self.accept("INSERT"):
            stmt = self.insert()
        elif self.accept("DROP"):
            stmt = self.drop()
        elif self.accept("SHOW", "LIST"):
            stmt = self.show()
        elif self.accept("TERMINATE"):
            stmt = n.Terminate(None if self.accept("ALL") else self.ident("a query id"))
        elif self.at("PAUSE", "RESUME"):
            action = self.next().upper
            stmt = n.PauseResume(action, None if self.accept("ALL") else self.ident("a query id"))  # type: ignore[arg-type]
        elif self.accept("DESCRIBE"):
            stmt = self.describe()
        elif self.accept("EXPLAIN"):
            stmt = n.Explain(self.ident("a query id"))
        elif self.accept("SET"):
            name = self.string("a property name")
            self.expect("=")
            stmt = n.SetProperty(name, self.string("a property value"))
        elif self.accept("UNSET"):
            stmt = n.UnsetProperty(self.string("a property name"))
        elif self.accept("DEFINE"):
            name = self.ident("a variable name")
            self.expect("=")
            stmt = n.Define(name, self.string("a variable value"))
        elif self.accept("UNDEFINE"):
            stmt = n.Undefine(self.ident("a variable name"))
        elif self.accept("PRINT"):
            stmt = self.print_()
        elif self.accept("ASSERT"):
            stmt = self.assert_topic()
        elif self.at("SELECT"):
            stmt = n.Query(self.select())
        else:
            if word in UNSUPPORTED:
                raise self.fail("a statement")
            raise SqlError(
                f"Unsupported statement starting with {tok.text!r}.",
                hint="Supported: CREATE STREAM/TABLE [AS SELECT], CREATE TYPE, INSERT INTO, DROP, TERMINATE, "
                "PAUSE, RESUME, SHOW/LIST, DESCRIBE, EXPLAIN, SET, UNSET, DEFINE, UNDEFINE, PRINT, ASSERT TOPIC, "
                "SELECT.",
            )
        self.end()
        return stmt

    def create(self) -> n.Statement:
        or_replace = False
        if self.accept("OR"):
            self.expect("REPLACE")
            or_replace = True
        read_only = self.accept("SOURCE")
        if self.at("SINK", "CONNECTOR") or (read_only and self.at("CONNECTOR")):
            raise SqlError(f"Unsupported construct: {UNSUPPORTED['CONNECTOR']}.")
        if self.accept("TYPE"):
            name = self.ident("a type name")
            self.expect("AS")
            return n.CreateType(name, self.type_())
        kind = self.peek().upper
        if kind not in ("STREAM", "TABLE"):
            raise self.fail("STREAM, TABLE or TYPE")
        self.next()
        if_not_exists = False
        if self.accept("IF"):
            self.expect("NOT")
            self.expect("EXISTS")
            if_not_exists = True
        name = self.ident("a stream or table name")
        columns: list[n.ColumnDef] = []
        if self.accept("("):
            while True:
                col = self.ident("a column name")
                ctype = self.type_()
                key = headers = False
                if self.accept("PRIMARY"):
                    self.expect("KEY")
                    key = True
                elif self.accept("KEY"):
                    key = True
                elif self.accept("HEADERS", "HEADER"):
                    headers = True
                    if self.accept("("):
                        self.string("a header name")
                        self.expect(")")
                columns.append(n.ColumnDef(col, ctype, key, headers))
                if self.accept(")"):
                    break
                self.expect(",")
        props: dict[str, Any] = {}
        if self.accept("WITH"):
            props = self.with_props()
        if self.accept("AS"):
            if columns:
                raise SqlError("CREATE ... AS SELECT takes no column list.")
            if read_only:
                raise SqlError("CREATE SOURCE ... AS SELECT is not valid: a source table reads a topic as it is.")
            return n.CreateAs(kind, name, props, self.select(), if_not_exists, or_replace)  # type: ignore[arg-type]
        return n.CreateSource(kind, name, columns, props, if_not_exists, or_replace, read_only)  # type: ignore[arg-type]

    def type_(self) -> t.SqlType:
        tok = self.peek()
        if tok.kind not in ("id", "qid"):
            raise self.fail("a type")
        name = self.next().text.upper() if tok.kind == "id" else self.next().text
        if name == "DECIMAL":
            self.expect("(")
            precision = self.integer("the precision")
            self.expect(",")
            scale = self.integer("the scale")
            self.expect(")")
            if precision < 1 or scale > precision:
                raise SqlError(f"DECIMAL({precision}, {scale}): the precision must be >= 1 and >= the scale.")
            return t.decimal(precision, scale)
        if name == "ARRAY":
            self.expect("<")
            element = self.type_()
            self.expect(">")
            return t.array(element)
        if name == "MAP":
            self.expect("<")
            key = self.type_()
            self.expect(",")
            value = self.type_()
            self.expect(">")
            if key.base != "STRING":
                raise SqlError(f"MAP keys must be STRING, not {key.text()}.")
            return t.map_of(key, value)
        if name == "STRUCT":
            self.expect("<")
            fields: list[tuple[str, t.SqlType]] = []
            if not self.accept(">"):
                while True:
                    fname = self.ident("a field name")
                    fields.append((fname, self.type_()))
                    if self.accept(">"):
                        break
                    self.expect(",")
            return t.SqlType("STRUCT", fields=tuple(fields))
        found = t.primitive(name)
        if found is not None:
            if name in ("VARCHAR", "STRING") and self.accept("("):  # VARCHAR(n): the length is ignored, as in ksqlDB
                self.integer("a length")
                self.expect(")")
            return found
        if name in self.custom_types:
            return self.custom_types[name]
        raise SqlError(
            f"Unknown type {tok.text!r}.",
            hint="Use BOOLEAN, INT, BIGINT, DOUBLE, DECIMAL(p, s), STRING/VARCHAR, BYTES, TIMESTAMP, DATE, TIME, "
            "ARRAY<T>, MAP<STRING, T>, STRUCT<name T, ...>, or a type made with CREATE TYPE.",
        )

    def with_props(self) -> dict[str, Any]:
        self.expect("(")
        props: dict[str, Any] = {}
        while True:
            key = self.ident("a property name").upper()
            self.expect("=")
            tok = self.next()
            if tok.kind == "num":
                props[key] = int(float(tok.text)) if "." not in tok.text else float(tok.text)
            elif tok.kind in ("str", "id", "qid"):
                props[key] = tok.text
            else:
                raise SqlError(f"Property {key} needs a value, found {tok.text!r}.")
            if self.accept(")"):
                return props
            self.expect(",")

    def insert(self) -> n.Statement:
        self.expect("INTO")
        target = self.ident("a stream or table name")
        columns: list[str] = []
        if self.accept("("):
            while True:
                columns.append(self.ident("a column name"))
                if self.accept(")"):
                    break
                self.expect(",")
        if self.accept("VALUES"):
            self.expect("(")
            values = [self.expr()]
            while self.accept(","):
                values.append(self.expr())
            self.expect(")")
            return n.InsertValues(target, columns, values)
        if columns:
            raise SqlError("INSERT INTO ... SELECT takes no column list; name the columns in the SELECT.")
        if self.accept("WITH"):
            self.with_props()
        return n.InsertSelect(target, self.select())

    def drop(self) -> n.Statement:
        if self.accept("TYPE"):
            if_exists = self.accept("IF")
            if if_exists:
                self.expect("EXISTS")
            return n.DropType(self.ident("a type name"), if_exists)
        if self.at("CONNECTOR"):
            raise SqlError(f"Unsupported construct: {UNSUPPORTED['CONNECTOR']}.")
        kind = self.peek().upper
        if kind not in ("STREAM", "TABLE"):
            raise self.fail("STREAM, TABLE or TYPE")
        self.next()
        if_exists = False
        if self.accept("IF"):
            self.expect("EXISTS")
            if_exists = True
        name = self.ident()
        delete_topic = False
        if self.accept("DELETE"):
            self.expect("TOPIC")
            delete_topic = True
        return n.Drop(kind, name, if_exists, delete_topic)  # type: ignore[arg-type]

    def show(self) -> n.Statement:
        self.accept("ALL")
        what = self.peek().upper
        if what in UNSUPPORTED:
            raise self.fail("what to show")
        if what not in SHOWABLE:
            raise self.fail("STREAMS, TABLES, QUERIES, TOPICS, PROPERTIES, FUNCTIONS, TYPES or VARIABLES")
        self.next()
        return n.Show(what, self.accept("EXTENDED"))

    def describe(self) -> n.Statement:
        if self.accept("FUNCTION"):
            return n.DescribeFunction(self.ident("a function name"))
        if self.at("CONNECTOR"):
            raise SqlError(f"Unsupported construct: {UNSUPPORTED['CONNECTOR']}.")
        extended = self.accept("EXTENDED")
        if self.at("STREAMS", "TABLES") and (self.peek(1).kind == "end" or self.peek(1).upper in (";", "EXTENDED")):
            what = self.next().upper
            return n.DescribeAll(what, extended or self.accept("EXTENDED"))  # type: ignore[arg-type]
        name = self.ident("a stream or table name")
        return n.Describe(name, extended or self.accept("EXTENDED"))

    def print_(self) -> n.Statement:
        tok = self.next()
        if tok.kind not in ("id", "qid", "str"):
            raise SqlError(f"PRINT needs a topic name at position {tok.pos}.")
        stmt = n.Print(tok.text)
        while not self.at(";") and self.peek().kind != "end":
            if self.accept("FROM"):
                self.expect("BEGINNING")
                stmt.from_beginning = True
            elif self.accept("INTERVAL", "SAMPLE"):
                stmt.interval = max(1, self.integer("the interval"))
            elif self.accept("LIMIT"):
                stmt.limit = self.integer("the limit")
            else:
                raise self.fail("FROM BEGINNING, INTERVAL or LIMIT")
        return stmt

    def assert_topic(self) -> n.Statement:
        exists = not self.accept("NOT")
        if not exists:
            self.expect("EXISTS")
        if not self.accept("TOPIC"):
            raise SqlError("Unsupported construct: ASSERT SCHEMA (only ASSERT [NOT EXISTS] TOPIC).")
        tok = self.next()
        if tok.kind not in ("id", "qid", "str"):
            raise SqlError(f"ASSERT TOPIC needs a topic name at position {tok.pos}.")
        props: dict[str, Any] = {}
        if self.accept("WITH"):
            props = self.with_props()
        timeout = None
        if self.accept("TIMEOUT"):
            timeout = self.duration()
        return n.AssertTopic(tok.text, exists, props, timeout)

    def duration(self) -> int:
        tok = self.next()
        if tok.kind != "num":
            raise SqlError(f"Expected a duration like '5 MINUTES' at position {tok.pos}, found {tok.text!r}.")
        unit = self.peek().upper
        if unit not in UNITS:
            raise self.fail("a time unit (MILLISECONDS, SECONDS, MINUTES, HOURS, DAYS)")
        self.next()
        return int(float(tok.text) * UNITS[unit])

    def window(self) -> n.WindowClause:
        kind = self.peek().upper
        if kind not in ("TUMBLING", "HOPPING", "SESSION"):
            raise self.fail("TUMBLING, HOPPING or SESSION")
        self.next()
        self.expect("(")
        size = advance = grace = retention = None
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
            elif self.accept("RETENTION"):
                retention = self.duration()
            else:
                raise self.fail("SIZE, ADVANCE BY, GRACE PERIOD or RETENTION")
        if size is None:
            raise SqlError(f"A {kind} window needs a SIZE.")
        if kind == "HOPPING" and advance is None:
            raise SqlError("A HOPPING window needs ADVANCE BY.")
        if advance is not None and advance > size:
            raise SqlError("A HOPPING window's ADVANCE BY cannot be longer than its SIZE.")
        return n.WindowClause(kind.lower(), size, advance, grace, retention)  # type: ignore[arg-type]

    def select(self) -> n.Select:
        self.expect("SELECT")
        self.accept("ALL")
        if self.at("DISTINCT"):
            raise SqlError("Unsupported construct: SELECT DISTINCT (use GROUP BY).")
        items: list[n.SelectItem] = []
        while True:
            if self.accept("*"):
                items.append(n.SelectItem(None, star="*"))
            elif self.peek().kind in ("id", "qid") and self.peek(1).text == "." and self.peek(2).text == "*":
                qualifier = self.ident()
                self.next()
                self.next()
                items.append(n.SelectItem(None, star=qualifier))
            else:
                expr = self.expr()
                alias = None
                if self.accept("AS") or (self.peek().kind in ("id", "qid") and not self.at("FROM")):
                    alias = self.ident("an alias")
                items.append(n.SelectItem(expr, alias))
            if not self.accept(","):
                break
        self.expect("FROM")
        source = self.ident("a stream or table name")
        alias = None
        if self.accept("AS") or (self.peek().kind in ("id", "qid") and not self.at(*_CLAUSE_WORDS)):
            alias = self.ident("an alias")
        sel = n.Select(items, source, alias)
        while self.at("LEFT", "INNER", "JOIN", "FULL", "RIGHT", "OUTER"):
            sel.joins.append(self.join())
        for _ in range(2):  # ksqlDB writes WINDOW before WHERE; accept both orders
            if self.accept("WINDOW"):
                if sel.window is not None:
                    raise SqlError("A query has one WINDOW clause.")
                sel.window = self.window()
            if self.accept("WHERE"):
                if sel.where is not None:
                    raise SqlError("A query has one WHERE clause.")
                sel.where = self.expr()
        if self.accept("GROUP"):
            self.expect("BY")
            sel.group_by = self.expr_list()
        if self.accept("HAVING"):
            sel.having = self.expr()
        if self.accept("PARTITION"):
            self.expect("BY")
            sel.partition_by = self.expr_list()
        if self.at("ORDER", "UNION"):
            raise self.fail("EMIT")
        if self.accept("EMIT"):
            what = self.peek().upper
            if what not in ("CHANGES", "FINAL"):
                raise self.fail("CHANGES or FINAL")
            self.next()
            sel.emit = what.lower()  # type: ignore[assignment]
        if self.accept("LIMIT"):
            sel.limit = self.integer("the limit")
        return sel

    def join(self) -> n.JoinClause:
        kind = "inner"
        if self.accept("LEFT"):
            kind = "left"
            self.accept("OUTER")
        elif self.accept("FULL"):
            kind = "full"
            self.accept("OUTER")
        elif self.accept("RIGHT"):
            kind = "right"
            self.accept("OUTER")
        elif self.accept("OUTER"):
            kind = "full"
        else:
            self.accept("INNER")
        self.expect("JOIN")
        source = self.ident("a stream or table name")
        alias = None
        if self.accept("AS") or (self.peek().kind in ("id", "qid") and not self.at("ON", "WITHIN")):
            alias = self.ident("an alias")
        clause = n.JoinClause(kind, source, alias, None)  # type: ignore[arg-type]
        if self.accept("WITHIN"):
            if self.accept("("):
                clause.within_before_ms = self.duration()
                self.expect(",")
                clause.within_after_ms = self.duration()
                self.expect(")")
            else:
                clause.within_before_ms = clause.within_after_ms = self.duration()
            if self.accept("GRACE"):
                self.expect("PERIOD")
                clause.grace_ms = self.duration()
        self.expect("ON")
        clause.on = self.expr()
        return clause

    def expr_list(self) -> list[Any]:
        items = [self.expr()]
        while self.accept(","):
            items.append(self.expr())
        return items

    # expressions

    def expr(self) -> Any:
        return self.or_()

    def or_(self) -> Any:
        left = self.and_()
        while self.accept("OR"):
            left = n.Bin("OR", left, self.and_())
        return left

    def and_(self) -> Any:
        left = self.not_()
        while self.accept("AND"):
            left = n.Bin("AND", left, self.not_())
        return left

    def not_(self) -> Any:
        if self.accept("NOT"):
            return n.Un("NOT", self.not_())
        return self.predicate()

    def predicate(self) -> Any:
        left = self.concat()
        if self.at("=", "!=", "<>", "<", "<=", ">", ">="):
            op = self.next().text
            return n.Bin("<>" if op == "!=" else op, left, self.concat())
        if self.accept("IS"):
            negated = self.accept("NOT")
            if self.accept("DISTINCT"):
                self.expect("FROM")
                return n.IsDistinct(left, self.concat(), negated)
            self.expect("NULL")
            return n.IsNull(left, negated)
        negated = self.accept("NOT")
        if self.accept("IN"):
            self.expect("(")
            items = [self.concat()]
            while self.accept(","):
                items.append(self.concat())
            self.expect(")")
            return n.InList(left, items, negated)
        if self.accept("BETWEEN"):
            low = self.concat()
            self.expect("AND")
            high = self.concat()
            return n.Between(left, low, high, negated)
        if self.accept("LIKE"):
            pattern = self.concat()
            escape = self.string("an escape character") if self.accept("ESCAPE") else None
            return n.Like(left, pattern, negated, escape)
        if negated:
            raise self.fail("IN, BETWEEN or LIKE after NOT")
        return left

    def concat(self) -> Any:
        left = self.additive()
        while self.accept("||"):
            left = n.Bin("||", left, self.additive())
        return left

    def additive(self) -> Any:
        left = self.term()
        while self.at("+", "-"):
            left = n.Bin(self.next().text, left, self.term())
        return left

    def term(self) -> Any:
        left = self.unary()
        while self.at("*", "/", "%"):
            left = n.Bin(self.next().text, left, self.unary())
        return left

    def unary(self) -> Any:
        if self.accept("-"):
            inner = self.unary()
            if isinstance(inner, n.Lit) and inner.kind in ("int", "decimal", "double"):
                return n.Lit(-inner.value, inner.kind, "-" + inner.text)
            return n.Un("-", inner)
        if self.accept("+"):
            return self.unary()
        return self.postfix()

    def postfix(self) -> Any:
        expr = self.primary()
        while True:
            if self.accept("["):
                expr = n.Subscript(expr, self.expr())
                self.expect("]")
            elif self.accept("->"):
                expr = n.Deref(expr, self.ident("a field name"))
            else:
                return expr

    def number(self, tok: Tok) -> n.Lit:
        text = tok.text
        if "e" in text.lower():
            return n.Lit(float(text), "double", text)
        if "." in text:
            try:
                return n.Lit(Decimal(text), "decimal", text)
            except InvalidOperation:
                raise SqlError(f"Bad number {text!r}.") from None
        value = int(text)
        return n.Lit(value, "int" if value <= 2_147_483_647 else "bigint", text)  # type: ignore[arg-type]

    def primary(self) -> Any:
        tok = self.peek()
        if tok.kind == "num":
            self.next()
            return self.number(tok)
        if tok.kind == "str":
            self.next()
            return n.Lit(tok.text, "string", tok.text)
        if self.accept("("):
            inner = self.expr()
            self.expect(")")
            return inner
        word = tok.upper if tok.kind == "id" else ""
        if word in ("TRUE", "FALSE"):
            self.next()
            return n.Lit(word == "TRUE", "bool", word)
        if word == "NULL":
            self.next()
            return n.Lit(None, "null", "NULL")
        if word == "CASE":
            self.next()
            return self.case()
        if word == "CAST" and self.peek(1).text == "(":
            self.next()
            self.expect("(")
            inner = self.expr()
            self.expect("AS")
            target = self.type_()
            self.expect(")")
            return n.Cast(inner, target)
        if word == "ARRAY" and self.peek(1).text == "[":
            self.next()
            self.expect("[")
            items = [] if self.at("]") else self.expr_list()
            self.expect("]")
            return n.ArrayCtor(items)
        if word in ("MAP", "STRUCT") and self.peek(1).text == "(":
            self.next()
            self.expect("(")
            pairs: list[tuple[Any, Any]] = []
            if not self.accept(")"):
                while True:
                    key: Any = self.ident("a field name") if word == "STRUCT" else self.expr()
                    self.expect(":=")
                    pairs.append((key, self.expr()))
                    if self.accept(")"):
                        break
                    self.expect(",")
            return n.StructCtor(pairs) if word == "STRUCT" else n.MapCtor(pairs)
        if word in UNSUPPORTED and self.peek(1).text == "(":
            raise self.fail("an expression")
        if tok.kind in ("id", "qid"):
            self.next()
            name = tok.text.upper() if tok.kind == "id" else tok.text
            if tok.kind == "id" and self.accept("("):
                fname = tok.text.upper()
                if self.accept("*"):
                    self.expect(")")
                    return n.Func(fname, [], star=True)
                distinct = self.accept("DISTINCT")
                args: list[Any] = []
                if not self.accept(")"):
                    args = self.expr_list()
                    self.expect(")")
                return n.Func(fname, args, distinct=distinct)
            if self.peek().text == "." and self.peek(1).kind in ("id", "qid"):
                self.next()
                return n.Col(self.ident("a column name"), qualifier=name, quoted=self.toks[self.i - 1].kind == "qid")
            return n.Col(name, quoted=tok.kind == "qid")
        raise self.fail("an expression")

    def case(self) -> Any:
        operand = None if self.at("WHEN") else self.expr()
        whens: list[tuple[Any, Any]] = []
        while self.accept("WHEN"):
            cond = self.expr()
            self.expect("THEN")
            whens.append((cond, self.expr()))
        if not whens:
            raise self.fail("WHEN")
        otherwise = self.expr() if self.accept("ELSE") else None
        self.expect("END")
        return n.Case(whens, otherwise, operand)


def parse(sql: str, types: dict[str, t.SqlType] | None = None) -> n.Statement:
    return Parser(sql, types).statement()
