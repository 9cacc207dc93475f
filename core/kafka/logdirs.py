"""Disk use per broker, per topic and per partition, from the brokers' own log-dir descriptions (Kafka's
DescribeLogDirs, through the admin helper: confluent-kafka has no such call)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from core.errors import InvalidArgument

if TYPE_CHECKING:
    from core.kafka.jadmin import JavaAdmin

Sizes = dict[tuple[str, int], dict[int, int]]  # (topic, partition) -> broker -> bytes on that broker


class LogDir(BaseModel):
    path: str
    error: str | None = Field(None, description="Why the broker could not describe this folder (offline disk ...).")
    size_bytes: int = Field(description="Bytes of the replicas in this folder.")
    replicas: int
    total_bytes: int | None = Field(None, description="The disk's size, when the broker reports it.")
    usable_bytes: int | None = Field(None, description="Free space on the disk, when the broker reports it.")


class BrokerDisk(BaseModel):
    broker: int
    error: str | None = None
    size_bytes: int = Field(description="Bytes of every replica this broker holds.")
    replicas: int
    dirs: list[LogDir]


class TopicDisk(BaseModel):
    topic: str
    size_bytes: int = Field(description="Bytes over all replicas (about RF x the data).")
    partitions: int
    per_broker: dict[int, int] = Field(description="Bytes per broker id.")


class PartitionDisk(BaseModel):
    topic: str
    partition: int
    broker: int
    size_bytes: int
    offset_lag: int = Field(description="How far this replica trails the log end (0 when in sync).")
    future: bool = Field(description="A replica being moved between folders of this broker.")
    path: str


class LogDirsReport(BaseModel):
    brokers: list[BrokerDisk]
    topics: list[TopicDisk] = Field(description="Largest first.")
    partitions: list[PartitionDisk] = Field(
        default_factory=list, description="Per replica, largest first, when asked (capped by max_partitions)."
    )
    total_bytes: int
    notes: list[str] = Field(default_factory=list)


def broker_ids(jadmin: JavaAdmin, *, timeout: float) -> list[int]:
    desc = jadmin.read_op("describeCluster", {}, timeout=timeout)
    return sorted(int(n["id"]) for n in desc["nodes"])


def _raw(jadmin: JavaAdmin, brokers: list[int], timeout: float) -> dict[str, Any]:
    result: dict[str, Any] = jadmin.read_op("describeLogDirs", {"brokers": brokers}, timeout=timeout)
    return result


def replica_sizes(jadmin: JavaAdmin, brokers: list[int], *, timeout: float) -> Sizes:
    """(topic, partition) -> {broker: bytes} for every replica the brokers hold (future replicas left out)."""
    out: Sizes = {}
    for broker, info in _raw(jadmin, brokers, timeout).items():
        for d in info.get("dirs") or []:
            for r in d.get("replicas") or []:
                if not r.get("future"):
                    out.setdefault((r["topic"], int(r["partition"])), {})[int(broker)] = int(r["size"])
    return out


def describe_log_dirs(
    jadmin: JavaAdmin,
    *,
    timeout: float,
    brokers: list[int] | None = None,
    topic_pattern: str | None = None,
    include_partitions: bool = False,
    max_partitions: int = 500,
) -> LogDirsReport:
    """Disk use of every (or the given) broker: per folder, per topic and, when asked, per replica."""
    try:
        matcher = re.compile(topic_pattern) if topic_pattern else None
    except re.error as exc:
        raise InvalidArgument(f"topic_pattern {topic_pattern!r} is not a valid regular expression: {exc}.") from None
    known = broker_ids(jadmin, timeout=timeout)
    wanted = sorted(set(brokers)) if brokers else known
    missing = [b for b in wanted if b not in known]
    if missing:
        raise InvalidArgument(f"Broker(s) {missing} are not in the cluster (brokers: {known}).")
    notes: list[str] = []
    rows: list[BrokerDisk] = []
    topics: dict[str, TopicDisk] = {}
    parts: list[PartitionDisk] = []
    seen: dict[str, set[int]] = {}
    for broker, info in sorted(_raw(jadmin, wanted, timeout).items(), key=lambda kv: int(kv[0])):
        bid = int(broker)
        if info.get("error"):
            err = f"{info['error'].get('type')}: {info['error'].get('message')}"
            rows.append(BrokerDisk(broker=bid, error=err, size_bytes=0, replicas=0, dirs=[]))
            notes.append(f"Broker {bid} did not describe its log dirs: {err}")
            continue
        dirs = []
        for d in info.get("dirs") or []:
            reps = [r for r in d.get("replicas") or [] if matcher is None or matcher.search(r["topic"])]
            err = d.get("error")
            dirs.append(
                LogDir(
                    path=d["path"],
                    error=f"{err.get('type')}: {err.get('message')}" if err else None,
                    size_bytes=sum(int(r["size"]) for r in reps),
                    replicas=len(reps),
                    total_bytes=d.get("totalBytes"),
                    usable_bytes=d.get("usableBytes"),
                )
            )
            for r in reps:
                size = int(r["size"])
                row = topics.setdefault(
                    r["topic"], TopicDisk(topic=r["topic"], size_bytes=0, partitions=0, per_broker={})
                )
                row.size_bytes += size
                row.per_broker[bid] = row.per_broker.get(bid, 0) + size
                seen.setdefault(r["topic"], set()).add(int(r["partition"]))
                if include_partitions:
                    parts.append(
                        PartitionDisk(
                            topic=r["topic"],
                            partition=int(r["partition"]),
                            broker=bid,
                            size_bytes=size,
                            offset_lag=int(r["offsetLag"]),
                            future=bool(r["future"]),
                            path=d["path"],
                        )
                    )
        rows.append(
            BrokerDisk(
                broker=bid,
                size_bytes=sum(d.size_bytes for d in dirs),
                replicas=sum(d.replicas for d in dirs),
                dirs=dirs,
            )
        )
    for name, row in topics.items():
        row.partitions = len(seen[name])
    parts.sort(key=lambda p: (-p.size_bytes, p.topic, p.partition, p.broker))
    if len(parts) > max_partitions:
        notes.append(f"Showing the {max_partitions} largest of {len(parts)} replicas.")
        parts = parts[:max_partitions]
    return LogDirsReport(
        brokers=rows,
        topics=sorted(topics.values(), key=lambda t: (-t.size_bytes, t.topic)),
        partitions=parts,
        total_bytes=sum(b.size_bytes for b in rows),
        notes=notes,
    )
