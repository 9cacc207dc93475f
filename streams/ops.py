"""Kafka-side work for stream applications: the deploy plan (which topics exist, which to create), what an earlier
application of the same id left behind, the start offsets of a new SQL query, and cleanup."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from core.errors import KafkaAgentError, NotFound, translate_kafka_error
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


class GroupState(BaseModel):
    """The consumer group of an application id, as the coordinator sees it."""

    exists: bool
    state: str = "DEAD"
    members: list[str] = Field(default_factory=list, description="client-id@host of each member.")
    committed_partitions: int = 0


def group_state(admin: Any, group: str, *, timeout: float) -> GroupState:
    from core.kafka import groups as kgroups

    desc = kgroups.describe_many(admin, [group], timeout=timeout)[group]
    if isinstance(desc, KafkaAgentError):
        if isinstance(desc, NotFound):
            return GroupState(exists=False)
        raise desc
    members = sorted({f"{m.client_id}@{m.host}" for m in desc.members or []})
    state = str(getattr(desc.state, "name", desc.state)).upper()
    try:
        committed = kgroups.committed_offsets(admin, group, timeout=timeout)
    except NotFound:
        committed = {}
    count = sum(1 for v in committed.values() if v is not None)
    exists = bool(members) or count > 0 or state not in ("DEAD", "UNKNOWN")
    return GroupState(exists=exists, state=state, members=members, committed_partitions=count)


class Leftovers(BaseModel):
    """What an application id already has on the cluster before a new application of that id starts."""

    application_id: str
    group: GroupState
    internal_topics: list[str] = Field(default_factory=list)

    @property
    def instances(self) -> list[str]:
        """Members that are Kafka Streams instances of this application (their client id says so)."""
        return [m for m in self.group.members if m.startswith(f"{self.application_id}-") and "StreamThread" in m]

    @property
    def strangers(self) -> list[str]:
        """Members that are not (a plain consumer that uses the application id as its group)."""
        return [m for m in self.group.members if m not in self.instances]

    @property
    def running_elsewhere(self) -> bool:
        return bool(self.instances) and not self.strangers

    @property
    def any(self) -> bool:
        return self.group.committed_partitions > 0 or bool(self.internal_topics) or self.running_elsewhere

    def describe(self) -> str:
        parts = []
        if self.group.members:
            parts.append(f"{len(self.group.members)} running member(s) ({', '.join(self.group.members)})")
        if self.group.committed_partitions:
            parts.append(f"committed offsets on {self.group.committed_partitions} partition(s)")
        if self.internal_topics:
            parts.append(f"internal topic(s) {', '.join(self.internal_topics)}")
        return "; ".join(parts) or "nothing"


def leftovers(admin: Any, application_id: str, *, timeout: float) -> Leftovers:
    return Leftovers(
        application_id=application_id,
        group=group_state(admin, application_id, timeout=timeout),
        internal_topics=internal_topics(admin, application_id, timeout=timeout),
    )


def start_at_end(
    permit: Permit, admin: Any, name: str, application_id: str, topics: list[str], *, timeout: float
) -> int:
    """Commit the end of each input topic as the new application's position (``permit``: ``stream.deploy`` of it),
    so a query reads from the moment it was created (ksqlDB's 'latest') without racing Kafka Streams' own reset:
    records produced once the CREATE returned are never skipped. Only for a group without offsets."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

    from core.kafka.offsets import list_offsets

    permit.require("stream.deploy", name)
    meta = metadata(admin, timeout=timeout)
    partitions = [(t, p) for t in topics for p in sorted(meta.topics[t].partitions)]
    ends = list_offsets(admin, partitions, "latest", timeout=timeout)
    tps = [TopicPartition(t, p, ends[(t, p)]) for t, p in partitions]
    futures = admin.alter_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(application_id, tps)], request_timeout=timeout
    )
    wait(futures[application_id], what=f"set the start offsets of {application_id!r}", timeout=timeout + 1)
    return len(tps)


def produce_one(
    permit: Permit,
    producer: Any,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    timestamp: int | None,
    *,
    timeout: float,
) -> dict[str, Any]:
    """Write one record already encoded in the topic's formats (INSERT INTO ... VALUES; ``permit``: topic.produce of
    the topic); returns its partition and offset."""
    permit.require("topic.produce", topic)
    outcome: dict[str, Any] = {}

    def done(err: Any, msg: Any) -> None:
        if err is not None:
            outcome["error"] = f"{err.name()}: {err.str()}"
        else:
            outcome.update(partition=msg.partition(), offset=msg.offset())

    kwargs: dict[str, Any] = {"key": key, "value": value, "on_delivery": done}
    if timestamp is not None:
        kwargs["timestamp"] = timestamp
    producer.produce(topic, **kwargs)
    producer.flush(timeout)
    if "error" in outcome or "offset" not in outcome:
        from core.errors import KafkaOperationError

        raise KafkaOperationError(
            f"The record was not written to {topic!r}: {outcome.get('error', 'not acknowledged in time')}."
        )
    return {"topic": topic, **outcome}


class CleanupResult(BaseModel):
    deleted_topics: list[str] = Field(default_factory=list)
    failed_topics: dict[str, str] = Field(default_factory=dict, description="Topic -> why it was not deleted.")
    group_deleted: bool = False
    group_error: str | None = None
    complete: bool = Field(True, description="False when something below was left behind.")
    remaining: list[str] = Field(
        default_factory=list,
        description="Exactly what is left behind, and why: delete these by hand before reusing "
        "the name (kafka_delete_topic, kafka_delete_consumer_group), or they would carry the old state over.",
    )


def delete_application_resources(
    permit: Permit, admin: Any, application_id: str, topics: list[str], *, timeout: float, group_wait_s: float = 20.0
) -> CleanupResult:
    """Delete the internal topics and the application's consumer group (``permit`` must cover ``topic.delete`` of
    each topic and ``group.delete`` of the group); per-entity results.

    A member that was killed (not stopped) stays in the group until its session times out (10 s for our runners), and
    the group cannot be deleted until then (NON_EMPTY_GROUP): the deletion is retried for ``group_wait_s``. What is
    still there afterwards is listed in ``remaining``, with the reason."""
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
    deadline = time.monotonic() + group_wait_s
    while True:
        try:
            futures = admin.delete_consumer_groups([application_id], request_timeout=timeout)
            wait(futures[application_id], what=f"delete group {application_id!r}", timeout=timeout + 1)
            result.group_deleted, result.group_error = True, None
            break
        except Exception as exc:
            text = str(exc)
            if "GROUP_ID_NOT_FOUND" in text or "does not exist" in text:
                result.group_deleted, result.group_error = True, None  # never joined, or already gone
                break
            result.group_error = text
            if "NON_EMPTY" not in text.upper() or time.monotonic() > deadline:
                break
            time.sleep(1.0)
    for topic, why in result.failed_topics.items():
        result.remaining.append(f"internal topic {topic}: {why}")
    if not result.group_deleted:
        try:
            state = group_state(admin, application_id, timeout=timeout)
            members = f"; members: {', '.join(state.members)}" if state.members else ""
            detail = f"{state.state}, offsets on {state.committed_partitions} partition(s){members}"
        except KafkaAgentError:
            detail = "state unknown"
        result.remaining.append(f"consumer group {application_id} ({detail}): {result.group_error}")
    result.complete = not result.remaining
    return result
