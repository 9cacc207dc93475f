"""ksqlDB's built-in functions: the scalar ones (their argument types, result type and, for push queries evaluated
here, their implementation, which mirrors the runner's ``SqlFunctions.java``) and the aggregate ones (compiled to the
runner's aggregations).

NULL arguments give NULL, except where ksqlDB says otherwise: CONCAT and CONCAT_WS skip them; COALESCE, IFNULL,
GREATEST and LEAST look past them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from streams.sql import types as t
from streams.sql.lexer import SqlError

TypeRule = Callable[[list[t.SqlType]], t.SqlType]


@dataclass(frozen=True)
class Function:
    name: str
    min_args: int
    max_args: int
    rule: TypeRule
    impl: Callable[[list[Any]], Any]
    category: str
    description: str
    null_safe: bool = False  # the implementation handles NULL arguments itself


def _bad(name: str, types: list[t.SqlType]) -> SqlError:
    shown = ", ".join(x.text() for x in types)
    return SqlError(f"Function '{name}' does not accept parameters ({shown}).", hint=f"DESCRIBE FUNCTION {name};")


def _need(name: str, types: list[t.SqlType], *allowed: tuple[str, ...]) -> None:
    for i, ty in enumerate(types):
        kinds = allowed[min(i, len(allowed) - 1)]
        if not ty.is_null and ty.base not in kinds:
            raise _bad(name, types)


_NUM = ("INT", "BIGINT", "DOUBLE", "DECIMAL")
_INTS = ("INT", "BIGINT")
_STR = ("STRING",)


def _same_numeric(name: str) -> TypeRule:
    def rule(types: list[t.SqlType]) -> t.SqlType:
        _need(name, types, _NUM)
        return types[0] if not types[0].is_null else t.INT

    return rule


def _returns(result: t.SqlType, name: str, *allowed: tuple[str, ...]) -> TypeRule:
    def rule(types: list[t.SqlType]) -> t.SqlType:
        _need(name, types, *allowed)
        return result

    return rule


def _common(name: str) -> TypeRule:
    def rule(types: list[t.SqlType]) -> t.SqlType:
        found = t.common(types)
        if found is None:
            raise SqlError(
                f"Function '{name}' needs arguments of one type, not ({', '.join(x.text() for x in types)})."
            )
        return found

    return rule


def _round_rule(types: list[t.SqlType]) -> t.SqlType:
    _need("ROUND", types, _NUM, _INTS)
    x = types[0]
    if x.base == "DOUBLE":
        return t.BIGINT if len(types) == 1 else t.DOUBLE
    if x.base == "DECIMAL":
        return t.decimal(x.precision, 0) if len(types) == 1 else x
    return x if not x.is_null else t.BIGINT


def _ceil_rule(name: str) -> TypeRule:
    def rule(types: list[t.SqlType]) -> t.SqlType:
        _need(name, types, _NUM)
        x = types[0]
        return t.decimal(x.precision, 0) if x.base == "DECIMAL" else x

    return rule


def _array_rule(name: str, result: t.SqlType | None) -> TypeRule:
    def rule(types: list[t.SqlType]) -> t.SqlType:
        if types[0].base not in ("ARRAY", "NULL"):
            raise _bad(name, types)
        return result if result is not None else types[0]

    return rule


# --- implementations (Python mirrors of SqlFunctions.java) ---------------------------------------------------------


def _sign(x: Any, y: Any) -> int:
    return int(x > y) - int(x < y)


def _java_compare(a: Any, b: Any) -> int:
    if isinstance(a, bool) or isinstance(b, bool):
        return _sign(a, b)
    if isinstance(a, int | float | Decimal) and isinstance(b, int | float | Decimal):
        if isinstance(a, Decimal) or isinstance(b, Decimal):
            return _sign(_dec(a), _dec(b))
        return _sign(a, b)
    if type(a) is type(b):
        return _sign(a, b)
    if a == b:
        return 0
    raise ValueError(f"cannot compare {a!r} with {b!r}")


def _dec(v: Any) -> Decimal:
    return v if isinstance(v, Decimal) else Decimal(repr(v)) if isinstance(v, float) else Decimal(v)


def _abs(a: list[Any]) -> Any:
    return abs(a[0])


def _ceil_floor(up: bool) -> Callable[[list[Any]], Any]:
    def impl(a: list[Any]) -> Any:
        v = a[0]
        if isinstance(v, Decimal):
            return v.quantize(Decimal(1), rounding=ROUND_CEILING if up else ROUND_FLOOR)
        if isinstance(v, float):
            return float(math.ceil(v) if up else math.floor(v))
        return v

    return impl


def _round(a: list[Any]) -> Any:
    v = a[0]
    if len(a) == 1:
        if isinstance(v, Decimal):
            return v.quantize(Decimal(1), rounding=ROUND_HALF_UP)
        if isinstance(v, float):
            return math.floor(v + 0.5)  # Java's Math.round
        return v
    places = int(a[1])
    exp = Decimal(1).scaleb(-places)
    if isinstance(v, Decimal):
        return v.quantize(exp, rounding=ROUND_HALF_UP)
    if isinstance(v, float):
        return float(Decimal(repr(v)).quantize(exp, rounding=ROUND_HALF_UP))
    return v


def _substring(a: list[Any]) -> Any:
    s, pos = a[0], int(a[1])
    n = len(s)
    start = min(pos - 1, n) if pos > 0 else max(n + pos, 0) if pos < 0 else 0
    end = min(start + max(0, int(a[2])), n) if len(a) > 2 else n
    return s[start:end]


def _instr(a: list[Any]) -> Any:
    s, sub = a[0], a[1]
    position = int(a[2]) if len(a) > 2 else 1
    occurrence = int(a[3]) if len(a) > 3 else 1
    found = -1
    if position > 0:
        start = position - 1
        for _ in range(occurrence):
            found = s.find(sub, start)
            if found < 0:
                break
            start = found + 1
    elif position < 0:
        start = len(s) + position
        for _ in range(occurrence):
            found = s.rfind(sub, 0, start + len(sub)) if start >= 0 else -1
            if found < 0:
                break
            start = found - 1
    return found + 1


def _pad(left: bool) -> Callable[[list[Any]], Any]:
    def impl(a: list[Any]) -> Any:
        s, length, pad = a[0], int(a[1]), a[2]
        if length < 0 or (pad == "" and length > len(s)):
            return None
        if length <= len(s):
            return s[:length]
        fill = (pad * (length - len(s)))[: length - len(s)]
        return fill + s if left else s + fill

    return impl


def _initcap(a: list[Any]) -> Any:
    out, start = [], True
    for ch in a[0]:
        if ch.isspace():
            start = True
            out.append(ch)
        else:
            out.append(ch.upper() if start else ch.lower())
            start = False
    return "".join(out)


def _split(a: list[Any]) -> Any:
    s, d = a[0], a[1]
    return list(s) if d == "" else s.split(d)


def _regexp_extract(a: list[Any]) -> Any:
    m = re.search(a[0], a[1])
    group = int(a[2]) if len(a) > 2 else 0
    return m.group(group) if m and group <= (m.re.groups or 0) else None


def _extract_json(a: list[Any]) -> Any:
    try:
        node: Any = json.loads(a[0])
    except ValueError:
        return None
    path = str(a[1]).strip()
    if not path.startswith("$"):
        return None
    for m in re.finditer(r"\.([A-Za-z0-9_\-]+)|\[(\d+)\]|\['([^']+)'\]", path[1:]):
        if node is None:
            return None
        if m.group(2) is not None:
            node = node[int(m.group(2))] if isinstance(node, list) and int(m.group(2)) < len(node) else None
        else:
            key = m.group(1) or m.group(3)
            node = node.get(key) if isinstance(node, dict) else None
    if node is None:
        return None
    return node if isinstance(node, str) else json.dumps(node, separators=(",", ":"))


def _concat(a: list[Any]) -> Any:
    return "".join(str(x) for x in a if x is not None)


def _concat_ws(a: list[Any]) -> Any:
    if a[0] is None:
        return None
    return str(a[0]).join(str(x) for x in a[1:] if x is not None)


def _coalesce(a: list[Any]) -> Any:
    return next((x for x in a if x is not None), None)


def _nullif(a: list[Any]) -> Any:
    return None if a[0] is not None and a[1] is not None and _java_compare(a[0], a[1]) == 0 else a[0]


def _extreme(greatest: bool) -> Callable[[list[Any]], Any]:
    def impl(a: list[Any]) -> Any:
        best = None
        for x in a:
            if x is not None and (
                best is None or ((_java_compare(x, best) > 0) == greatest and _java_compare(x, best))
            ):
                best = x
        return best

    return impl


def _array_join(a: list[Any]) -> Any:
    d = a[1] if len(a) > 1 else ","
    return d.join("null" if x is None else str(x) for x in a[0])


def _array_contains(a: list[Any]) -> Any:
    return any(x is not None and _java_compare(x, a[1]) == 0 for x in a[0])


# Java DateTimeFormatter patterns, the common letters: enough for the documented examples.
_JAVA_TOKEN = re.compile(r"'[^']*'|([A-Za-z])\1*|.", re.DOTALL)


def _zone(name: str | None) -> Any:
    return UTC if name in (None, "UTC", "Z") else ZoneInfo(str(name))


def java_format(moment: datetime, pattern: str) -> str:
    out = []
    for m in _JAVA_TOKEN.finditer(pattern):
        tok = m.group(0)
        if tok.startswith("'"):
            out.append(tok[1:-1] or "'")
            continue
        ch, width = tok[0], len(tok)
        if ch == "y":
            out.append(f"{moment.year % 100:02d}" if width == 2 else f"{moment.year:0{width}d}")
        elif ch == "M":
            out.append(moment.strftime("%B" if width == 4 else "%b") if width >= 3 else f"{moment.month:0{width}d}")
        elif ch == "d":
            out.append(f"{moment.day:0{width}d}")
        elif ch == "H":
            out.append(f"{moment.hour:0{width}d}")
        elif ch == "h":
            out.append(f"{(moment.hour % 12) or 12:0{width}d}")
        elif ch == "m":
            out.append(f"{moment.minute:0{width}d}")
        elif ch == "s":
            out.append(f"{moment.second:0{width}d}")
        elif ch == "S":
            out.append(f"{moment.microsecond // 1000:03d}"[:width].ljust(width, "0"))
        elif ch == "a":
            out.append("AM" if moment.hour < 12 else "PM")
        elif ch == "E":
            out.append(moment.strftime("%A" if width >= 4 else "%a"))
        elif ch in "XZx":
            offset = moment.utcoffset() or timedelta(0)
            if ch == "X" and offset == timedelta(0):
                out.append("Z")
            else:
                total = int(offset.total_seconds() // 60)
                sign = "+" if total >= 0 else "-"
                hh, mm = divmod(abs(total), 60)
                out.append(f"{sign}{hh:02d}:{mm:02d}" if width >= 3 or ch == "X" else f"{sign}{hh:02d}{mm:02d}")
        else:
            out.append(tok)
    return "".join(out)


def java_parse(text: str, pattern: str, zone: Any) -> datetime:
    regex, fields = "", []
    for m in _JAVA_TOKEN.finditer(pattern):
        tok = m.group(0)
        if tok.startswith("'"):
            regex += re.escape(tok[1:-1] or "'")
            continue
        ch, width = tok[0], len(tok)
        if ch in "yMdHhmsS":
            regex += rf"(\d{{{width if ch != 'y' or width != 4 else 4}}})" if ch != "y" or width == 2 else r"(\d{4})"
            fields.append(ch)
        elif ch == "a":
            regex += "(AM|PM)"
            fields.append("a")
        else:
            regex += re.escape(tok)
    found = re.fullmatch(regex, text)
    if found is None:
        raise ValueError(f"{text!r} does not match the pattern {pattern!r}")
    parts = dict(zip(fields, found.groups(), strict=False))
    year = int(parts.get("y", 1970))
    hour = int(parts.get("H", parts.get("h", 0)))
    if parts.get("a") == "PM" and hour < 12:
        hour += 12
    return datetime(
        year if year >= 100 else 2000 + year,
        int(parts.get("M", 1)),
        int(parts.get("d", 1)),
        hour,
        int(parts.get("m", 0)),
        int(parts.get("s", 0)),
        int(parts.get("S", "0").ljust(3, "0")[:3]) * 1000,
        tzinfo=zone,
    )


def _ts_to_string(a: list[Any]) -> Any:
    zone = _zone(a[2] if len(a) > 2 else None)
    return java_format(datetime.fromtimestamp(int(a[0]) / 1000, UTC).astimezone(zone), a[1])


def _string_to_ts(a: list[Any]) -> Any:
    zone = _zone(a[2] if len(a) > 2 else None)
    return int(java_parse(a[0], a[1], zone).timestamp() * 1000)


def _date_to_string(a: list[Any]) -> Any:
    d = date(1970, 1, 1) + timedelta(days=int(a[0]))
    return java_format(datetime(d.year, d.month, d.day, tzinfo=UTC), a[1])


def _string_to_date(a: list[Any]) -> Any:
    return (java_parse(a[0], a[1], UTC).date() - date(1970, 1, 1)).days


def _unix_timestamp(a: list[Any]) -> Any:
    return int(datetime.now(UTC).timestamp() * 1000) if not a else (None if a[0] is None else int(a[0]))


SCALARS: dict[str, Function] = {}


def _add(
    name: str,
    lo: int,
    hi: int,
    rule: TypeRule,
    impl: Callable[[list[Any]], Any],
    category: str,
    description: str,
    *,
    null_safe: bool = False,
) -> None:
    SCALARS[name] = Function(name, lo, hi, rule, impl, category, description, null_safe)


_add("ABS", 1, 1, _same_numeric("ABS"), _abs, "MATHEMATICAL", "The absolute value of a number.")
_add("CEIL", 1, 1, _ceil_rule("CEIL"), _ceil_floor(True), "MATHEMATICAL", "The smallest whole value not below x.")
_add("FLOOR", 1, 1, _ceil_rule("FLOOR"), _ceil_floor(False), "MATHEMATICAL", "The largest whole value not above x.")
_add("ROUND", 1, 2, _round_rule, _round, "MATHEMATICAL", "Round half up, to a whole number or n decimal places.")
_add("SQRT", 1, 1, _returns(t.DOUBLE, "SQRT", _NUM), lambda a: math.sqrt(float(a[0])), "MATHEMATICAL", "Square root.")
_add("CBRT", 1, 1, _returns(t.DOUBLE, "CBRT", _NUM), lambda a: math.copysign(abs(float(a[0])) ** (1 / 3), float(a[0])),
     "MATHEMATICAL", "Cube root.")  # fmt: skip
_add("EXP", 1, 1, _returns(t.DOUBLE, "EXP", _NUM), lambda a: math.exp(float(a[0])), "MATHEMATICAL", "e to the x.")
_add("LN", 1, 1, _returns(t.DOUBLE, "LN", _NUM), lambda a: math.log(float(a[0])), "MATHEMATICAL", "Natural log.")
_add("SIGN", 1, 1, _returns(t.INT, "SIGN", _NUM), lambda a: (a[0] > 0) - (a[0] < 0), "MATHEMATICAL", "-1, 0 or 1.")
_add("GREATEST", 1, 99, _common("GREATEST"), _extreme(True), "COMPARISON", "The largest non-null argument.",
     null_safe=True)  # fmt: skip
_add("LEAST", 1, 99, _common("LEAST"), _extreme(False), "COMPARISON", "The smallest non-null argument.", null_safe=True)
_add("UCASE", 1, 1, _returns(t.STRING, "UCASE", _STR), lambda a: a[0].upper(), "STRING", "Upper case.")
_add("LCASE", 1, 1, _returns(t.STRING, "LCASE", _STR), lambda a: a[0].lower(), "STRING", "Lower case.")
_add("LEN", 1, 1, _returns(t.INT, "LEN", _STR), lambda a: len(a[0]), "STRING", "The length of a string.")
_add("CONCAT", 1, 99, _returns(t.STRING, "CONCAT", _STR), _concat, "STRING", "Concatenation; NULLs are skipped.",
     null_safe=True)  # fmt: skip
_add("CONCAT_WS", 2, 99, _returns(t.STRING, "CONCAT_WS", _STR), _concat_ws, "STRING",
     "Concatenation with a separator; NULLs are skipped.", null_safe=True)  # fmt: skip
_add("SUBSTRING", 2, 3, _returns(t.STRING, "SUBSTRING", _STR, _INTS), _substring, "STRING",
     "The part of s from pos (1-based; negative counts from the end), of len characters.")  # fmt: skip
_add("TRIM", 1, 1, _returns(t.STRING, "TRIM", _STR), lambda a: a[0].strip(), "STRING", "Without outer whitespace.")
_add("LTRIM", 1, 1, _returns(t.STRING, "LTRIM", _STR), lambda a: a[0].lstrip(), "STRING", "Without leading spaces.")
_add("RTRIM", 1, 1, _returns(t.STRING, "RTRIM", _STR), lambda a: a[0].rstrip(), "STRING", "Without trailing spaces.")
_add("REPLACE", 3, 3, _returns(t.STRING, "REPLACE", _STR), lambda a: a[0].replace(a[1], a[2]), "STRING",
     "Every occurrence of old replaced by new.")  # fmt: skip
_add("INSTR", 2, 4, _returns(t.INT, "INSTR", _STR, _STR, _INTS), _instr, "STRING",
     "The 1-based position of sub in s (0 when absent).")  # fmt: skip
_add("LPAD", 3, 3, _returns(t.STRING, "LPAD", _STR, _INTS, _STR), _pad(True), "STRING", "Left-padded to a length.")
_add("RPAD", 3, 3, _returns(t.STRING, "RPAD", _STR, _INTS, _STR), _pad(False), "STRING", "Right-padded to a length.")
_add("INITCAP", 1, 1, _returns(t.STRING, "INITCAP", _STR), _initcap, "STRING", "Each word capitalized.")
_add("SPLIT", 2, 2, _returns(t.array(t.STRING), "SPLIT", _STR), _split, "STRING", "The parts between delimiters.")
_add("REGEXP_EXTRACT", 2, 3, _returns(t.STRING, "REGEXP_EXTRACT", _STR, _STR, _INTS), _regexp_extract, "REGEX",
     "The first match of a regular expression (or one of its groups).")  # fmt: skip
_add("REGEXP_REPLACE", 3, 3, _returns(t.STRING, "REGEXP_REPLACE", _STR), lambda a: re.sub(a[1], a[2], a[0]), "REGEX",
     "Every match replaced.")  # fmt: skip
_add("EXTRACTJSONFIELD", 2, 2, _returns(t.STRING, "EXTRACTJSONFIELD", _STR), _extract_json, "JSON",
     "The value at a JSONPath ($.a.b[0]) of a JSON string.")  # fmt: skip
_add("IFNULL", 2, 2, _common("IFNULL"), lambda a: a[0] if a[0] is not None else a[1], "NULL",
     "The first argument, or the second when it is NULL.", null_safe=True)  # fmt: skip
_add("COALESCE", 1, 99, _common("COALESCE"), _coalesce, "NULL", "The first non-NULL argument.", null_safe=True)
_add("NULLIF", 2, 2, lambda ty: ty[0], _nullif, "NULL", "NULL when both are equal, else the first.", null_safe=True)
_add("AS_VALUE", 1, 1, lambda ty: ty[0], lambda a: a[0], "OTHER", "Copies a key column into the value.",
     null_safe=True)  # fmt: skip
_add("ARRAY_LENGTH", 1, 1, _array_rule("ARRAY_LENGTH", t.INT), lambda a: len(a[0]), "ARRAY", "Number of elements.")
_add("ARRAY_CONTAINS", 2, 2, _array_rule("ARRAY_CONTAINS", t.BOOLEAN), _array_contains, "ARRAY",
     "Whether the array holds the value.")  # fmt: skip
_add("ARRAY_JOIN", 1, 2, _array_rule("ARRAY_JOIN", t.STRING), _array_join, "ARRAY", "Elements joined by a delimiter.")
_add("TIMESTAMPTOSTRING", 2, 3, _returns(t.STRING, "TIMESTAMPTOSTRING", _INTS, _STR), _ts_to_string, "DATE / TIME",
     "Epoch milliseconds formatted with a Java pattern, in UTC or a zone.")  # fmt: skip
_add("STRINGTOTIMESTAMP", 2, 3, _returns(t.BIGINT, "STRINGTOTIMESTAMP", _STR), _string_to_ts, "DATE / TIME",
     "A time string parsed with a Java pattern, as epoch milliseconds.")  # fmt: skip
_add("FORMAT_TIMESTAMP", 2, 3, _returns(t.STRING, "FORMAT_TIMESTAMP", ("TIMESTAMP",), _STR), _ts_to_string,
     "DATE / TIME", "A TIMESTAMP formatted with a Java pattern.")  # fmt: skip
_add("PARSE_TIMESTAMP", 2, 3, _returns(t.TIMESTAMP, "PARSE_TIMESTAMP", _STR), _string_to_ts, "DATE / TIME",
     "A time string parsed with a Java pattern, as a TIMESTAMP.")  # fmt: skip
_add("FROM_UNIXTIME", 1, 1, _returns(t.TIMESTAMP, "FROM_UNIXTIME", _INTS), lambda a: int(a[0]), "DATE / TIME",
     "Epoch milliseconds as a TIMESTAMP.")  # fmt: skip
_add("UNIX_TIMESTAMP", 0, 1, _returns(t.BIGINT, "UNIX_TIMESTAMP", ("TIMESTAMP",)), _unix_timestamp, "DATE / TIME",
     "Now, or a TIMESTAMP, as epoch milliseconds.", null_safe=True)  # fmt: skip
_add("DATETOSTRING", 2, 2, _returns(t.STRING, "DATETOSTRING", _INTS, _STR), _date_to_string, "DATE / TIME",
     "Days since the epoch formatted with a Java pattern.")  # fmt: skip
_add("STRINGTODATE", 2, 2, _returns(t.INT, "STRINGTODATE", _STR), _string_to_date, "DATE / TIME",
     "A date string parsed with a Java pattern, as days since the epoch.")  # fmt: skip
_add("FORMAT_DATE", 2, 2, _returns(t.STRING, "FORMAT_DATE", ("DATE",), _STR), _date_to_string, "DATE / TIME",
     "A DATE formatted with a Java pattern.")  # fmt: skip
_add("PARSE_DATE", 2, 2, _returns(t.DATE, "PARSE_DATE", _STR), _string_to_date, "DATE / TIME",
     "A date string parsed with a Java pattern, as a DATE.")  # fmt: skip


def call(name: str, args: list[Any]) -> Any:
    fn = SCALARS[name]
    if not fn.null_safe and any(a is None for a in args):
        return None
    return fn.impl(args)


# --- aggregate functions ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Aggregate:
    name: str
    op: str  # the runner's aggregation op
    description: str


AGGREGATES: dict[str, Aggregate] = {
    a.name: a
    for a in [
        Aggregate("COUNT", "count", "COUNT(*) counts rows; COUNT(x) the rows where x is not NULL."),
        Aggregate("SUM", "sum", "The sum of x (the type of x: INT stays INT, BIGINT BIGINT)."),
        Aggregate("AVG", "avg", "The mean of x, as a DOUBLE."),
        Aggregate("MIN", "min", "The smallest x."),
        Aggregate("MAX", "max", "The largest x."),
        Aggregate("LATEST_BY_OFFSET", "latest_by_offset", "The x of the latest record (NULLs skipped by default)."),
        Aggregate("EARLIEST_BY_OFFSET", "earliest_by_offset", "The x of the earliest record (NULLs skipped)."),
        Aggregate("COUNT_DISTINCT", "count_distinct", "How many distinct values of x."),
        Aggregate("TOPK", "topk", "The k largest values of x, largest first."),
        Aggregate("TOPKDISTINCT", "topkdistinct", "The k largest distinct values of x."),
        Aggregate("COLLECT_LIST", "collect_list", "Every x, in order (at most 1000)."),
        Aggregate("COLLECT_SET", "collect_set", "The distinct x, in order of arrival (at most 1000)."),
        Aggregate("HISTOGRAM", "histogram", "How many times each value of x occurs."),
    ]
}


def aggregate_type(name: str, args: list[t.SqlType], star: bool) -> t.SqlType:
    """The result type of an aggregate call, checked as ksqlDB does."""
    if name in ("COUNT", "COUNT_DISTINCT"):
        return t.BIGINT
    if star or not args:
        raise SqlError(f"{name}(*) is not valid; only COUNT(*).")
    x = args[0]
    if name == "SUM":
        if not x.numeric:
            raise _bad(name, args)
        return x
    if name == "AVG":
        if not x.numeric:
            raise _bad(name, args)
        return t.DOUBLE
    if name in ("MIN", "MAX"):
        if x.base not in (*_NUM, "STRING", "TIMESTAMP", "DATE", "TIME", "BOOLEAN"):
            raise _bad(name, args)
        return x
    if name in ("LATEST_BY_OFFSET", "EARLIEST_BY_OFFSET"):
        return x
    if name in ("TOPK", "TOPKDISTINCT", "COLLECT_LIST", "COLLECT_SET"):
        return t.array(x)
    if name == "HISTOGRAM":
        if x.base != "STRING":
            raise _bad(name, args)
        return t.map_of(t.STRING, t.BIGINT)
    raise SqlError(f"Unknown aggregate function {name}().")


def describe(name: str) -> Function | Aggregate | None:
    return SCALARS.get(name) or AGGREGATES.get(name)
