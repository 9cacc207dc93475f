"""Avro helpers: why a schema change breaks a compatibility level (and how to fix it), and the Confluent wire
format (magic byte 0, 4-byte big-endian schema id, Avro binary) for producing and consuming records.

The registry's verdict is authoritative; ``explain`` only turns it into reasons a person can act on.
"""

from __future__ import annotations

import io
import json
import struct
from typing import Any

from core.errors import InvalidArgument

_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
# writer type -> reader types that can read it (Avro schema resolution)
_PROMOTIONS = {
    "int": {"int", "long", "float", "double"},
    "long": {"long", "float", "double"},
    "float": {"float", "double"},
    "string": {"string", "bytes"},
    "bytes": {"bytes", "string"},
}


def parse(schema: str) -> Any:
    """The schema as JSON (an Avro schema is JSON); a clear error when it is not."""
    try:
        return json.loads(schema)
    except ValueError as exc:
        # A bare primitive name such as string is also a valid Avro schema.
        if schema.strip() in _PRIMITIVES:
            return schema.strip()
        raise InvalidArgument(
            f"The schema is not valid JSON: {exc}.", hint="Pass the Avro schema as JSON text."
        ) from None


def check_valid(schema: str) -> Any:
    """Parse with fastavro so a malformed Avro schema is refused before it reaches the registry."""
    import fastavro

    parsed = parse(schema)
    if isinstance(parsed, dict) and parsed.get("type") == "record" and not isinstance(parsed.get("fields"), list):
        raise InvalidArgument(
            "The Avro record schema is invalid: it has no 'fields' list.",
            hint='Give the record "fields": [{"name": ..., "type": ...}, ...].',
        )
    problem = _field_problem(parsed, "", set())
    if problem is not None:
        raise InvalidArgument(f"The Avro schema is invalid: {problem}.", hint="Fix that field and try again.")
    try:
        return fastavro.parse_schema(parsed)
    except Exception as exc:
        raise InvalidArgument(
            f"The Avro schema is invalid: {exc}.", hint="Fix the schema (record name, fields with name and type)."
        ) from None


_COMPLEX = {"record", "enum", "fixed", "array", "map", "error"}


def _field_problem(t: Any, path: str, names: set[str]) -> str | None:
    """The first problem in a schema, naming the field it is in (fastavro's own errors name only the type)."""
    where = f"field '{path}'" if path else "the top level"
    if isinstance(t, str):
        if t in _PRIMITIVES or t in names or t.split(".")[-1] in {n.split(".")[-1] for n in names}:
            return None
        return f"{where} has unknown type '{t}'"
    if isinstance(t, list):
        for branch in t:
            found = _field_problem(branch, path, names)
            if found:
                return found
        return None
    if not isinstance(t, dict):
        return f"{where} has a type that is neither a name, a union nor an object: {t!r}"
    kind = t.get("type")
    if kind in ("record", "error"):
        name = t.get("name")
        if not isinstance(name, str) or not name:
            return f"{where}: a record needs a name"
        names.add(name)
        if t.get("namespace"):
            names.add(f"{t['namespace']}.{name}")
        fields = t.get("fields")
        if not isinstance(fields, list):
            return f"{where}: record {name} needs a 'fields' list"
        for i, f in enumerate(fields):
            if not isinstance(f, dict) or not isinstance(f.get("name"), str):
                return f"{where}: field {i} of record {name} needs a name"
            child = f"{path}.{f['name']}" if path else f["name"]
            if "type" not in f:
                return f"field '{child}' has no type"
            found = _field_problem(f["type"], child, names)
            if found:
                return found
        return None
    if kind == "enum":
        if not isinstance(t.get("symbols"), list) or not t.get("name"):
            return f"{where}: an enum needs a name and a 'symbols' list"
        names.add(str(t["name"]))
        return None
    if kind == "fixed":
        if not isinstance(t.get("size"), int) or not t.get("name"):
            return f"{where}: a fixed type needs a name and a whole-number 'size'"
        names.add(str(t["name"]))
        return None
    if kind == "array":
        return _field_problem(t.get("items"), f"{path}[]", names) if "items" in t else f"{where}: an array needs items"
    if kind == "map":
        return (
            _field_problem(t.get("values"), f"{path}{{}}", names) if "values" in t else f"{where}: a map needs values"
        )
    if kind is None:
        return f"{where} has no type"
    return _field_problem(kind, path, names)


def _type_name(t: Any) -> str:
    if isinstance(t, str):
        return t
    if isinstance(t, list):
        return "union[" + ", ".join(_type_name(x) for x in t) + "]"
    if isinstance(t, dict):
        kind = t.get("type")
        if kind in ("record", "enum", "fixed"):
            return str(t.get("name"))
        if kind == "array":
            return f"array<{_type_name(t.get('items'))}>"
        if kind == "map":
            return f"map<{_type_name(t.get('values'))}>"
        return _type_name(kind)
    return str(t)


def _kind(t: Any, names: dict[str, Any]) -> tuple[str, Any]:
    """(kind, full schema) resolving named references and {"type": "int"} wrappers."""
    if isinstance(t, str):
        if t in _PRIMITIVES:
            return t, t
        if t in names:
            return _kind(names[t], names)
        return "named-ref", t
    if isinstance(t, list):
        return "union", t
    if isinstance(t, dict):
        kind = t.get("type")
        if kind in ("record", "enum", "fixed", "array", "map"):
            if kind in ("record", "enum", "fixed") and "name" in t:
                names.setdefault(str(t["name"]), t)
            return str(kind), t
        return _kind(kind, names)
    return "unknown", t


def _can_read(writer: Any, reader: Any, path: str, wn: dict[str, Any], rn: dict[str, Any]) -> list[tuple[str, str]]:
    """Problems (reason, fix) when data written with ``writer`` is read with ``reader``."""
    wk, w = _kind(writer, wn)
    rk, r = _kind(reader, rn)
    where = path or "the top level"
    if wk == "union":
        out: list[tuple[str, str]] = []
        for branch in w:
            out += _can_read(branch, reader, path, wn, rn)
        return out
    if rk == "union":
        for branch in r:
            if not _can_read(writer, branch, path, wn, rn):
                return []
        return [
            (
                f"{where}: values of type {_type_name(w)} cannot be read as {_type_name(r)}",
                f"add {_type_name(w)} to the union at {where}",
            )
        ]
    if wk in _PRIMITIVES and rk in _PRIMITIVES:
        if rk in _PROMOTIONS.get(wk, {wk}):
            return []
        return [
            (
                f"{where}: type changed from {wk} to {rk}, which Avro cannot convert",
                f"keep {wk} at {where} (or a promotion of it such as int->long), or use a new field name",
            )
        ]
    if wk != rk:
        return [
            (
                f"{where}: type changed from {_type_name(w)} to {_type_name(r)}",
                f"keep the type {_type_name(w)} at {where}, or add a new field instead",
            )
        ]
    if wk == "record":
        return _records(w, r, path, wn, rn)
    if wk == "enum":
        missing = [s for s in w.get("symbols", []) if s not in r.get("symbols", [])]
        if missing and "default" not in r:
            return [
                (
                    f"{where}: enum symbol(s) {', '.join(missing)} were removed",
                    f"keep the symbol(s) {', '.join(missing)}, or give the enum a default symbol",
                )
            ]
        return []
    if wk == "array":
        return _can_read(w.get("items"), r.get("items"), f"{path}[]", wn, rn)
    if wk == "map":
        return _can_read(w.get("values"), r.get("values"), f"{path}{{}}", wn, rn)
    if wk == "fixed" and w.get("size") != r.get("size"):
        return [(f"{where}: fixed size changed from {w.get('size')} to {r.get('size')}", "keep the fixed size")]
    return []


def _records(w: dict[str, Any], r: dict[str, Any], path: str, wn: dict[str, Any], rn: dict[str, Any]) -> list[Any]:
    out: list[tuple[str, str]] = []
    wfields = {f["name"]: f for f in w.get("fields", [])}
    for rf in r.get("fields", []):
        name = rf["name"]
        fpath = f"{path}.{name}" if path else name
        wf = wfields.get(name) or next((wfields[a] for a in rf.get("aliases", []) if a in wfields), None)
        if wf is None:
            if "default" not in rf:
                example = _default_example(rf.get("type"))
                out.append(
                    (
                        f"field '{fpath}' ({_type_name(rf.get('type'))}) is read but was never written and has "
                        "no default",
                        f"give '{fpath}' a default, e.g. {example}",
                    )
                )
            continue
        out += _can_read(wf.get("type"), rf.get("type"), fpath, wn, rn)
    return out


def _default_example(t: Any) -> str:
    if isinstance(t, list) and t and t[0] == "null":
        return '"default": null'
    simple = {"string": '""', "int": "0", "long": "0", "boolean": "false", "double": "0.0", "float": "0.0"}
    if isinstance(t, str) and t in simple:
        return f'"default": {simple[t]}'
    return f'"type": ["null", {json.dumps(t)}], "default": null'


def explain(old: str, new: str, level: str) -> list[tuple[str, str]]:
    """Reasons (and fixes) why ``new`` breaks ``level`` against one ``old`` version (transitive handled by caller).

    BACKWARD: consumers on the new schema read old data; FORWARD: consumers on the old schema read new data;
    FULL: both. NONE: nothing is checked.
    """
    base = level.upper().replace("_TRANSITIVE", "")
    if base == "NONE":
        return []
    o, n = parse(old), parse(new)
    out: list[tuple[str, str]] = []
    if base in ("BACKWARD", "FULL"):
        out += [(f"BACKWARD: {why}", fix) for why, fix in _can_read(o, n, "", {}, {})]
    if base in ("FORWARD", "FULL"):
        out += [(f"FORWARD: {why}", fix) for why, fix in _can_read(n, o, "", {}, {})]
    return out


# --- Confluent wire format --------------------------------------------------------------------------------------

MAGIC = 0


def encode(schema_id: int, parsed_schema: Any, value: Any) -> bytes:
    """Magic byte, schema id, Avro binary. A value that does not match the schema is refused with the reason."""
    import fastavro
    from fastavro.validation import ValidationError, validate

    try:
        validate(value, parsed_schema, raise_errors=True)
    except ValidationError as exc:
        raise InvalidArgument(
            f"The value does not match the Avro schema (id {schema_id}): {exc}.",
            hint="Give every field without a default, with the schema's types.",
        ) from None
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", MAGIC, schema_id))
    fastavro.schemaless_writer(buf, parsed_schema, value)
    return buf.getvalue()


def schema_id_of(data: bytes) -> int | None:
    """The schema id when ``data`` is in the Confluent wire format, else None."""
    if len(data) < 5 or data[0] != MAGIC:
        return None
    return int(struct.unpack(">I", data[1:5])[0])


def decode(data: bytes, parsed_schema: Any) -> Any:
    import fastavro

    return fastavro.schemaless_reader(io.BytesIO(data[5:]), parsed_schema, None)
