"""Partition offsets in batched ``list_offsets`` calls (librdkafka groups them per leader broker)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from core.errors import InvalidArgument, translate_kafka_error

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

    from core.gate import Permit

_TRANSIENT = {
    "NOT_LEADER_FOR_PARTITION",
    "LEADER_NOT_AVAILABLE",
    "UNKNOWN_TOPIC_OR_PART",
    "_UNKNOWN_PARTITION",
    "NOT_LEADER_OR_FOLLOWER",
    "OFFSET_NOT_AVAILABLE",
    "FENCED_LEADER_EPOCH",
    "UNKNOWN_LEADER_EPOCH",
}

Spec = Literal["earliest", "latest"] | int  # an int is a timestamp in ms


class PartitionWatermarks(BaseModel):
    topic: str
    partition: int
    low: int
    high: int

    @property
    def messages(self) -> int:
        return max(0, self.high - self.low)


def list_offsets(
    admin: AdminClient, partitions: list[tuple[str, int]], spec: Spec, *, timeout: float, read_committed: bool = True
) -> dict[tuple[str, int], int]:
    """Offsets for many partitions in one batched request. For a timestamp, -1 means no record at or after it."""
    from confluent_kafka import IsolationLevel, TopicPartition
    from confluent_kafka.admin import OffsetSpec

    if not partitions:
        return {}
    if spec == "earliest":
        offset_spec = OffsetSpec.earliest()
    elif spec == "latest":
        offset_spec = OffsetSpec.latest()
    else:
        offset_spec = OffsetSpec.for_timestamp(int(spec))
    level = IsolationLevel.READ_COMMITTED if read_committed else IsolationLevel.READ_UNCOMMITTED
    out: dict[tuple[str, int], int] = {}
    todo = list(partitions)
    deadline = time.monotonic() + timeout
    while todo:
        futures = admin.list_offsets(
            {TopicPartition(t, p): offset_spec for t, p in todo}, isolation_level=level, request_timeout=timeout
        )
        retry: list[tuple[str, int]] = []
        for tp, future in futures.items():
            try:
                result = future.result(timeout=timeout + 1)
            except Exception as exc:
                # Leadership moves (new partitions, a broker restart) are transient: ask again shortly.
                err = exc.args[0] if exc.args else None
                if getattr(err, "name", lambda: "")() in _TRANSIENT and time.monotonic() < deadline:
                    retry.append((tp.topic, tp.partition))
                    continue
                raise translate_kafka_error(exc, what=f"list offsets of {tp.topic}[{tp.partition}]") from None
            out[(tp.topic, tp.partition)] = int(result.offset)
        todo = retry
        if todo:
            time.sleep(0.2)
    return out


def watermarks(admin: AdminClient, partitions: list[tuple[str, int]], *, timeout: float) -> list[PartitionWatermarks]:
    """Low and high watermarks (high is the log end offset, read_uncommitted) of each partition."""
    low = list_offsets(admin, partitions, "earliest", timeout=timeout, read_committed=False)
    high = list_offsets(admin, partitions, "latest", timeout=timeout, read_committed=False)
    return [PartitionWatermarks(topic=t, partition=p, low=low[(t, p)], high=high[(t, p)]) for t, p in partitions]


def topic_message_count(admin: AdminClient, topic: str, partition_ids: list[int], *, timeout: float) -> int:
    return sum(w.messages for w in watermarks(admin, [(topic, p) for p in partition_ids], timeout=timeout))


class PartitionOffsets(BaseModel):
    partition: int
    low: int = Field(description="Log start offset (earliest record still kept).")
    high: int = Field(description="Log end offset (high watermark): the offset the next record will get.")
    messages: int = Field(description="high - low (compaction or transaction markers can make it an upper bound).")
    offset_for_timestamp: int | None = Field(
        None, description="First offset with a timestamp at or after the given one; null if none (or not asked)."
    )


class TopicOffsets(BaseModel):
    topic: str
    partitions: list[PartitionOffsets]
    total_messages: int
    timestamp_ms: int | None = None


class DeletedPartition(BaseModel):
    partition: int
    before: int = Field(description="Records below this offset were asked to be deleted.")
    low_watermark: int | None = Field(None, description="The log start offset after the deletion.")
    error: str | None = None


class DeleteRecordsResult(BaseModel):
    topic: str
    partitions: list[DeletedPartition]
    records_deleted: int = Field(description="Sum over partitions of (new low watermark - old low watermark).")


def topic_offsets(
    admin: AdminClient,
    topic: str,
    partition_ids: list[int],
    *,
    timeout: float,
    timestamp_ms: int | None = None,
) -> TopicOffsets:
    """Watermarks per partition, and the first offset at or after ``timestamp_ms`` when given."""
    tps = [(topic, p) for p in partition_ids]
    marks = watermarks(admin, tps, timeout=timeout)
    by_time = list_offsets(admin, tps, timestamp_ms, timeout=timeout) if timestamp_ms is not None else {}
    parts = [
        PartitionOffsets(
            partition=w.partition,
            low=w.low,
            high=w.high,
            messages=w.messages,
            offset_for_timestamp=(
                by_time[(topic, w.partition)] if by_time.get((topic, w.partition), -1) >= 0 else None
            ),
        )
        for w in marks
    ]
    return TopicOffsets(
        topic=topic, partitions=parts, total_messages=sum(p.messages for p in parts), timestamp_ms=timestamp_ms
    )


def plan_delete_records(
    admin: AdminClient, topic: str, before: dict[int, int], partition_ids: list[int], *, timeout: float
) -> dict[int, tuple[int, int, int]]:
    """partition -> (target, low, high), checked: an offset of -1 means the log end; targets must be in [low, high]."""
    if not before:
        raise InvalidArgument("No partitions given.", hint="Pass before_offsets as {partition: offset}.")
    missing = sorted(set(before) - set(partition_ids))
    if missing:
        raise InvalidArgument(
            f"Topic {topic!r} has no partition(s) {', '.join(map(str, missing))}.",
            hint=f"It has partitions 0..{len(partition_ids) - 1}.",
        )
    marks = {w.partition: w for w in watermarks(admin, [(topic, p) for p in sorted(before)], timeout=timeout)}
    plan: dict[int, tuple[int, int, int]] = {}
    bad: list[str] = []
    for p, off in sorted(before.items()):
        w = marks[p]
        target = w.high if off == -1 else off
        if target < w.low or target > w.high:
            bad.append(f"{p}: {off} (log is {w.low}..{w.high})")
        plan[p] = (target, w.low, w.high)
    if bad:
        raise InvalidArgument(
            f"Offsets outside the log of topic {topic!r}: {'; '.join(bad)}.",
            hint="Give an offset between the partition's low and high watermark, or -1 for the log end.",
        )
    return plan


def delete_records(
    permit: Permit, admin: AdminClient, topic: str, plan: dict[int, tuple[int, int, int]], *, timeout: float
) -> DeleteRecordsResult:
    """Delete every record below the planned offset of each partition; per-partition outcome."""
    from confluent_kafka import TopicPartition

    permit.require("topic.records.delete", topic)
    futures = admin.delete_records(
        [TopicPartition(topic, p, target) for p, (target, _, _) in plan.items()],
        request_timeout=timeout,
        operation_timeout=timeout,
    )
    out: list[DeletedPartition] = []
    deleted = 0
    for tp, future in sorted(futures.items(), key=lambda kv: kv[0].partition):
        target, low, _ = plan[tp.partition]
        try:
            res = future.result(timeout=timeout + 1)
        except Exception as exc:
            err = translate_kafka_error(exc, what=f"delete records of {topic}[{tp.partition}]")
            out.append(DeletedPartition(partition=tp.partition, before=target, error=err.message))
            continue
        out.append(DeletedPartition(partition=tp.partition, before=target, low_watermark=res.low_watermark))
        deleted += max(0, res.low_watermark - low)
    return DeleteRecordsResult(topic=topic, partitions=out, records_deleted=deleted)
