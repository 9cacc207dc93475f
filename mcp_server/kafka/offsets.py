"""Partition offsets in batched ``list_offsets`` calls (librdkafka groups them per leader broker)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel

from mcp_server.errors import translate_kafka_error

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

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
