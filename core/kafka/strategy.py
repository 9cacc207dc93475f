"""Partition strategy: how many partitions a topic needs, and how its keys spread over them.

Two key partitioners are reproduced bit for bit so a sample of keys can be mapped without producing anything:

- ``murmur2``: the Java client's default for keyed records (``Utils.toPositive(Utils.murmur2(key)) % n``),
  also librdkafka's ``murmur2`` / ``murmur2_random`` partitioners.
- ``crc32``: librdkafka's default ``consistent_random`` partitioner (``crc32(key) % n``), used by
  confluent-kafka-python, Go and .NET clients unless ``partitioner`` is set.

The tests check both against the partition a real producer picks.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from core.errors import InvalidArgument, NotFound
from core.kafka._futures import metadata

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

Partitioner = Literal["murmur2", "crc32"]
SKEW_WARN = 1.5  # max/avg keys per partition above which a partitioner is reported as skewed

_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (seed 0x9747b28c) as an unsigned 32-bit value."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    for i in range(0, length - length % 4, 4):
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    tail = length & ~3
    extra = length % 4
    if extra == 3:
        h ^= data[tail + 2] << 16
    if extra >= 2:
        h ^= data[tail + 1] << 8
    if extra >= 1:
        h ^= data[tail]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def partition_for(key: bytes, partitions: int, partitioner: Partitioner) -> int:
    """The partition a keyed record lands in with the named partitioner."""
    if partitions < 1:
        raise InvalidArgument(f"partitions must be at least 1, got {partitions}.")
    if partitioner == "murmur2":
        return (murmur2(key) & 0x7FFFFFFF) % partitions
    return zlib.crc32(key) % partitions


class PartitionerSpread(BaseModel):
    partitioner: Partitioner
    clients: str = Field(description="Which clients use this partitioner by default.")
    keys_per_partition: list[int] = Field(description="Sampled keyed records per partition, index = partition.")
    partition_skew: float = Field(description="max/avg keyed records per partition; 1.0 is perfectly even.")
    busiest_partition: int
    busiest_share: float = Field(description="Fraction of sampled records landing in the busiest partition.")
    skewed: bool = Field(description=f"True when partition_skew exceeds {SKEW_WARN}.")


class KeySkewAnalysis(BaseModel):
    topic: str | None
    partitions: int = Field(description="Partition count the keys were mapped to.")
    sampled_records: int
    keyed_records: int
    null_keys: int = Field(description="Records without a key (spread by the sticky/random partitioner, not by key).")
    distinct_keys: int
    top_keys: list[tuple[str, int]] = Field(description="The most frequent keys (repr, count); hot keys skew.")
    spreads: list[PartitionerSpread]
    verdict: str


class PartitionRecommendation(BaseModel):
    recommended_partitions: int
    by_throughput: int = Field(description="ceil(target throughput / per-partition throughput).")
    by_consumers: int = Field(description="Consumers that must read in parallel.")
    formula: str
    notes: list[str]


JAVA_CLIENTS = "Java/Kafka Streams/Spring (and librdkafka with partitioner=murmur2_random)"
LIBRDKAFKA_CLIENTS = "confluent-kafka Python/Go/.NET and librdkafka defaults (consistent_random)"


def recommend_partitions(
    *,
    target_throughput: float,
    per_partition_throughput: float,
    consumers: int,
    current_partitions: int | None = None,
    unit: str = "records/s",
) -> PartitionRecommendation:
    """The seed's rule: max(target / per-partition throughput, consumer parallelism), never fewer than one."""
    if target_throughput <= 0 or per_partition_throughput <= 0:
        raise InvalidArgument(
            "target_throughput and per_partition_throughput must be positive.",
            hint="Measure per-partition throughput with kafka_perf_test on a one-partition topic.",
        )
    if consumers < 0:
        raise InvalidArgument("consumers cannot be negative.")
    by_tp = math.ceil(target_throughput / per_partition_throughput)
    rec = max(by_tp, consumers, 1)
    notes = []
    if rec == 1:
        notes.append("One partition gives no parallelism; prefer at least as many partitions as consumers.")
    if current_partitions is not None:
        if current_partitions < rec:
            notes.append(
                f"The topic has {current_partitions} partition(s), fewer than needed; adding partitions remaps keys "
                "(per-key ordering breaks across the change)."
            )
        else:
            notes.append(f"The topic's {current_partitions} partition(s) already cover this need.")
    notes.append(
        f"Throughput: {target_throughput:g} {unit} / {per_partition_throughput:g} {unit} per partition = {by_tp}."
    )
    return PartitionRecommendation(
        recommended_partitions=rec,
        by_throughput=by_tp,
        by_consumers=consumers,
        formula="max(ceil(target_throughput / per_partition_throughput), consumers)",
        notes=notes,
    )


def spread(keys: Counter[bytes], partitions: int, partitioner: Partitioner) -> PartitionerSpread:
    counts = [0] * partitions
    for key, n in keys.items():
        counts[partition_for(key, partitions, partitioner)] += n
    total = sum(counts)
    avg = total / partitions if partitions else 0.0
    busiest = max(range(partitions), key=lambda p: counts[p])
    skew = (counts[busiest] / avg) if avg else 0.0
    return PartitionerSpread(
        partitioner=partitioner,
        clients=JAVA_CLIENTS if partitioner == "murmur2" else LIBRDKAFKA_CLIENTS,
        keys_per_partition=counts,
        partition_skew=round(skew, 3),
        busiest_partition=busiest,
        busiest_share=round(counts[busiest] / total, 4) if total else 0.0,
        skewed=partitions > 1 and skew > SKEW_WARN,
    )


def analyse_keys(keys: list[bytes | None], partitions: int, *, topic: str | None = None) -> KeySkewAnalysis:
    """Map sampled keys with both partitioners and say which clients would skew."""
    if partitions < 1:
        raise InvalidArgument(f"partitions must be at least 1, got {partitions}.")
    keyed: Counter[bytes] = Counter(k for k in keys if k is not None)
    nulls = sum(1 for k in keys if k is None)
    spreads = [spread(keyed, partitions, "murmur2"), spread(keyed, partitions, "crc32")] if keyed else []
    top = [(repr(k)[2:-1][:80], n) for k, n in keyed.most_common(5)]
    if not keyed:
        verdict = "No keyed records in the sample: records spread by the sticky/random partitioner, not by key."
    else:
        bad = [s.partitioner for s in spreads if s.skewed]
        if not bad:
            verdict = f"Keys spread evenly (skew <= {SKEW_WARN}) with both partitioners."
        elif len(bad) == 2:
            hot = top[0][1] / sum(keyed.values()) if top else 0
            cause = " a few hot keys dominate" if hot > 1 / partitions else " the key set hashes unevenly"
            verdict = f"Skewed with both partitioners:{cause}; consider a better key or more distinct keys."
        else:
            who = JAVA_CLIENTS if bad[0] == "murmur2" else LIBRDKAFKA_CLIENTS
            verdict = f"Skewed only with {bad[0]}: producers using {who} would overload one partition."
    return KeySkewAnalysis(
        topic=topic,
        partitions=partitions,
        sampled_records=len(keys),
        keyed_records=sum(keyed.values()),
        null_keys=nulls,
        distinct_keys=len(keyed),
        top_keys=top,
        spreads=spreads,
        verdict=verdict,
    )


def sample_keys(
    consumer_conf: dict[str, object], admin: AdminClient, topic: str, *, max_records: int, timeout: float
) -> tuple[list[bytes | None], int]:
    """Up to ``max_records`` keys from the latest records of every partition (evenly), and the partition count."""
    from confluent_kafka import Consumer, TopicPartition

    from core.kafka.offsets import watermarks

    meta = metadata(admin, timeout=timeout, topic=topic)
    tmeta = meta.topics.get(topic)
    if tmeta is None or tmeta.error is not None or not tmeta.partitions:
        raise NotFound(f"Topic {topic!r} does not exist.", hint="List the topics with kafka_list_topics.")
    parts = sorted(tmeta.partitions)
    marks = watermarks(admin, [(topic, p) for p in parts], timeout=timeout)
    per_part = max(1, max_records // len(parts))
    assignment, remaining = [], 0
    for w in marks:
        start = max(w.low, w.high - per_part)
        if w.high > start:
            assignment.append(TopicPartition(topic, w.partition, start))
            remaining += w.high - start
    keys: list[bytes | None] = []
    if not assignment:
        return keys, len(parts)
    ends = {w.partition: w.high for w in marks}
    consumer = Consumer(consumer_conf)
    try:
        consumer.assign(assignment)
        import time

        deadline = time.monotonic() + timeout
        idle = 0
        # Transaction markers take offsets without yielding records: stop after a few empty polls.
        while remaining > 0 and time.monotonic() < deadline and idle < 4:
            batch = consumer.consume(500, timeout=0.5)
            idle = 0 if batch else idle + (1 if keys else 0)
            for msg in batch:
                if msg.error() is not None:
                    continue
                if (msg.offset() or 0) < ends[msg.partition() or 0]:
                    keys.append(msg.key())
                    remaining -= 1
    finally:
        consumer.close()
    return keys, len(parts)
