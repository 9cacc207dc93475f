"""Validation of the CEL subset that stream specs may use, before a runner is launched.

The runner evaluates expressions with Google's CEL (``dev.cel:cel``), which is safe (no loops, no side effects) by
design. This module accepts only a documented subset, so mistakes are reported here with a position rather than in a
JVM log, and comprehension macros are refused outright:

- variables ``key``, ``value`` (the record), and in a join's ``select`` also ``left`` and ``right``;
- literals: numbers, single- or double-quoted strings, ``true``, ``false``, ``null``, lists ``[..]``, maps ``{k: v}``;
- field access ``value.user_id``, indexing ``value["user-id"]``, ``value.items[0]``;
- operators ``! - * / % + - < <= > >= == != in && || ?:``;
- functions ``size has int double string`` and methods ``startsWith endsWith contains matches size``.

Each expression also gets a static type (bool, int, double, string, list, map, null, or dyn when it depends on the
record), so a filter whose expression can only be a number or a string (``value.amount + 1``) is refused here: it
would drop every record at run time. A filter typed dyn (``value.flag``) is checked per record by the runner, which
counts a non-boolean result as a failed record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import InvalidArgument

VARIABLES = frozenset({"key", "value", "left", "right"})
FUNCTIONS = frozenset({"size", "has", "int", "double", "string"})
METHODS = frozenset({"startsWith", "endsWith", "contains", "matches", "size"})
MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
MAX_LENGTH = 2000
MAX_DEPTH = 40

_TOKEN = re.compile(
    r"""\s*(?:
    (?P<num>\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|0x[0-9a-fA-F]+u?|\d+u?)
  | (?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>&&|\|\||==|!=|<=|>=|[-+*/%<>!?:.,()\[\]{}])
    )""",
    re.VERBOSE,
)


@dataclass
class _Tok:
    kind: str
    text: str
    pos: int


class CelSyntaxError(InvalidArgument, ValueError):
    """An expression outside the supported CEL subset, with the position of the problem."""


def _tokenize(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    while i < len(src):
        if src[i:].strip() == "":
            break
        m = _TOKEN.match(src, i)
        if m is None or m.end() == i:
            raise CelSyntaxError(f"unexpected character {src[i:].lstrip()[:1]!r} at position {i}")
        kind = m.lastgroup or "op"
        text = m.group(kind)
        toks.append(_Tok(kind, text, m.start(kind)))
        i = m.end()
    toks.append(_Tok("end", "", len(src)))
    return toks


class _Parser:
    def __init__(self, src: str, variables: frozenset[str]) -> None:
        self.src = src
        self.toks = _tokenize(src)
        self.i = 0
        self.depth = 0
        self.variables = variables

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def accept(self, text: str) -> bool:
        if self.peek().kind in ("op", "ident") and self.peek().text == text:
            self.i += 1
            return True
        return False

    def expect(self, text: str) -> None:
        tok = self.peek()
        if not self.accept(text):
            found = tok.text or "the end"
            raise CelSyntaxError(f"expected {text!r} at position {tok.pos}, found {found!r}")

    def parse(self) -> str:
        kind = self.expr()
        tok = self.peek()
        if tok.kind != "end":
            raise CelSyntaxError(f"unexpected {tok.text!r} at position {tok.pos}")
        return kind

    def expr(self) -> str:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise CelSyntaxError(f"the expression nests deeper than {MAX_DEPTH} levels")
        kind = self.binary(0)
        if self.accept("?"):
            a = self.expr()
            self.expect(":")
            b = self.expr()
            kind = a if a == b else "dyn" if "dyn" in (a, b) or "bool" in (a, b) else "nonbool"
        self.depth -= 1
        return kind

    _LEVELS: tuple[frozenset[str], ...] = (
        frozenset({"||"}),
        frozenset({"&&"}),
        frozenset({"==", "!=", "<", "<=", ">", ">=", "in"}),
        frozenset({"+", "-"}),
        frozenset({"*", "/", "%"}),
    )

    def binary(self, level: int) -> str:
        if level == len(self._LEVELS):
            return self.unary()
        kind = self.binary(level + 1)
        while self.peek().kind in ("op", "ident") and self.peek().text in self._LEVELS[level]:
            op = self.next().text
            right = self.binary(level + 1)
            kind = _result(op, kind, right)
        return kind

    def unary(self) -> str:
        ops = []
        while True:
            if self.accept("!"):
                ops.append("!")
            elif self.accept("-"):
                ops.append("-")
            else:
                break
        kind = self.member()
        for op in reversed(ops):
            kind = "bool" if op == "!" else (kind if kind in _NUMERIC else "number")
        return kind

    def args(self) -> int:
        count = 0
        if self.accept(")"):
            return 0
        while True:
            self.expr()
            count += 1
            if self.accept(")"):
                return count
            self.expect(",")

    def member(self) -> str:
        kind = self.primary()
        while True:
            if self.accept("."):
                tok = self.next()
                if tok.kind != "ident":
                    raise CelSyntaxError(f"expected a field name after '.' at position {tok.pos}")
                kind = "dyn"
                if self.accept("("):
                    if tok.text in MACROS:
                        raise CelSyntaxError(
                            f"the macro {tok.text}() at position {tok.pos} is not in the supported subset "
                            "(no comprehensions)"
                        )
                    if tok.text not in METHODS:
                        raise CelSyntaxError(
                            f"unknown method {tok.text}() at position {tok.pos}; "
                            f"supported: {', '.join(sorted(METHODS))}"
                        )
                    self.args()
                    kind = "int" if tok.text == "size" else "bool"
            elif self.accept("["):
                self.expr()
                self.expect("]")
                kind = "dyn"
            else:
                return kind

    def primary(self) -> str:
        tok = self.next()
        if tok.kind == "num":
            return "double" if "." in tok.text or ("e" in tok.text.lower() and not tok.text.startswith("0x")) else "int"
        if tok.kind == "str":
            return "string"
        if tok.kind == "ident":
            if tok.text in ("true", "false"):
                return "bool"
            if tok.text == "null":
                return "null"
            if self.accept("("):
                if tok.text in MACROS:
                    raise CelSyntaxError(f"the macro {tok.text}() is not in the supported subset")
                if tok.text not in FUNCTIONS:
                    raise CelSyntaxError(
                        f"unknown function {tok.text}() at position {tok.pos}; "
                        f"supported: {', '.join(sorted(FUNCTIONS))}"
                    )
                if tok.text == "has":
                    start = self.i
                    self.expr()
                    last = self.toks[self.i - 1]
                    if self.i - start < 3 or self.toks[self.i - 2].text != "." or last.kind != "ident":
                        raise CelSyntaxError(f"has() at position {tok.pos} takes a field selection like value.x")
                    self.expect(")")
                    return "bool"
                self.args()
                return {"size": "int", "int": "int", "double": "double", "string": "string"}.get(tok.text, "dyn")
            if tok.text not in self.variables:
                raise CelSyntaxError(
                    f"unknown name {tok.text!r} at position {tok.pos}; "
                    f"use {', '.join(sorted(self.variables))} (e.g. value.{tok.text})"
                )
            return "dyn"
        if tok.text == "(":
            kind = self.expr()
            self.expect(")")
            return kind
        if tok.text == "[":
            if self.accept("]"):
                return "list"
            while True:
                self.expr()
                if self.accept("]"):
                    return "list"
                self.expect(",")
        if tok.text == "{":
            if self.accept("}"):
                return "map"
            while True:
                self.expr()
                self.expect(":")
                self.expr()
                if self.accept("}"):
                    return "map"
                self.expect(",")
        raise CelSyntaxError(f"unexpected {tok.text or 'end of expression'!r} at position {tok.pos}")


_NUMERIC = frozenset({"int", "double"})
_KIND_NAMES = {
    "int": "a whole number",
    "double": "a number",
    "string": "a string",
    "list": "a list",
    "map": "a map",
    "null": "null",
    "number": "a number",
    "nonbool": "a number, string or list (arithmetic)",
}


def _result(op: str, left: str, right: str) -> str:
    """The static type of ``left op right`` (dyn when it depends on the record)."""
    if op in ("&&", "||", "==", "!=", "<", "<=", ">", ">=", "in"):
        return "bool"
    if op == "+" and left == right and left in ("string", "list"):
        return left
    if left in _NUMERIC and right in _NUMERIC:
        return "double" if "double" in (left, right) else "int"
    # arithmetic never yields a boolean, whatever the record holds
    return "number" if op != "+" else "nonbool"


def infer(expr: str, *, variables: frozenset[str] = VARIABLES) -> str:
    """The static type of a valid expression: bool, int, double, string, list, map, null or dyn."""
    return _Parser(expr.strip(), variables).parse()


def validate(
    expr: str, *, where: str = "expression", variables: frozenset[str] = VARIABLES, boolean: bool = False
) -> str:
    """The expression, stripped, if it is in the subset; else ``CelSyntaxError`` naming ``where`` and the problem.
    ``boolean``: the expression is a condition (a filter), so one that can only be a number, string, list or map is
    refused."""
    src = expr.strip()
    if not src:
        raise CelSyntaxError(f"{where}: the expression is empty")
    if len(src) > MAX_LENGTH:
        raise CelSyntaxError(f"{where}: the expression is longer than {MAX_LENGTH} characters")
    try:
        kind = _Parser(src, variables).parse()
    except CelSyntaxError as exc:
        raise CelSyntaxError(
            f"{where}: {exc.message} in {src!r}",
            hint="Expressions use a CEL subset: key, value.field, literals, arithmetic, comparisons, && || !, "
            "?:, in, size/has/int/double/string and startsWith/endsWith/contains/matches.",
        ) from None
    if boolean and kind not in ("bool", "dyn"):
        raise CelSyntaxError(
            f"{where}: {src!r} is {_KIND_NAMES.get(kind, kind)}, not a condition (true or false), so it would "
            "drop every record.",
            hint=f"Compare it, e.g. {src} > 0, or test a field, e.g. has(value.x).",
        )
    return src
