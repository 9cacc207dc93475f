"""Consumer lag for one, several or all groups, built to stay fast with hundreds of groups and thousands of partitions.

One metadata request, one batched describe of every group, every group's committed offsets requested at once (the
API takes one group per request), and the log end offsets of all partitions in one batched ``list_offsets`` (librdkafka
groups it per leader), cached for ``lag_cache_ttl_s``. Time lag reads one record per lagging partition, on request.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, Field, WithJsonSchema

from core.errors import InvalidArgument, KafkaAgentError, NotFound
from core.kafka import groups as kgroups
from core.kafka.offsets import list_offsets

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

TIME_LAG_MAX_PARTITIONS = 100


class PartitionLag(BaseModel):
    topic: str
    partition: int
    committed: int | None = Field(description="Committed offset; null when the group has no committed offset here.")
    log_end: int | None = Field(description="Log end offset (high watermark); null if the partition is gone.")
    lag: int | None = Field(description="log_end - committed; null when there is no committed offset.")
    time_lag_ms: int | None = Field(
        None, description="Age of the record at the committed offset (only when asked, for lagging partitions)."
    )
    assigned_to: str | None = Field(None, description="client_id@host of the member that owns the partition.")
    note: str | None = None
    status: str | None = Field(None, description="OK, WARN, STALL, STOP, ERROR or UNKNOWN over the lag window.")


class TopicLag(BaseModel):
    topic: str
    total_lag: int
    partitions_without_commit: int
    max_time_lag_ms: int | None = None
    # The published schema of the rows is kept loose on purpose: MCP clients validate structured output against the
    # schema, and a fully described row costs ~0.4 ms to validate, seconds for tens of thousands of partitions.
    partitions: Annotated[
        list[PartitionLag],
        WithJsonSchema({"type": "array", "items": {"type": "object"}}),
    ] = Field(
        description="Per partition (empty when include_partitions=false): topic, partition, committed (null = no "
        "committed offset), log_end, lag (null when not computable), time_lag_ms, assigned_to, note, status."
    )


class GroupLag(BaseModel):
    group_id: str
    state: str | None = None
    member_count: int | None = None
    total_lag: int = 0
    partitions_without_commit: int = 0
    topics: list[TopicLag] = Field(default_factory=list)
    error: str | None = Field(None, description="Why this group's lag could not be computed.")
    status: str | None = Field(
        None,
        description="Burrow-style, over the lag window: OK, WARN (lag growing), STALL (offset not moving, lag > 0), "
        "STOP (not moving for long, or no member left), ERROR (rewound or out of range), UNKNOWN (window not full).",
    )
    status_reason: str | None = None
    time_lag_s: float | None = Field(None, description="How long ago the log end was where the group is now.")


class LagReport(BaseModel):
    groups: list[GroupLag]
    group_count: int
    total_lag: int
    end_offsets_age_ms: int = Field(description="Age of the log end offsets used (0 = fetched by this call).")
    notes: list[str] = Field(default_factory=list)


class EndOffsetCache:
    """Log end offsets per (cluster, topic, partition), reused for ``ttl`` seconds. Thread safe."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str, int], tuple[int, float]] = {}

    def get_many(
        self, admin: AdminClient, cluster: str, partitions: list[tuple[str, int]], *, timeout: float
    ) -> tuple[dict[tuple[str, int], int], float]:
        """Offsets for every partition, and the age in seconds of the oldest one used."""
        now = time.monotonic()
        out: dict[tuple[str, int], int] = {}
        oldest = now
        stale: list[tuple[str, int]] = []
        with self._lock:
            for tp in partitions:
                hit = self._items.get((cluster, *tp))
                if hit is not None and now - hit[1] <= self.ttl:
                    out[tp] = hit[0]
                    oldest = min(oldest, hit[1])
                else:
                    stale.append(tp)
        if stale:
            fetched = list_offsets(admin, stale, "latest", timeout=timeout, read_committed=False)
            stamp = time.monotonic()
            with self._lock:
                for tp, off in fetched.items():
                    self._items[(cluster, *tp)] = (off, stamp)
            out.update(fetched)
        return out, max(0.0, now - oldest)

    def close(self) -> None:
        with self._lock:
            self._items.clear()


def consumer_lag(
    admin: AdminClient,
    *,
    cluster: str,
    cache: EndOffsetCache,
    timeout: float,
    groups: list[str] | None = None,
    topic: str | None = None,
    include_partitions: bool = True,
    time_lag_consumer: dict[str, Any] | None = None,
) -> LagReport:
    """Lag of the named groups (all groups when ``groups`` is None). ``time_lag_consumer`` is the config of an
    assign-based consumer; when given, the age of the record at the committed offset is estimated for up to
    ``TIME_LAG_MAX_PARTITIONS`` lagging partitions."""
    notes: list[str] = []
    named = groups is not None
    if groups is not None and not groups:
        raise InvalidArgument("groups is an empty list.", hint="Name at least one group, or omit groups for all.")
    group_ids = sorted(set(groups)) if groups is not None else kgroups.all_group_ids(admin, timeout=timeout)
    for g in group_ids:
        kgroups.validate_group_id(g)
    descs = kgroups.describe_many(admin, group_ids, timeout=timeout)
    committed = kgroups.committed_offsets_many(admin, group_ids, timeout=timeout)
    existing = kgroups.topic_partition_ids(admin, timeout=timeout)

    results: dict[str, GroupLag] = {}
    rows: dict[str, list[PartitionLag]] = {}
    for gid in group_ids:
        desc, offsets = descs.get(gid), committed.get(gid)
        if isinstance(offsets, KafkaAgentError):
            results[gid] = GroupLag(group_id=gid, error=offsets.message)
            continue
        offsets = dict(offsets or {})
        owners: dict[tuple[str, int], str] = {}
        state = members = None
        if desc is not None and not isinstance(desc, Exception):
            state, members = kgroups._enum_name(desc.state), len(desc.members or [])
            for m in desc.members or []:
                for tp in getattr(m.assignment, "topic_partitions", None) or []:
                    owners[(tp.topic, tp.partition)] = f"{m.client_id}@{m.host}"
                    offsets.setdefault((tp.topic, tp.partition), None)
        if not offsets and kgroups._is_missing(desc):
            results[gid] = GroupLag(group_id=gid, error=kgroups._not_found(gid).message)
            continue
        results[gid] = GroupLag(group_id=gid, state=state, member_count=members)
        rows[gid] = [
            PartitionLag(topic=t, partition=p, committed=off, log_end=None, lag=None, assigned_to=owners.get((t, p)))
            for (t, p), off in sorted(offsets.items())
            if topic is None or t == topic
        ]

    if named and len(group_ids) == 1 and results[group_ids[0]].error:
        raise NotFound(results[group_ids[0]].error or "", hint="List the groups with kafka_list_consumer_groups.")
    if topic is not None and topic not in existing:
        raise NotFound(f"Topic {topic!r} does not exist.", hint="See kafka_list_topics for the topics that exist.")

    wanted = sorted(
        {(r.topic, r.partition) for rs in rows.values() for r in rs if r.partition in existing.get(r.topic, ())}
    )
    ends, age = cache.get_many(admin, cluster, wanted, timeout=timeout)
    lagging: list[PartitionLag] = []
    for rs in rows.values():
        for r in rs:
            r.log_end = ends.get((r.topic, r.partition))
            if r.log_end is None:
                r.note = "topic or partition no longer exists"
            elif r.committed is None:
                r.note = "no committed offset"
            else:
                r.lag = max(0, r.log_end - r.committed)
                if r.lag > 0:
                    lagging.append(r)

    if time_lag_consumer is not None and lagging:
        lagging.sort(key=lambda r: -(r.lag or 0))
        if len(lagging) > TIME_LAG_MAX_PARTITIONS:
            notes.append(
                f"time lag estimated for the {TIME_LAG_MAX_PARTITIONS} most lagging of {len(lagging)} lagging "
                "partitions only"
            )
        subset = lagging[:TIME_LAG_MAX_PARTITIONS]
        stamps = record_timestamps(
            time_lag_consumer, {(r.topic, r.partition, r.committed or 0) for r in subset}, timeout=min(timeout, 10)
        )
        now_ms = int(time.time() * 1000)
        for r in subset:
            ts = stamps.get((r.topic, r.partition, r.committed or 0))
            if ts is not None:
                r.time_lag_ms = max(0, now_ms - ts)

    total = 0
    for gid, rs in rows.items():
        by_topic: dict[str, list[PartitionLag]] = {}
        for r in rs:
            by_topic.setdefault(r.topic, []).append(r)
        glag = results[gid]
        for t, trs in sorted(by_topic.items()):
            tl = [r.time_lag_ms for r in trs if r.time_lag_ms is not None]
            glag.topics.append(
                TopicLag(
                    topic=t,
                    total_lag=sum(r.lag or 0 for r in trs),
                    partitions_without_commit=sum(1 for r in trs if r.committed is None),
                    max_time_lag_ms=max(tl) if tl else None,
                    partitions=trs if include_partitions else [],
                )
            )
        glag.total_lag = sum(t.total_lag for t in glag.topics)
        glag.partitions_without_commit = sum(t.partitions_without_commit for t in glag.topics)
        total += glag.total_lag
    ordered = [results[g] for g in group_ids]
    return LagReport(
        groups=ordered,
        group_count=len(ordered),
        total_lag=total,
        end_offsets_age_ms=int(age * 1000),
        notes=notes,
    )


def record_timestamps(
    consumer_config: dict[str, Any], targets: set[tuple[str, int, int]], *, timeout: float
) -> dict[tuple[str, int, int], int]:
    """Timestamp (ms) of the first record at or after each (topic, partition, offset), read by an assign-based
    consumer that never joins or commits a group. Missing keys: no record arrived in time."""
    from confluent_kafka import Consumer, TopicPartition

    if not targets:
        return {}
    consumer = Consumer({**consumer_config, "enable.partition.eof": True})
    out: dict[tuple[str, int, int], int] = {}
    by_tp = {(t, p): off for t, p, off in targets}
    try:
        consumer.assign([TopicPartition(t, p, off) for (t, p), off in by_tp.items()])
        pending = set(by_tp)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                tp = (msg.topic(), msg.partition())
                if tp not in pending:
                    continue
                if msg.error() is not None:
                    if msg.error().code() == -191:  # _PARTITION_EOF: nothing at or after the offset
                        pending.discard(tp)
                    continue
                _, ts = msg.timestamp()
                if ts > 0:
                    out[(tp[0], tp[1], by_tp[tp])] = int(ts)
                pending.discard(tp)
                consumer.pause([TopicPartition(*tp)])
    finally:
        consumer.close()
    return out
