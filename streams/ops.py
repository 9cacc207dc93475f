"""Kafka-side work for stream applications: the deploy plan (which topics exist, which to create) and cleanup."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from core.errors import NotFound, translate_kafka_error
from core.kafka._futures import metadata, wait
from streams.spec import StreamSpec

if TYPE_CHECKING:
    from core.gate import Permit


class DeployPlan(BaseModel):
    """What deploying a spec needs from the cluster."""

    brokers: int
    input_topics: dict[str, int] = Field(description="Input topic -> partition count (all must exist).")
    sink_topic: str
    sink_exists: bool
    sink_partitions: int = Field(description="Partitions of the sink (existing, or to be created).")
    sink_replication_factor: int
    internal_replication_factor: int = Field(description="RF Kafka Streams uses for its internal topics.")
    internal_topic_prefix: str = Field(description="Internal (repartition, changelog) topics start with this.")


def plan_deploy(admin: Any, spec: StreamSpec, *, timeout: float) -> DeployPlan:
    meta = metadata(admin, timeout=timeout)
    brokers = len(meta.brokers)
    inputs: dict[str, int] = {}
    topics = [spec.source.topic] + ([spec.join.topic] if spec.join else [])
    for topic in topics:
        tmeta = meta.topics.get(topic)
        if tmeta is None or not tmeta.partitions:
            raise NotFound(
                f"Input topic {topic!r} does not exist.",
                hint="Create it first (kafka_create_topic) or fix the spec's topic name.",
            )
        inputs[topic] = len(tmeta.partitions)
    sink = meta.topics.get(spec.sink.topic)
    sink_exists = sink is not None and bool(sink.partitions)
    rf_default = min(3, brokers)
    if sink_exists and sink is not None:
        partitions = len(sink.partitions)
        rf = len(next(iter(sink.partitions.values())).replicas)
    else:
        partitions = spec.sink.partitions or inputs[spec.source.topic]
        rf = spec.sink.replication_factor or rf_default
    return DeployPlan(
        brokers=brokers,
        input_topics=inputs,
        sink_topic=spec.sink.topic,
        sink_exists=sink_exists,
        sink_partitions=partitions,
        sink_replication_factor=rf,
        internal_replication_factor=rf_default,
        internal_topic_prefix=spec.internal_topic_prefix(),
    )


def internal_topics(admin: Any, application_id: str, *, timeout: float) -> list[str]:
    """The application's repartition and changelog topics (named ``<application.id>-...``)."""
    meta = metadata(admin, timeout=timeout)
    prefix = f"{application_id}-"
    return sorted(
        t for t in meta.topics if t.startswith(prefix) and (t.endswith("-changelog") or t.endswith("-repartition"))
    )


class CleanupResult(BaseModel):
    deleted_topics: list[str] = Field(default_factory=list)
    failed_topics: dict[str, str] = Field(default_factory=dict, description="Topic -> why it was not deleted.")
    group_deleted: bool = False
    group_error: str | None = None


def delete_application_resources(
    permit: Permit, admin: Any, application_id: str, topics: list[str], *, timeout: float
) -> CleanupResult:
    """Delete the internal topics and the application's consumer group (``permit`` must cover ``topic.delete`` of
    each topic and ``group.delete`` of the group); per-entity results."""
    for topic in topics:
        permit.require("topic.delete", topic)
    permit.require("group.delete", application_id)
    result = CleanupResult()
    if topics:
        futures = admin.delete_topics(topics, operation_timeout=timeout, request_timeout=timeout)
        for topic, future in futures.items():
            try:
                future.result(timeout=timeout + 1)
                result.deleted_topics.append(topic)
            except Exception as exc:
                result.failed_topics[topic] = str(translate_kafka_error(exc, what=f"delete topic {topic!r}"))
    try:
        futures = admin.delete_consumer_groups([application_id], request_timeout=timeout)
        wait(futures[application_id], what=f"delete group {application_id!r}", timeout=timeout + 1)
        result.group_deleted = True
    except Exception as exc:
        result.group_error = str(exc)
    return result
