"""Produce and consume records. Consumption is assign-based: it never joins or commits to a consumer group.

Serialization lives in ``encode_value`` / ``decode_value`` so another format (Avro through the schema registry) is a
local change: add the format to ``ValueFormat`` and a branch in each function.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, Field, WithJsonSchema

from core.errors import InvalidArgument, translate_kafka_error
from core.kafka.offsets import list_offsets
from core.kafka.topics import require_topic

if TYPE_CHECKING:
    from confluent_kafka import Producer

    from core.gate import Permit

ValueFormat = Literal["text", "json", "base64"]
DecodeFormat = Literal["auto", "text", "json", "base64"]
StartAt = Literal["earliest", "latest", "offset", "timestamp"]

MAX_PRODUCE_RECORDS = 10_000
MAX_PRODUCE_BYTES = 16 * 1024 * 1024
MAX_CONSUME_RECORDS = 1000
_PARTITION_EOF = -191


# --- serialization ----------------------------------------------------------------------------------------------


def encode_value(value: Any, fmt: ValueFormat, *, what: str = "value") -> bytes | None:
    """The bytes to send: text as UTF-8, any JSON value serialized, base64 decoded. None stays a null (tombstone)."""
    if value is None:
        return None
    if fmt == "json":
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if not isinstance(value, str):
        raise InvalidArgument(
            f"The {what} must be a string when value_format is {fmt!r} (got {type(value).__name__}).",
            hint="Use value_format='json' to send a JSON object, array or number.",
        )
    if fmt == "base64":
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidArgument(f"The {what} is not valid base64.") from None
    return value.encode("utf-8")


class Decoded(BaseModel):
    value: Any = Field(description="Text, a JSON value, or base64 text (see encoding); null for a null value.")
    encoding: Literal["text", "json", "base64", "null"]
    size: int = Field(description="Size in bytes of the original value.")
    truncated: bool = Field(description="True when the value was cut at the size cap.")


def decode_value(raw: bytes | None, fmt: DecodeFormat, *, cap: int) -> Decoded:
    """Decode for display: JSON when asked (or 'auto' and valid), text when valid UTF-8, else base64; cut at cap."""
    if raw is None:
        return Decoded(value=None, encoding="null", size=0, truncated=False)
    size, truncated = len(raw), len(raw) > cap
    head = raw[:cap]
    if fmt == "base64":
        return Decoded(value=base64.b64encode(head).decode(), encoding="base64", size=size, truncated=truncated)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A cut in the middle of a multi-byte character is still text.
        if truncated and exc.start >= len(head) - 3:
            text = head[: exc.start].decode("utf-8", errors="strict")
        else:
            return Decoded(value=base64.b64encode(head).decode(), encoding="base64", size=size, truncated=truncated)
    if fmt in ("json", "auto") and not truncated:
        try:
            return Decoded(value=json.loads(text), encoding="json", size=size, truncated=False)
        except ValueError:
            pass
    return Decoded(value=text, encoding="text", size=size, truncated=truncated)


def _key_text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(raw).decode()


# --- produce ----------------------------------------------------------------------------------------------------


class RecordIn(BaseModel):
    key: str | None = Field(None, description="Text; the same key goes to the same partition.", max_length=100_000)
    value: Any = Field(None, description="Text, or any JSON value with value_format='json'; null for a tombstone.")
    headers: dict[str, str] | None = Field(None, max_length=100)
    partition: int | None = Field(None, description="Default: by key.", ge=0, le=10_000)


class ProducedRecord(BaseModel):
    index: int = Field(description="Position of the record in the request.")
    partition: int | None = None
    offset: int | None = None
    error: str | None = Field(None, description="Why this record was not written.")


class ProduceResult(BaseModel):
    topic: str
    requested: int
    written: int
    failed: int
    # Loose published schema: MCP clients validate structured output, and 10 000 fully described rows take seconds.
    records: Annotated[list[ProducedRecord], WithJsonSchema({"type": "array", "items": {"type": "object"}})] = Field(
        description="Per record, in request order: index, partition and offset, or error."
    )


def produce(
    permit: Permit,
    producer: Producer,
    admin: Any,
    topic: str,
    records: list[RecordIn],
    *,
    value_format: ValueFormat,
    timeout: float,
) -> ProduceResult:
    """Send the records with the idempotent acks=all producer; each record reports its partition+offset or error."""
    permit.require("topic.produce", topic)
    if not records:
        raise InvalidArgument("No records to produce.", hint="Give at least one record.")
    if len(records) > MAX_PRODUCE_RECORDS:
        raise InvalidArgument(
            f"{len(records)} records in one call; the limit is {MAX_PRODUCE_RECORDS}.",
            hint=f"Split the records into batches of at most {MAX_PRODUCE_RECORDS}.",
        )
    tmeta = require_topic(admin, topic, timeout=timeout)
    partitions = set(tmeta.partitions)
    encoded: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]] | None, int | None]] = []
    total = 0
    for i, rec in enumerate(records):
        if rec.partition is not None and rec.partition not in partitions:
            raise InvalidArgument(
                f"Record {i}: topic {topic!r} has no partition {rec.partition}.",
                hint=f"It has partitions 0..{len(partitions) - 1}.",
            )
        value = encode_value(rec.value, value_format, what=f"value of record {i}")
        key = rec.key.encode("utf-8") if rec.key is not None else None
        headers = [(k, v.encode("utf-8")) for k, v in rec.headers.items()] if rec.headers else None
        total += len(value or b"") + len(key or b"") + sum(len(k) + len(v) for k, v in headers or [])
        encoded.append((key, value, headers, rec.partition))
    if total > MAX_PRODUCE_BYTES:
        raise InvalidArgument(
            f"The batch is {total} bytes; one call may send at most {MAX_PRODUCE_BYTES} bytes.",
            hint="Split the records into smaller batches.",
        )
    results: list[ProducedRecord] = [ProducedRecord(index=i) for i in range(len(encoded))]

    def callback_for(i: int) -> Any:
        def done(err: Any, msg: Any) -> None:
            if err is not None:
                results[i].error = f"{err.name()}: {err.str()}"
            else:
                results[i].partition, results[i].offset = msg.partition(), msg.offset()

        return done

    deadline = time.monotonic() + timeout * 2
    for i, (key, value, headers, partition) in enumerate(encoded):
        kwargs: dict[str, Any] = {"key": key, "value": value, "on_delivery": callback_for(i)}
        if headers:
            kwargs["headers"] = headers
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                producer.produce(topic, **kwargs)
                break
            except BufferError:
                producer.poll(0.05)  # the local queue is full: let deliveries drain
                if time.monotonic() > deadline:
                    results[i].error = "local producer queue stayed full"
                    break
            except Exception as exc:
                results[i].error = translate_kafka_error(exc, what=f"produce record {i}").message
                break
        producer.poll(0)
    remaining = producer.flush(max(1.0, deadline - time.monotonic()))
    if remaining:
        for r in results:
            if r.offset is None and r.error is None:
                r.error = "not acknowledged in time (still queued)"
    failed = sum(1 for r in results if r.error is not None)
    return ProduceResult(
        topic=topic, requested=len(results), written=len(results) - failed, failed=failed, records=results
    )


# --- consume ----------------------------------------------------------------------------------------------------


class ConsumedRecord(BaseModel):
    partition: int
    offset: int
    timestamp_ms: int | None
    key: str | None = Field(description="Key as text (prefixed 'base64:' when not UTF-8).")
    value: Any
    value_encoding: Literal["text", "json", "base64", "null"]
    value_size: int
    value_truncated: bool
    headers: dict[str, str | None] = Field(default_factory=dict)


class ConsumeResult(BaseModel):
    topic: str
    records: list[ConsumedRecord]
    count: int
    stopped_because: str = Field(description="max_records, max_bytes, end_of_partitions or timeout.")
    read_committed: bool
    untrusted_content_note: str


def start_offsets(
    admin: Any,
    topic: str,
    parts: list[int],
    *,
    start: StartAt,
    value: int | None,
    timeout: float,
    read_committed: bool,
) -> dict[int, int]:
    tps = [(topic, p) for p in parts]
    low = list_offsets(admin, tps, "earliest", timeout=timeout, read_committed=False)
    high = list_offsets(admin, tps, "latest", timeout=timeout, read_committed=read_committed)
    if start == "earliest":
        return {p: low[(topic, p)] for p in parts}
    if start == "latest":
        n = int(value if value is not None else 10)
        return {p: max(low[(topic, p)], high[(topic, p)] - n) for p in parts}
    if start == "offset":
        off = int(value or 0)
        too_far = [f"{p} (log {low[(topic, p)]}..{high[(topic, p)]})" for p in parts if off > high[(topic, p)]]
        if too_far:
            raise InvalidArgument(
                f"Offset {off} is past the log end of partition(s) {', '.join(too_far)}.",
                hint="Use start='latest' to read the newest records.",
            )
        return {p: max(off, low[(topic, p)]) for p in parts}
    by_time = list_offsets(admin, tps, int(value or 0), timeout=timeout, read_committed=read_committed)
    return {p: (by_time[(topic, p)] if by_time[(topic, p)] >= 0 else high[(topic, p)]) for p in parts}


def consume(
    consumer_config: dict[str, Any],
    admin: Any,
    topic: str,
    *,
    start: StartAt,
    start_value: int | None,
    partition: int | None,
    key: str | None,
    max_records: int,
    max_bytes: int,
    timeout_s: float,
    read_committed: bool,
    value_format: DecodeFormat,
    value_cap: int,
    untrusted_note: str,
    request_timeout: float,
) -> ConsumeResult:
    """Read a bounded slice of a topic with an assign-based consumer (no group join, no commit)."""
    from confluent_kafka import Consumer, TopicPartition

    if not 1 <= max_records <= MAX_CONSUME_RECORDS:
        raise InvalidArgument(f"max_records must be 1..{MAX_CONSUME_RECORDS}, got {max_records}.")
    if max_bytes < 1:
        raise InvalidArgument(f"max_bytes must be positive, got {max_bytes}.")
    if not 0 < timeout_s <= 60:
        raise InvalidArgument(f"timeout_s must be in (0, 60], got {timeout_s}.")
    if start in ("offset", "timestamp") and start_value is None:
        raise InvalidArgument(f"start={start!r} needs start_value (an offset, or ms since the epoch).")
    if start_value is not None and start_value < 0:
        raise InvalidArgument(f"start_value must not be negative, got {start_value}.")
    if start == "timestamp" and (start_value or 0) > time.time() * 1000 + 1000:
        raise InvalidArgument(
            f"Timestamp {start_value} ms is in the future: there are no records at or after it yet.",
            hint="Give a past time in ms since the epoch, or start='latest'.",
        )
    tmeta = require_topic(admin, topic, timeout=request_timeout)
    parts = sorted(tmeta.partitions)
    if partition is not None:
        if partition not in parts:
            raise InvalidArgument(
                f"Topic {topic!r} has no partition {partition}.", hint=f"It has partitions 0..{len(parts) - 1}."
            )
        parts = [partition]
    offsets = start_offsets(
        admin, topic, parts, start=start, value=start_value, timeout=request_timeout, read_committed=read_committed
    )
    conf = {
        **consumer_config,
        "enable.partition.eof": True,
        "isolation.level": "read_committed" if read_committed else "read_uncommitted",
        "enable.auto.commit": False,
    }
    consumer = Consumer(conf)
    records: list[ConsumedRecord] = []
    used = 0
    reason = "timeout"
    key_bytes = key.encode("utf-8") if key is not None else None
    keep_latest = start == "latest"
    try:
        consumer.assign([TopicPartition(topic, p, off) for p, off in offsets.items()])
        pending = set(parts)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not pending:
                reason = "end_of_partitions"
                break
            batch = consumer.consume(num_messages=500, timeout=min(0.5, max(0.01, deadline - time.monotonic())))
            for msg in batch:
                err = msg.error()
                if err is not None:
                    if err.code() == _PARTITION_EOF:
                        pending.discard(msg.partition())
                        continue
                    raise translate_kafka_error(err, what=f"consume from {topic!r}")
                if key_bytes is not None and msg.key() != key_bytes:
                    continue
                rec = _record(msg, value_format, value_cap)
                records.append(rec)
                used += len(msg.value() or b"") + len(msg.key() or b"")
                if not keep_latest and len(records) >= max_records:
                    reason = "max_records"
                    break
                if used >= max_bytes:
                    reason = "max_bytes"
                    break
            if reason in ("max_records", "max_bytes"):
                break
    finally:
        consumer.close()
    if keep_latest:
        records.sort(key=lambda r: (r.timestamp_ms or 0, r.partition, r.offset))
        if len(records) > max_records:
            records = records[-max_records:]
    return ConsumeResult(
        topic=topic,
        records=records,
        count=len(records),
        stopped_because=reason,
        read_committed=read_committed,
        untrusted_content_note=untrusted_note,
    )


def _record(msg: Any, fmt: DecodeFormat, cap: int) -> ConsumedRecord:
    decoded = decode_value(msg.value(), fmt, cap=cap)
    ts_type, ts = msg.timestamp()
    headers: dict[str, str | None] = {}
    for name, raw in msg.headers() or []:
        headers[name] = None if raw is None else decode_value(raw, "text", cap=cap).value
    return ConsumedRecord(
        partition=msg.partition(),
        offset=msg.offset(),
        timestamp_ms=ts if ts_type != 0 and ts >= 0 else None,
        key=_key_text(msg.key()),
        value=decoded.value,
        value_encoding=decoded.encoding,
        value_size=decoded.size,
        value_truncated=decoded.truncated,
        headers=headers,
    )
