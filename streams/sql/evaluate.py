"""Evaluation of a compiled SQL expression tree in Python, with the semantics of the runner's ``SqlExpr.java``: push
and pull queries and INSERT VALUES use it; persistent queries run the same tree in the runner.

Values: INT and BIGINT are int, DOUBLE float, DECIMAL Decimal, STRING str, BOOLEAN bool, TIMESTAMP epoch milliseconds,
DATE days, TIME milliseconds of the day, ARRAY list, MAP and STRUCT dict. NULL propagates; a failed conversion or a
division by zero is NULL.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, DivisionByZero, InvalidOperation
from typing import Any

from streams.sql import functions


class EvalError(ValueError):
    """A value that cannot be computed (the result is NULL)."""


def _base(type_text: str) -> str:
    return re.split(r"[(<]", type_text, maxsplit=1)[0].strip().upper()


def _scale(type_text: str) -> int:
    m = re.match(r"DECIMAL\(\s*\d+\s*,\s*(\d+)\s*\)", type_text.upper())
    return int(m.group(1)) if m else 0


def _to_decimal(v: Any) -> Decimal:
    if isinstance(v, Decimal):
        return v
    if isinstance(v, float):
        return Decimal(repr(v))
    return Decimal(int(v))


def parse_timestamp(text: str) -> int:
    t = text.strip().replace(" ", "T", 1) if len(text.strip()) > 10 else text.strip()
    try:
        if len(t) == 10:
            return int(datetime.combine(date.fromisoformat(t), time(), UTC).timestamp() * 1000)
        moment = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise EvalError(f"cannot convert {text!r} to TIMESTAMP (ISO-8601, e.g. 2024-01-31T12:00:00)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def coerce(v: Any, type_text: str) -> Any:
    """CAST, and how a record's value is read into a column of this type."""
    if v is None:
        return None
    base = _base(type_text)
    try:
        if base in ("INT", "INTEGER", "BIGINT"):
            if isinstance(v, bool):
                raise EvalError(f"cannot convert {v!r} to {base}")
            if isinstance(v, int):
                return v
            if isinstance(v, Decimal):
                return int(v.to_integral_value(rounding=ROUND_DOWN))
            if isinstance(v, float):
                return int(v)
            if isinstance(v, str):
                return int(v.strip())
        if base == "DOUBLE":
            if isinstance(v, int | float | Decimal) and not isinstance(v, bool):
                return float(v)
            if isinstance(v, str):
                return float(v.strip())
        if base == "DECIMAL" and isinstance(v, int | float | Decimal | str) and not isinstance(v, bool):
            d = _to_decimal(v) if not isinstance(v, str) else Decimal(v.strip())
            return d.quantize(Decimal(1).scaleb(-_scale(type_text)), rounding=ROUND_HALF_UP)
        if base in ("STRING", "VARCHAR"):
            if isinstance(v, str):
                return v
            if isinstance(v, bool):
                return "true" if v else "false"
            if isinstance(v, Decimal):
                return format(v, "f")
            if isinstance(v, float):
                return _java_double_text(v)
            if isinstance(v, int):
                return str(v)
            import json

            return json.dumps(v, separators=(",", ":"))
        if base == "BOOLEAN":
            if isinstance(v, bool):
                return v
            if isinstance(v, str) and v.strip().lower() in ("true", "false"):
                return v.strip().lower() == "true"
        if base == "TIMESTAMP":
            if isinstance(v, int | float) and not isinstance(v, bool):
                return int(v)
            if isinstance(v, str):
                return parse_timestamp(v)
        if base == "DATE":
            if isinstance(v, int):
                return v
            if isinstance(v, str):
                return (date.fromisoformat(v.strip()) - date(1970, 1, 1)).days
        if base == "TIME":
            if isinstance(v, int):
                return v
            if isinstance(v, str):
                tm = time.fromisoformat(v.strip())
                return ((tm.hour * 60 + tm.minute) * 60 + tm.second) * 1000 + tm.microsecond // 1000
        if base == "ARRAY" and isinstance(v, list):
            return v
        if base in ("MAP", "STRUCT") and isinstance(v, dict):
            return v
        if base == "BYTES":
            return v
    except (ValueError, InvalidOperation) as exc:
        if isinstance(exc, EvalError):
            raise
        raise EvalError(f"cannot convert {v!r} to {type_text}") from None
    raise EvalError(f"cannot convert {v!r} to {type_text}")


def _java_double_text(v: float) -> str:
    """Java's Double.toString for the common cases (what CAST(x AS STRING) gives in the runner)."""
    if math.isnan(v) or math.isinf(v):
        return {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[str(v)]
    if v == int(v) and abs(v) < 1e7:
        return f"{int(v)}.0"
    text = repr(v)
    if "e" in text:
        mantissa, exp = text.split("e")
        if "." not in mantissa:
            mantissa += ".0"
        return f"{mantissa}E{int(exp)}"
    return text


def compare(a: Any, b: Any) -> int:
    return functions._java_compare(a, b)


def _arith(op: str, type_text: str, a: Any, b: Any) -> Any:
    base = _base(type_text)
    if base in ("INT", "INTEGER", "BIGINT"):
        x, y = int(a), int(b)
        if op in ("/", "%") and y == 0:
            raise EvalError("division by zero")
        if op == "+":
            out = x + y
        elif op == "-":
            out = x - y
        elif op == "*":
            out = x * y
        elif op == "/":
            out = abs(x) // abs(y) * (1 if (x >= 0) == (y >= 0) else -1)
        else:
            out = x - y * (abs(x) // abs(y) * (1 if (x >= 0) == (y >= 0) else -1))
        bits = 64 if base == "BIGINT" else 32
        out &= (1 << bits) - 1
        return out - (1 << bits) if out >= 1 << (bits - 1) else out
    if base == "DOUBLE":
        x2, y2 = float(a), float(b)
        if op == "+":
            return x2 + y2
        if op == "-":
            return x2 - y2
        if op == "*":
            return x2 * y2
        if op == "/":
            if y2 == 0:
                return float("nan") if x2 == 0 or math.isnan(x2) else float("inf") if x2 > 0 else float("-inf")
            return x2 / y2
        return float("nan") if y2 == 0 else math.fmod(x2, y2)
    if base == "DECIMAL":
        x3, y3 = _to_decimal(a), _to_decimal(b)
        try:
            if op == "+":
                out3 = x3 + y3
            elif op == "-":
                out3 = x3 - y3
            elif op == "*":
                out3 = x3 * y3
            elif op == "/":
                if y3 == 0:
                    raise EvalError("division by zero")
                out3 = x3 / y3
            else:
                if y3 == 0:
                    raise EvalError("division by zero")
                out3 = x3 % y3  # the sign of the dividend, as Java's BigDecimal.remainder
        except (DivisionByZero, InvalidOperation):
            raise EvalError("division by zero") from None
        return out3.quantize(Decimal(1).scaleb(-_scale(type_text)), rounding=ROUND_HALF_UP)
    if base in ("STRING", "VARCHAR"):
        return str(a) + str(b)
    raise EvalError(f"arithmetic on {type_text}")


def like_regex(pattern: str, escape: str | None) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if escape and ch == escape and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def evaluate(tree: list[Any], vars: dict[str, Any]) -> Any:
    """The value of a compiled expression tree; NULL (None) when it cannot be computed."""
    try:
        return _eval(tree, vars)
    except (EvalError, ArithmeticError, ValueError, TypeError, IndexError, KeyError):
        return None


def _eval(node: list[Any], vars: dict[str, Any]) -> Any:
    tag = node[0]
    if tag == "lit":
        return node[1]
    if tag == "dec":
        return Decimal(node[1])
    if tag == "col":
        row = vars.get(node[2] if len(node) > 2 else "value")
        return row.get(node[1]) if isinstance(row, dict) else None
    if tag == "neg":
        v = _eval(node[2], vars)
        return None if v is None else _arith("-", node[1], 0, v)
    if tag == "not":
        v = _eval(node[1], vars)
        return (not v) if isinstance(v, bool) else None
    if tag == "arith":
        a, b = _eval(node[3], vars), _eval(node[4], vars)
        return None if a is None or b is None else _arith(node[1], node[2], a, b)
    if tag == "cmp":
        a, b = _eval(node[2], vars), _eval(node[3], vars)
        if a is None or b is None:
            return None
        c = compare(a, b)
        return {"=": c == 0, "<>": c != 0, "!=": c != 0, "<": c < 0, "<=": c <= 0, ">": c > 0, ">=": c >= 0}[node[1]]
    if tag == "distinct":
        a, b = _eval(node[1], vars), _eval(node[2], vars)
        is_distinct = (b is not None) if a is None else (b is None or compare(a, b) != 0)
        return is_distinct != bool(node[3])
    if tag in ("and", "or"):
        decisive = tag == "or"
        a = _eval(node[1], vars)
        if a is decisive:
            return decisive
        b = _eval(node[2], vars)
        if b is decisive:
            return decisive
        return None if a is None or b is None else not decisive
    if tag == "isnull":
        return (_eval(node[1], vars) is None) != bool(node[2])
    if tag == "in":
        x = _eval(node[1], vars)
        if x is None:
            return None
        saw_null = False
        for item in node[2]:
            y = _eval(item, vars)
            if y is None:
                saw_null = True
            elif compare(x, y) == 0:
                return not (len(node) > 3 and node[3])
        return None if saw_null else bool(len(node) > 3 and node[3])
    if tag == "between":
        x, lo, hi = _eval(node[1], vars), _eval(node[2], vars), _eval(node[3], vars)
        if x is None or lo is None or hi is None:
            return None
        return (compare(x, lo) >= 0 and compare(x, hi) <= 0) != bool(node[4])
    if tag == "like":
        x, p = _eval(node[1], vars), _eval(node[2], vars)
        if x is None or p is None:
            return None
        return bool(like_regex(p, node[4] if len(node) > 4 else None).fullmatch(x)) != bool(node[3])
    if tag == "case":
        for cond, value in node[1]:
            if _eval(cond, vars) is True:
                return _eval(value, vars)
        return _eval(node[2], vars) if len(node) > 2 and node[2] is not None else None
    if tag == "cast":
        return coerce(_eval(node[2], vars), node[1])
    if tag == "call":
        return functions.call(node[1], [_eval(a, vars) for a in node[2:]])
    if tag == "field":
        v = _eval(node[1], vars)
        if not isinstance(v, dict):
            return None
        if node[2] in v:
            return v[node[2]]
        return next((x for k, x in v.items() if str(k).upper() == str(node[2]).upper()), None)
    if tag == "index":
        c, k = _eval(node[1], vars), _eval(node[2], vars)
        if c is None or k is None:
            return None
        if isinstance(c, list):
            idx = int(k) - 1 if int(k) > 0 else len(c) + int(k)
            return c[idx] if 0 <= idx < len(c) else None
        return c.get(k if isinstance(k, str) else str(k)) if isinstance(c, dict) else None
    if tag == "array":
        return [_eval(x, vars) for x in node[1:]]
    if tag == "map":
        return {str(_eval(node[i], vars)): _eval(node[i + 1], vars) for i in range(1, len(node) - 1, 2)}
    if tag == "struct":
        return {node[i]: _eval(node[i + 1], vars) for i in range(1, len(node) - 1, 2)}
    raise EvalError(f"unknown node {tag!r}")
