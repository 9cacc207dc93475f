"""Avro records with the Schema Registry for ``kafka_produce`` / ``kafka_consume`` (Confluent wire format).

Producing looks the schema up in the registry (it must be registered: registration goes through
``kafka_register_schema`` and its compatibility policy) and turns each JSON value into wire-format bytes, handed to
the plain producer as base64. Consuming decodes wire-format values with the writer's schema, fetched by id.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import uuid
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from core.errors import InvalidArgument, NotFound
from core.kafka import schemas as kschemas
from core.services import avro
from core.services.rest import RestClient

if TYPE_CHECKING:
    from core.kafka.messages import ConsumeResult, RecordIn


class AvroWriterSchema(BaseModel):
    subject: str
    version: int
    id: int
    schema_text: str


def writer_schema(rest: RestClient, topic: str, subject: str | None, schema: str | None) -> AvroWriterSchema:
    """The registered schema to write with: ``schema`` when given (it must be a version of the subject), else the
    subject's latest version. The subject defaults to ``<topic>-value`` (TopicNameStrategy)."""
    subject = subject or f"{topic}-value"
    if schema is not None:
        avro.check_valid(schema)
        found = kschemas.find_registered(rest, subject, schema, "AVRO")
        if found is None:
            raise InvalidArgument(
                f"This schema is not registered under subject {subject!r}.",
                hint="Register it first with kafka_register_schema (which checks compatibility), or omit the "
                "schema to write with the subject's latest version.",
            )
        return AvroWriterSchema(subject=subject, version=found.version, id=found.id, schema_text=schema)
    try:
        latest = kschemas.get_schema(rest, subject, "latest")
    except NotFound:
        raise NotFound(
            f"Subject {subject!r} has no schema in the registry.",
            hint="Register the value schema with kafka_register_schema, or pass subject=.",
        ) from None
    if latest.schema_type != "AVRO":
        raise InvalidArgument(f"Subject {subject!r} holds a {latest.schema_type} schema, not Avro.")
    return AvroWriterSchema(subject=subject, version=latest.version, id=latest.id, schema_text=latest.schema_text)


def encode_records(records: list[RecordIn], writer: AvroWriterSchema) -> list[RecordIn]:
    """Copies of ``records`` whose values are Confluent wire-format Avro, as base64 (None stays a tombstone)."""
    parsed = avro.check_valid(writer.schema_text)
    out = []
    for i, rec in enumerate(records):
        if rec.value is None:
            out.append(rec)
            continue
        try:
            data = avro.encode(writer.id, parsed, rec.value)
        except InvalidArgument as exc:
            raise InvalidArgument(f"Record {i}: {exc.message}", hint=exc.hint) from None
        out.append(rec.model_copy(update={"value": base64.b64encode(data).decode("ascii")}))
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return "base64:" + base64.b64encode(value).decode("ascii")
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    return value


def decode_records(rest: RestClient, result: ConsumeResult) -> tuple[ConsumeResult, dict[int, str]]:
    """Decode each base64 wire-format value in place with its writer schema; returns the schema ids seen.

    Values that are not Avro in the wire format (or were cut at the size cap) are left as base64."""
    cache: dict[int, Any] = {}
    seen: dict[int, str] = {}
    for rec in result.records:
        if rec.value_encoding != "base64" or rec.value_truncated or not isinstance(rec.value, str):
            continue
        raw = base64.b64decode(rec.value)
        schema_id = avro.schema_id_of(raw)
        if schema_id is None:
            continue
        if schema_id not in cache:
            text = kschemas.get_schema_by_id(rest, schema_id)
            cache[schema_id] = avro.check_valid(text)
            seen[schema_id] = str(cache[schema_id].get("name", "?")) if isinstance(cache[schema_id], dict) else "?"
        try:
            rec.value = _jsonable(avro.decode(raw, cache[schema_id]))
        except Exception:  # corrupt payload: leave it as base64 for the caller to see
            continue
        rec.value_encoding = "json"
    return result, seen


def prepare_records(
    rest: RestClient, topic: str, records: list[RecordIn], subject: str | None, schema: str | dict[str, Any] | None
) -> list[RecordIn]:
    """``kafka_produce`` with value_format='avro': the records with wire-format values (base64), ready to send."""
    text = schema if isinstance(schema, str) or schema is None else json.dumps(schema)
    return encode_records(records, writer_schema(rest, topic, subject, text))
