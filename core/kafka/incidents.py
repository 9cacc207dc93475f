"""Incidents on a compacted Kafka topic (``agents.incidents`` by default), keyed by incident id.

`kafka-agent watch` writes an incident when a rule fires, again on every change (its evidence, a diagnosis run)
and when it resolves; compaction keeps the latest state of each. Anyone reads them back: the ``kafka_incidents``
tool, the exporter, the watch process that takes over a cluster from another. Writing is a change like any other:
``publish`` takes a ``Permit`` (action ``incident.write`` on the topic) that only the gate makes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from core.errors import NotFound, OperationTimeout, translate_kafka_error

if TYPE_CHECKING:
    from confluent_kafka import Producer

    from core.gate import Permit

Severity = Literal["critical", "warning"]
IncidentStatus = Literal["open", "resolved"]
TIMELINE_MAX = 50


class IncidentEvent(BaseModel):
    at: float = Field(description="Unix time (s).")
    what: str


class Incident(BaseModel):
    id: str = Field(description="Unique: <cluster>.<rule>.<subject>.<opened ms>.")
    cluster: str
    rule: str = Field(
        description="broker_down, under_replicated, offline_partitions, under_min_isr, lag_stall, lag_stop, "
        "request_latency."
    )
    subject: str = Field(description="What it is about: 'broker 2', 'group orders-app', 'cluster'.")
    severity: Severity
    status: IncidentStatus = "open"
    summary: str
    opened_at: float
    updated_at: float
    resolved_at: float | None = None
    first_seen_at: float = Field(description="When the condition was first seen (before any confirmation).")
    detection_delay_s: float | None = Field(
        None, description="From the failure's first sign the watch could see to the incident (when known)."
    )
    evidence: dict[str, Any] = Field(default_factory=dict)
    timeline: list[IncidentEvent] = Field(default_factory=list)
    diagnosis_run: str | None = Field(
        None, description="The agent run that diagnosed it (kafka-agent watch --diagnose)."
    )
    diagnosis: str | None = Field(None, description="The run's conclusion and proposed fix (pending approval).")
    watcher: str | None = Field(None, description="The watch process that owns the cluster.")

    @property
    def key(self) -> str:
        """One open incident per rule and subject of a cluster."""
        return f"{self.cluster}|{self.rule}|{self.subject}"

    def note(self, what: str, at: float) -> None:
        self.timeline.append(IncidentEvent(at=at, what=what))
        if len(self.timeline) > TIMELINE_MAX:
            self.timeline = [self.timeline[0], *self.timeline[-(TIMELINE_MAX - 1) :]]
        self.updated_at = at


class IncidentList(BaseModel):
    incidents: list[Incident]
    count: int = Field(description="Incidents matching, before the limit.")
    topic: str


def incident_id(cluster: str, rule: str, subject: str, opened_at: float) -> str:
    slug = "".join(c if c.isalnum() or c in "-_" else "-" for c in subject).strip("-") or "x"
    return f"{cluster}.{rule}.{slug}.{int(opened_at * 1000)}"


def publish(permit: Permit, producer: Producer, topic: str, incident: Incident, *, timeout: float) -> Incident:
    """Write the incident's latest state (key: its id) and wait until the brokers have it."""
    permit.require("incident.write", topic)
    errors: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    producer.produce(topic, key=incident.id.encode(), value=incident.model_dump_json().encode(), on_delivery=delivered)
    left = producer.flush(timeout)
    if errors:
        raise OperationTimeout(f"Could not write incident {incident.id} to {topic}: {errors[0]}.")
    if left:
        raise OperationTimeout(
            f"Incident {incident.id} was not acknowledged by {topic} within {timeout:g}s.",
            hint="Check the health of the cluster holding the incidents topic.",
        )
    return incident


def read_all(consumer_config: dict[str, Any], topic: str, *, timeout: float) -> dict[str, Incident]:
    """Every incident's latest state: the topic read from the beginning to its end, by an assign-only consumer."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer(
        {
            **consumer_config,
            "group.id": "kafka-agent-incidents-reader",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    out: dict[str, Incident] = {}
    try:
        meta = consumer.list_topics(topic, timeout=timeout)
        tmeta = meta.topics.get(topic)
        if tmeta is None or tmeta.error is not None:
            return out
        ends: dict[int, int] = {}
        for p in tmeta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            if high > low:
                ends[p] = high
        if not ends:
            return out
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        pending = set(ends)
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise OperationTimeout(f"Reading the incidents topic {topic} did not finish within {timeout:g}s.")
            for msg in consumer.consume(500, timeout=0.5):
                if msg.error() is not None:
                    if msg.error().code() == -191:  # _PARTITION_EOF
                        pending.discard(msg.partition())
                    continue
                if msg.offset() >= ends[msg.partition()] - 1:
                    pending.discard(msg.partition())
                key, value = msg.key(), msg.value()
                if key is None:
                    continue
                if value is None:  # a tombstone
                    out.pop(key.decode(), None)
                    continue
                try:
                    out[key.decode()] = Incident.model_validate_json(value)
                except ValueError:
                    continue
    except KafkaException as exc:
        raise translate_kafka_error(exc, what=f"read the incidents topic {topic}") from exc
    finally:
        consumer.close()
    return out


def list_incidents(
    consumer_config: dict[str, Any],
    topic: str,
    *,
    timeout: float,
    status: Literal["open", "resolved", "all"] = "open",
    incident_id: str | None = None,
    cluster: str | None = None,
    limit: int = 50,
) -> IncidentList:
    everything = read_all(consumer_config, topic, timeout=timeout)
    if incident_id is not None:
        found = everything.get(incident_id)
        if found is None:
            raise NotFound(f"No incident {incident_id!r} in {topic}.", hint="List them with kafka_incidents.")
        return IncidentList(incidents=[found], count=1, topic=topic)
    rows = [
        i for i in everything.values() if (status in ("all", i.status)) and (cluster is None or i.cluster == cluster)
    ]
    rows.sort(key=lambda i: i.opened_at, reverse=True)
    return IncidentList(incidents=rows[:limit], count=len(rows), topic=topic)
