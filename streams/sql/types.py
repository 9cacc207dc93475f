"""SQL types as ksqlDB has them, their text, and the rules that relate them (widening, comparison, decimals)."""

from __future__ import annotations

from dataclasses import dataclass, field

NUMERIC = ("INT", "BIGINT", "DECIMAL", "DOUBLE")
_ALIASES = {"INTEGER": "INT", "VARCHAR": "STRING"}
PRIMITIVES = ("BOOLEAN", "INT", "BIGINT", "DOUBLE", "DECIMAL", "STRING", "BYTES", "TIMESTAMP", "DATE", "TIME")


@dataclass(frozen=True)
class SqlType:
    base: str  # BOOLEAN INT BIGINT DOUBLE DECIMAL STRING BYTES TIMESTAMP DATE TIME ARRAY MAP STRUCT NULL
    precision: int = 0
    scale: int = 0
    element: SqlType | None = None  # ARRAY
    key: SqlType | None = None  # MAP
    value: SqlType | None = None  # MAP
    fields: tuple[tuple[str, SqlType], ...] = field(default_factory=tuple)  # STRUCT

    def text(self) -> str:
        """ksqlDB's spelling, as DESCRIBE and the query header show it."""
        if self.base == "INT":
            return "INTEGER"
        if self.base == "DECIMAL":
            return f"DECIMAL({self.precision}, {self.scale})"
        if self.base == "ARRAY":
            return f"ARRAY<{self.element.text() if self.element else 'STRING'}>"
        if self.base == "MAP":
            return f"MAP<{self.key.text() if self.key else 'STRING'}, {self.value.text() if self.value else 'STRING'}>"
        if self.base == "STRUCT":
            return "STRUCT<" + ", ".join(f"`{n}` {t.text()}" for n, t in self.fields) + ">"
        return self.base

    def spec_text(self) -> str:
        """The text the runner reads (base name first, as SqlTypes.base expects)."""
        if self.base == "DECIMAL":
            return f"DECIMAL({self.precision},{self.scale})"
        return self.text()

    @property
    def numeric(self) -> bool:
        return self.base in NUMERIC

    @property
    def is_null(self) -> bool:
        return self.base == "NULL"

    def field(self, name: str) -> SqlType | None:
        for n, t in self.fields:
            if n.upper() == name.upper():
                return t
        return None


BOOLEAN = SqlType("BOOLEAN")
INT = SqlType("INT")
BIGINT = SqlType("BIGINT")
DOUBLE = SqlType("DOUBLE")
STRING = SqlType("STRING")
BYTES = SqlType("BYTES")
TIMESTAMP = SqlType("TIMESTAMP")
DATE = SqlType("DATE")
TIME = SqlType("TIME")
NULL = SqlType("NULL")


def decimal(precision: int, scale: int) -> SqlType:
    return SqlType("DECIMAL", precision=min(38, max(1, precision)), scale=max(0, min(scale, 38)))


def array(element: SqlType) -> SqlType:
    return SqlType("ARRAY", element=element)


def map_of(key: SqlType, value: SqlType) -> SqlType:
    return SqlType("MAP", key=key, value=value)


def primitive(name: str) -> SqlType | None:
    base = _ALIASES.get(name.upper(), name.upper())
    return SqlType(base) if base in PRIMITIVES and base != "DECIMAL" else None


def as_decimal(t: SqlType) -> SqlType:
    """An integer or decimal as a decimal: INT is DECIMAL(10, 0), BIGINT DECIMAL(19, 0)."""
    if t.base == "INT":
        return decimal(10, 0)
    if t.base == "BIGINT":
        return decimal(19, 0)
    return t


def arithmetic(op: str, a: SqlType, b: SqlType) -> SqlType:
    """The result type of a numeric ``a op b`` (both numeric): DOUBLE wins, then DECIMAL (ksqlDB's precision and
    scale rules), then BIGINT, then INT."""
    if "DOUBLE" in (a.base, b.base):
        return DOUBLE
    if "DECIMAL" in (a.base, b.base):
        x, y = as_decimal(a), as_decimal(b)
        p1, s1, p2, s2 = x.precision, x.scale, y.precision, y.scale
        if op in ("+", "-"):
            scale = max(s1, s2)
            return decimal(max(p1 - s1, p2 - s2) + scale + 1, scale)
        if op == "*":
            return decimal(p1 + p2 + 1, s1 + s2)
        if op == "/":
            scale = max(6, s1 + p2 + 1)
            return decimal(p1 - s1 + s2 + scale, scale)
        scale = max(s1, s2)
        return decimal(min(p1 - s1, p2 - s2) + scale, scale)
    if "BIGINT" in (a.base, b.base):
        return BIGINT
    return INT


def common(types: list[SqlType]) -> SqlType | None:
    """The type several values widen to (numbers widen; NULL joins anything), or None when they do not mix."""
    known = [t for t in types if not t.is_null]
    if not known:
        return NULL
    first = known[0]
    if all(t.numeric for t in known):
        out = first
        for t in known[1:]:
            out = arithmetic("+", out, t) if out.base == "DECIMAL" or t.base == "DECIMAL" else _wider(out, t)
        return out
    if all(t == first for t in known):
        return first
    if all(t.base == first.base for t in known) and first.base in ("ARRAY", "MAP", "STRUCT"):
        return first
    return None


def _wider(a: SqlType, b: SqlType) -> SqlType:
    order = {"INT": 0, "BIGINT": 1, "DECIMAL": 2, "DOUBLE": 3}
    return a if order[a.base] >= order[b.base] else b


def assignable(value: SqlType, target: SqlType) -> bool:
    """Whether a value of one type can be written to a column of another without loss (INSERT)."""
    if value.is_null or value == target:
        return True
    if value.base == target.base and value.base not in ("DECIMAL",):
        return True
    if value.numeric and target.numeric:
        order = {"INT": 0, "BIGINT": 1, "DECIMAL": 2, "DOUBLE": 3}
        return order[value.base] <= order[target.base]
    return value.base == "STRING" and target.base in ("TIMESTAMP", "DATE", "TIME")
