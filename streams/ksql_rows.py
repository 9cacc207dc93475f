"""Records of a SQL source read into rows, and rows written as records, in Python (push and pull queries, PRINT,
INSERT VALUES), with the formats and rules of the runner's ``Keys``, ``Values`` and ``Rows``: keys in the KAFKA, JSON
or NONE format, values in JSON, DELIMITED, KAFKA (one string) or AVRO (Confluent wire format), columns matched by name
without regard to case and converted to their declared types."""

from __future__ import annotations

import csv
import io
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from streams.ksql_catalog import Source
from streams.sql.evaluate import EvalError, coerce
from streams.sql.lexer import SqlError


@dataclass
class RawRecord:
    key: bytes | None
    value: bytes | None
    timestamp: int
    partition: int
    offset: int


class RowError(ValueError):
    """A record that does not fit the source's columns (it is skipped, and counted)."""


def decode_key(raw: bytes | None, source: Source, types: dict[str, str]) -> Any:
    """The key as the runner holds it: its text (several key columns: a JSON object), or None."""
    if raw is None or source.key_format == "NONE":
        return None
    keys = source.keys
    if source.key_format == "JSON":
        try:
            value = json.loads(raw)
        except ValueError:
            raise RowError("the key is not JSON") from None
        return value
    base = keys[0].sql_type(types).base if len(keys) == 1 else "STRING"
    if base == "INT":
        if len(raw) != 4:
            raise RowError(f"an INT key in the KAFKA format has 4 bytes, not {len(raw)}")
        return struct.unpack(">i", raw)[0]
    if base == "BIGINT":
        if len(raw) != 8:
            raise RowError(f"a BIGINT key in the KAFKA format has 8 bytes, not {len(raw)}")
        return struct.unpack(">q", raw)[0]
    if base == "DOUBLE":
        if len(raw) != 8:
            raise RowError(f"a DOUBLE key in the KAFKA format has 8 bytes, not {len(raw)}")
        return struct.unpack(">d", raw)[0]
    return raw.decode("utf-8", "replace")


def encode_key(values: dict[str, Any], source: Source, types: dict[str, str]) -> bytes | None:
    keys = source.keys
    if not keys or source.key_format == "NONE":
        return None
    if source.key_format == "JSON":
        if len(keys) == 1:
            return json.dumps(jsonable(values.get(keys[0].name))).encode()
        return json.dumps({k.name: jsonable(values.get(k.name)) for k in keys}).encode()
    if len(keys) > 1:
        raise SqlError("KEY_FORMAT='KAFKA' holds one key column.")
    value = values.get(keys[0].name)
    if value is None:
        return None
    base = keys[0].sql_type(types).base
    if base == "INT":
        return struct.pack(">i", int(value))
    if base == "BIGINT":
        return struct.pack(">q", int(value))
    if base == "DOUBLE":
        return struct.pack(">d", float(value))
    return str(value).encode()


def decode_value(raw: bytes, source: Source, schema_by_id: Callable[[int], str | None]) -> Any:
    fmt = source.value_format
    if fmt == "JSON":
        try:
            return json.loads(raw, parse_float=Decimal)
        except ValueError:
            raise RowError("the value is not JSON") from None
    if fmt == "KAFKA":
        return raw.decode("utf-8", "replace")
    if fmt == "DELIMITED":
        text = raw.decode("utf-8", "replace")
        return [None if f == "" else f for f in next(csv.reader(io.StringIO(text)), [])]
    if fmt == "AVRO":
        from core.services import avro

        schema_id = avro.schema_id_of(raw)
        if schema_id is None:
            raise RowError("the value is not in the Confluent Avro wire format")
        schema_text = schema_by_id(schema_id)
        if schema_text is None:
            raise RowError(f"Avro schema id {schema_id} is unknown to the registry")
        import fastavro

        return avro.decode(raw, fastavro.parse_schema(json.loads(schema_text)))
    raise RowError(f"unsupported value format {fmt}")


def encode_value(values: dict[str, Any], source: Source, types: dict[str, str]) -> bytes | None:
    cols = source.values
    fmt = source.value_format
    if fmt == "JSON":
        return json.dumps({c.name: jsonable(values.get(c.name)) for c in cols}).encode()
    if fmt == "KAFKA":
        value = values.get(cols[0].name) if cols else None
        return None if value is None else str(value).encode()
    if fmt == "DELIMITED":
        out = io.StringIO()
        csv.writer(out, lineterminator="").writerow(
            ["" if values.get(c.name) is None else jsonable(values.get(c.name)) for c in cols]
        )
        return out.getvalue().encode()
    if fmt == "AVRO":
        from core.services import avro

        if source.value_schema is None or source.value_schema_id is None:
            raise SqlError(f"{source.name} has no registered Avro schema to write with.")
        import fastavro

        record = {}
        schema = json.loads(source.value_schema)
        for f in schema.get("fields", []):
            col = source.column(f["name"])
            record[f["name"]] = _avro_value(values.get(col.name) if col else None)
        return avro.encode(source.value_schema_id, fastavro.parse_schema(schema), record)
    raise SqlError(f"Unsupported construct: writing VALUE_FORMAT='{fmt}'.")


def _avro_value(v: Any) -> Any:
    return v


def build_row(
    record: RawRecord, source: Source, types: dict[str, str], schema_by_id: Callable[[int], str | None]
) -> dict[str, Any] | None:
    """The row of a record (None for a tombstone); ``RowError`` when it does not fit the columns."""
    if record.value is None:
        return None
    key = decode_key(record.key, source, types)
    value = decode_value(record.value, source, schema_by_id)
    row: dict[str, Any] = {}
    positional = value if isinstance(value, list) else None
    fields = value if isinstance(value, dict) else None
    lowered = {str(k).upper(): v for k, v in fields.items()} if fields is not None else {}
    value_columns = source.values
    position = 0
    for col in source.columns:
        if col.key:
            raw: Any = key if len(source.keys) == 1 else (key or {}).get(col.name) if isinstance(key, dict) else None
        elif fields is not None:
            raw = fields[col.name] if col.name in fields else lowered.get(col.name.upper())
        elif positional is not None:
            raw = positional[position] if position < len(positional) else None
            position += 1
        elif len(value_columns) == 1:
            raw = value
        else:
            raise RowError(f"the value is {value!r}, not an object of columns")
        try:
            row[col.name] = coerce(_plain(raw), col.sql_type(types).spec_text())
        except EvalError as exc:
            raise RowError(f"column {col.name}: {exc}") from None
    row["ROWTIME"] = record.timestamp
    row["ROWPARTITION"] = record.partition
    row["ROWOFFSET"] = record.offset
    return row


def _plain(v: Any) -> Any:
    """JSON numbers read as Decimal: whole ones become int (as the runner reads them), others float unless the
    column is DECIMAL (coerce takes care of that)."""
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() and "." not in str(v) and "E" not in str(v).upper() else float(v)
    if isinstance(v, list):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def jsonable(v: Any) -> Any:
    """A value as JSON carries it (DECIMAL as a number)."""
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() and v.as_tuple().exponent == 0 else float(v)  # type: ignore[operator]
    if isinstance(v, list):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    return v
