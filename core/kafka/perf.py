"""Performance tests on a real topic: producer throughput and send-to-ack latency, consumer throughput, and
end-to-end latency at a fixed rate. Every run is bounded by a record count and a wall-clock limit.

Latency is librdkafka's own per-record ``Message.latency()`` (from ``produce()`` to the broker's acknowledgement),
the same span Kafka's ``ProducerPerformance`` measures from ``send()`` to its callback.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from core.errors import InvalidArgument, KafkaAgentError, translate_kafka_error

if TYPE_CHECKING:
    from core.gate import Permit

Progress = Callable[[float, float, str], None]
Acks = Literal["all", "1", "0"]
Compression = Literal["none", "gzip", "snappy", "lz4", "zstd"]


def _noop(done: float, total: float, message: str) -> None:
    return None


class LatencyStats(BaseModel):
    samples: int
    avg_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


def latency_stats(values_ms: list[float]) -> LatencyStats:
    if not values_ms:
        return LatencyStats(samples=0, avg_ms=None, p50_ms=None, p95_ms=None, p99_ms=None, max_ms=None)
    ordered = sorted(values_ms)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return LatencyStats(
        samples=len(ordered),
        avg_ms=round(sum(ordered) / len(ordered), 3),
        p50_ms=pct(0.50),
        p95_ms=pct(0.95),
        p99_ms=pct(0.99),
        max_ms=round(ordered[-1], 3),
    )


class ProducerSettings(BaseModel):
    acks: Acks = "all"
    compression: Compression = "none"
    batch_size: int = 16384
    linger_ms: float = 5
    idempotence: bool = True
    delivery_timeout_ms: int = 120000


class PerfResult(BaseModel):
    mode: Literal["producer", "consumer", "end_to_end"]
    topic: str
    records: int = Field(description="Records sent (producer, end-to-end) or read (consumer).")
    acknowledged: int = Field(description="Records the brokers acknowledged (producer, end-to-end).")
    errors: int
    first_error: str | None = None
    duration_s: float
    records_per_s: float
    mb_per_s: float = Field(description="Payload megabytes (10^6 bytes) per second.")
    latency: LatencyStats = Field(description="Send-to-ack (producer) or produce-to-consume (end-to-end) latency.")
    record_size: int
    target_rate: float | None = Field(description="Records per second asked for; null = as fast as possible.")
    settings: dict[str, Any] = Field(default_factory=dict)
    stopped_by_time_limit: bool = Field(description="True when the wall-clock bound ended the run early.")
    diagnosis: str | None = Field(default=None, description="Why records failed, from the topic's replica state.")


def producer_config(base: dict[str, Any], s: ProducerSettings) -> dict[str, Any]:
    conf = dict(base)
    conf.update(
        {
            "acks": s.acks,
            "enable.idempotence": s.idempotence,
            "compression.type": s.compression,
            "batch.size": s.batch_size,
            "linger.ms": s.linger_ms,
            # The Java producer's defaults (buffer.memory 32 MiB, delivery.timeout.ms 120 s), so latency figures
            # compare: send-to-ack includes the time a record waits in the local buffer.
            "queue.buffering.max.kbytes": 32768,
            "queue.buffering.max.messages": 1_000_000,
            "message.timeout.ms": s.delivery_timeout_ms,
        }
    )
    if s.idempotence and s.acks != "all":
        raise InvalidArgument("idempotence requires acks=all.", hint="Use acks=all, or idempotence=false.")
    return conf


class _Throttle:
    """Spreads sends evenly to reach ``rate`` records/s (like Kafka's ThroughputThrottler)."""

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self.start = time.perf_counter()

    def wait(self, sent: int) -> None:
        if not self.rate:
            return
        ahead = sent / self.rate - (time.perf_counter() - self.start)
        if ahead > 0.001:
            time.sleep(ahead)


def _validate(num_records: int | None, duration_s: float | None, record_size: int, max_seconds: float) -> None:
    if num_records is None and duration_s is None:
        raise InvalidArgument("Give num_records or duration_s (or both).")
    if num_records is not None and num_records < 1:
        raise InvalidArgument("num_records must be at least 1.")
    if duration_s is not None and not 0 < duration_s <= max_seconds:
        raise InvalidArgument(f"duration_s must be in (0, {max_seconds:g}].")
    if not 1 <= record_size <= 1_000_000:
        raise InvalidArgument("record_size must be between 1 and 1000000 bytes.")


def producer_test(
    permit: Permit,
    base_conf: dict[str, Any],
    topic: str,
    *,
    num_records: int | None,
    duration_s: float | None,
    record_size: int,
    rate: float | None,
    settings: ProducerSettings,
    max_seconds: float,
    progress: Progress = _noop,
) -> PerfResult:
    """Send fixed-size records as fast as allowed (or at ``rate``) and measure acks, throughput and latency."""
    permit.require("topic.produce", topic)
    from confluent_kafka import Producer

    _validate(num_records, duration_s, record_size, max_seconds)
    limit = min(duration_s or max_seconds, max_seconds)
    payload = os.urandom(record_size)
    latencies: list[float] = []
    state = {"acked": 0, "errors": 0}
    first_error: list[str] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            state["errors"] += 1
            if not first_error:
                first_error.append(translate_kafka_error(Exception(err), what=f"produce to {topic!r}").message)
            return
        state["acked"] += 1
        lat = msg.latency()
        if lat is not None:
            latencies.append(lat * 1000.0)

    conf = producer_config(base_conf, settings)
    conf["on_delivery"] = on_delivery
    producer = Producer(conf)
    throttle = _Throttle(rate)
    total = float(num_records) if num_records is not None else limit
    sent = 0
    started = time.perf_counter()
    deadline = started + limit
    next_report = started + 0.5
    timed_out = False
    produce = producer.produce
    poll = producer.poll
    try:
        while num_records is None or sent < num_records:
            now = time.perf_counter()
            if now >= deadline:
                timed_out = num_records is not None
                break
            try:
                produce(topic, payload)
                sent += 1
            except BufferError:
                poll(0.01)
                continue
            if sent & 1023 == 0:
                poll(0)
                if time.perf_counter() >= next_report:
                    done = sent if num_records is not None else time.perf_counter() - started
                    progress(done, total, f"{sent} records sent, {state['acked']} acknowledged")
                    next_report += 0.5
            throttle.wait(sent)
        remaining = max(1.0, deadline + 30 - time.perf_counter())
        producer.flush(remaining)
    except KafkaAgentError:
        raise
    except Exception as exc:
        raise translate_kafka_error(exc, what=f"producer test on {topic!r}") from None
    elapsed = time.perf_counter() - started
    acked = state["acked"]
    progress(total, total, f"done: {acked} acknowledged, {state['errors']} errors")
    return PerfResult(
        mode="producer",
        topic=topic,
        records=sent,
        acknowledged=acked,
        errors=sent - acked,
        first_error=first_error[0] if first_error else None,
        duration_s=round(elapsed, 3),
        records_per_s=round(acked / elapsed, 1) if elapsed else 0.0,
        mb_per_s=round(acked * record_size / elapsed / 1e6, 3) if elapsed else 0.0,
        latency=latency_stats(latencies),
        record_size=record_size,
        target_rate=rate,
        settings=settings.model_dump(),
        stopped_by_time_limit=timed_out,
    )


def consumer_test(
    consumer_conf: dict[str, Any],
    admin: Any,
    topic: str,
    *,
    num_records: int | None,
    max_seconds: float,
    timeout: float,
    progress: Progress = _noop,
) -> PerfResult:
    """Read the topic from its start (up to ``num_records`` or its current end) and measure throughput."""
    from confluent_kafka import Consumer, TopicPartition

    from core.kafka._futures import metadata
    from core.kafka.offsets import watermarks

    meta = metadata(admin, timeout=timeout, topic=topic)
    tmeta = meta.topics.get(topic)
    if tmeta is None or tmeta.error is not None:
        raise InvalidArgument(f"Topic {topic!r} does not exist.", hint="Produce to it first (mode=producer).")
    marks = watermarks(admin, [(topic, p) for p in sorted(tmeta.partitions)], timeout=timeout)
    available = sum(w.messages for w in marks)
    want = min(num_records or available, available)
    if want == 0:
        raise InvalidArgument(f"Topic {topic!r} has no records to read.", hint="Run mode=producer on it first.")
    conf = dict(consumer_conf)
    conf.update({"fetch.min.bytes": 1, "queued.min.messages": 100000, "isolation.level": "read_uncommitted"})
    consumer = Consumer(conf)
    read = nbytes = 0
    started = time.perf_counter()
    deadline = started + max_seconds
    next_report = started + 0.5
    timed_out = False
    try:
        consumer.assign([TopicPartition(topic, w.partition, w.low) for w in marks if w.messages])
        while read < want:
            if time.perf_counter() >= deadline:
                timed_out = True
                break
            for msg in consumer.consume(10000, timeout=0.2):
                if msg.error() is None:
                    read += 1
                    nbytes += len(msg.value() or b"")
            if time.perf_counter() >= next_report:
                progress(read, want, f"{read} of {want} records read")
                next_report += 0.5
    finally:
        consumer.close()
    elapsed = time.perf_counter() - started
    return PerfResult(
        mode="consumer",
        topic=topic,
        records=read,
        acknowledged=0,
        errors=0,
        duration_s=round(elapsed, 3),
        records_per_s=round(read / elapsed, 1) if elapsed else 0.0,
        mb_per_s=round(nbytes / elapsed / 1e6, 3) if elapsed else 0.0,
        latency=latency_stats([]),
        record_size=round(nbytes / read) if read else 0,
        target_rate=None,
        stopped_by_time_limit=timed_out,
    )


_STAMP = struct.Struct(">q")


def end_to_end_test(
    permit: Permit,
    base_conf: dict[str, Any],
    consumer_conf: dict[str, Any],
    admin: Any,
    topic: str,
    *,
    num_records: int | None,
    duration_s: float | None,
    record_size: int,
    rate: float,
    settings: ProducerSettings,
    max_seconds: float,
    timeout: float,
    progress: Progress = _noop,
) -> PerfResult:
    """Produce at a fixed rate with a clock stamp in each value; a consumer reading the same partitions measures
    produce-to-consume latency (same process, same monotonic clock)."""
    permit.require("topic.produce", topic)
    from confluent_kafka import Consumer, Producer, TopicPartition

    from core.kafka._futures import metadata
    from core.kafka.offsets import list_offsets

    _validate(num_records, duration_s, max(record_size, _STAMP.size), max_seconds)
    if rate <= 0:
        raise InvalidArgument("end_to_end needs a fixed target rate (records_per_second > 0).")
    record_size = max(record_size, _STAMP.size)
    limit = min(duration_s or max_seconds, max_seconds)
    want = num_records if num_records is not None else max(1, int(rate * limit))
    meta = metadata(admin, timeout=timeout, topic=topic)
    tmeta = meta.topics.get(topic)
    if tmeta is None or tmeta.error is not None:
        raise InvalidArgument(f"Topic {topic!r} does not exist.")
    ends = list_offsets(admin, [(topic, p) for p in sorted(tmeta.partitions)], "latest", timeout=timeout)
    conf = dict(consumer_conf)
    conf.update({"fetch.wait.max.ms": 10, "fetch.min.bytes": 1, "isolation.level": "read_uncommitted"})
    consumer = Consumer(conf)
    consumer.assign([TopicPartition(t, p, off) for (t, p), off in ends.items()])
    latencies: list[float] = []
    stop = threading.Event()
    consumer_error: list[str] = []

    def consume_loop() -> None:
        try:
            while not stop.is_set() and len(latencies) < want:
                for msg in consumer.consume(1000, timeout=0.1):
                    if msg.error() is None and msg.value():
                        now = time.monotonic_ns()
                        latencies.append((now - _STAMP.unpack_from(msg.value())[0]) / 1e6)
        except Exception as exc:  # reported in the result
            consumer_error.append(str(exc))

    reader = threading.Thread(target=consume_loop, name="perf-e2e-consumer", daemon=True)
    reader.start()
    pconf = producer_config(base_conf, settings)
    errors: list[str] = []
    acked = [0]

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            acked[0] += 1

    pconf["on_delivery"] = on_delivery
    producer = Producer(pconf)
    padding = os.urandom(record_size - _STAMP.size)
    throttle = _Throttle(rate)
    started = time.perf_counter()
    deadline = started + limit
    sent = 0
    next_report = started + 0.5
    timed_out = False
    try:
        while sent < want:
            if time.perf_counter() >= deadline:
                timed_out = num_records is not None
                break
            try:
                producer.produce(topic, _STAMP.pack(time.monotonic_ns()) + padding)
                sent += 1
            except BufferError:
                producer.poll(0.01)
                continue
            producer.poll(0)
            if time.perf_counter() >= next_report:
                progress(sent, want, f"{sent} sent, {len(latencies)} consumed")
                next_report += 0.5
            throttle.wait(sent)
        producer.flush(30)
        drain_until = time.perf_counter() + 10
        while len(latencies) < acked[0] and time.perf_counter() < drain_until:
            time.sleep(0.05)
    finally:
        stop.set()
        reader.join(5)
        consumer.close()
    elapsed = time.perf_counter() - started
    progress(want, want, f"done: {len(latencies)} of {sent} consumed")
    return PerfResult(
        mode="end_to_end",
        topic=topic,
        records=sent,
        acknowledged=acked[0],
        errors=len(errors) + len(consumer_error),
        first_error=next(iter(errors + consumer_error), None),
        duration_s=round(elapsed, 3),
        records_per_s=round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        mb_per_s=round(len(latencies) * record_size / elapsed / 1e6, 3) if elapsed else 0.0,
        latency=latency_stats(latencies),
        record_size=record_size,
        target_rate=rate,
        settings=settings.model_dump(),
        stopped_by_time_limit=timed_out,
    )
