"""Delegation to peer agents (in process, or over Kafka to ``kafka-agent worker`` processes) and escalations.

Topics (created on first use, replication factor min(3, brokers); ``agents`` is ``settings.agents_topic_prefix``):
    agents.<peer>.tasks      task records for a peer, keyed by correlation id; the peer's workers form one group
    agents.<agent>.replies   answers for a requester, keyed by correlation id
    agents.<peer>.results    compacted: every answer a peer produced, so a redelivered task is not done twice
    agents.escalations       critical failures for humans
"""

from __future__ import annotations

import json
import logging
import socket
import time
import uuid
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from agent.phases import MEMORY_WRITE_TOOLS, ToolSpec
from agent.prompts import peer_prompt
from agent.record import RunRecord, Usage, now_iso
from core.errors import OperationTimeout, translate_kafka_error
from core.gate import Change, Gate, Permit, Requester
from core.settings import Settings

if TYPE_CHECKING:
    from agent.runner import Agent

log = logging.getLogger("kafka_agent.delegation")


def tasks_topic(settings: Settings, peer: str) -> str:
    return f"{settings.agents_topic_prefix}.{peer}.tasks"


def replies_topic(settings: Settings, agent: str) -> str:
    return f"{settings.agents_topic_prefix}.{agent}.replies"


def results_topic(settings: Settings, peer: str) -> str:
    return f"{settings.agents_topic_prefix}.{peer}.results"


def escalations_topic(settings: Settings) -> str:
    return f"{settings.agents_topic_prefix}.escalations"


class TaskMessage(BaseModel):
    correlation_id: str
    requester: str
    peer: str
    task: str
    reply_to: str
    parent_task_id: str | None = None
    created_at: str = Field(default_factory=now_iso)


class ReplyMessage(BaseModel):
    correlation_id: str
    peer: str
    status: str
    answer: str = ""
    error: str | None = None
    run_task_id: str | None = None
    worker: str = ""
    usage: Usage = Field(default_factory=Usage)
    finished_at: str = Field(default_factory=now_iso)


def peer_tool_filter(spec: ToolSpec) -> bool:
    """A peer sees read-only tools and memory; it never changes the cluster on another agent's behalf."""
    return spec.read_only and spec.name not in MEMORY_WRITE_TOOLS


async def delegate_local(parent: Agent, peer: str, task: str, *, parent_task_id: str) -> RunRecord:
    """Run ``peer`` in this process on the parent's tool hub, read-only; the caller adds its usage to the parent's."""
    from agent.runner import Agent

    if not task:
        raise_invalid("agent_delegate needs a task.")
    sub = Agent(
        parent.settings,
        parent.hub,
        name=peer,
        prompt=peer_prompt(peer),
        approval="never",
        tool_filter=peer_tool_filter,
        delegation=False,
        client=parent.client,
        store=parent.store,
    )
    return await sub.run(f"Task delegated by {parent.name} (run {parent_task_id}):\n{task}")


def raise_invalid(message: str) -> None:
    from core.errors import InvalidArgument

    raise InvalidArgument(message)


# --- Kafka plumbing -------------------------------------------------------------------------------------------


def ensure_topics(
    settings: Settings, names: list[str], *, compacted: set[str] | None = None, asker: str = "agent_delegate"
) -> None:
    """Create the agent topics that do not exist yet (an existing topic is left as it is), through the gate."""
    from confluent_kafka.admin import AdminClient

    from core.kafka import topics as ktopics

    cfg = settings.cluster(None)
    admin = AdminClient(cfg.librdkafka_config())
    try:
        meta = admin.list_topics(timeout=settings.request_timeout_s)
    except Exception as exc:
        raise translate_kafka_error(exc, what="list topics", bootstrap=cfg.bootstrap_servers) from exc
    missing = [n for n in names if n not in meta.topics]
    if not missing:
        return
    rf = min(3, len(meta.brokers))
    gate = Gate(settings, transport="agent")
    for name in missing:
        configs = {"min.insync.replicas": str(min(2, rf)), "retention.ms": str(7 * 24 * 3600 * 1000)}
        if name in (compacted or set()):
            configs = {"cleanup.policy": "compact", "min.insync.replicas": str(min(2, rf))}
        change = Change(
            tool=asker,
            cluster=cfg.name,
            action="topic.create",
            resource_type="topic",
            resources=[name],
            arguments={"topic": name, "partitions": 3, "replication_factor": rf, "configs": configs},
            details={"partitions": 3, "replication_factor": rf, "configs": configs, "high_throughput": False},
        )

        def create(permit: Permit, name: str = name, configs: dict[str, str] = configs) -> ktopics.CreateTopicResult:
            return ktopics.create_topic(
                permit,
                admin,
                name,
                partitions=3,
                replication_factor=rf,
                configs=configs,
                validate_only=False,
                timeout=settings.request_timeout_s,
                exist_ok=True,
            )

        gate.perform(change, create)
    _wait_for_leaders(admin, missing, settings.request_timeout_s)


def send(
    settings: Settings,
    prod: Any,
    topic: str,
    key: str,
    value: BaseModel | dict[str, Any],
    *,
    asker: str,
    requester: Requester,
    audited: dict[str, Any] | None = None,
) -> None:
    """Write one agent message (a task, a reply, a result, an escalation) through the gate; ``audited`` adds fields
    of the message to its audit line."""
    change = Change(
        tool=asker,
        cluster=settings.cluster(None).name,
        action="agent.message",
        resource_type="topic",
        resources=[topic],
        arguments={"topic": topic, "key": key, **(audited or {})},
    )
    Gate(settings, transport="agent").perform(
        change,
        lambda permit: produce_json(permit, prod, topic, key, value, settings.request_timeout_s),
        requester=requester,
    )


def _wait_for_leaders(admin: Any, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        meta = admin.list_topics(timeout=timeout)
        ready = all(
            n in meta.topics
            and meta.topics[n].partitions
            and all(p.leader >= 0 for p in meta.topics[n].partitions.values())
            for n in names
        )
        if ready:
            return
        time.sleep(0.2)


def high_watermark(consumer: Any, topic: str, partition: int, timeout: float) -> tuple[int, int]:
    """(low, high) offsets, retried while a new topic's leaders are still being elected."""
    from confluent_kafka import KafkaException, TopicPartition

    deadline = time.monotonic() + timeout
    while True:
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout)
            return int(low), int(high)
        except KafkaException as exc:
            if time.monotonic() > deadline:
                raise translate_kafka_error(exc, what=f"read the offsets of {topic}[{partition}]") from exc
            time.sleep(0.3)


def producer(settings: Settings) -> Any:
    from confluent_kafka import Producer

    conf: dict[str, Any] = {**settings.cluster(None).librdkafka_config()}
    conf.update({"enable.idempotence": True, "acks": "all", "linger.ms": 5})
    return Producer(conf)


def produce_json(
    permit: Permit, prod: Any, topic: str, key: str, value: BaseModel | dict[str, Any], timeout: float
) -> None:
    permit.require("agent.message", topic)
    payload = value.model_dump_json() if isinstance(value, BaseModel) else json.dumps(value, default=str)
    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    prod.produce(topic, key=key.encode(), value=payload.encode(), on_delivery=on_delivery)
    remaining = prod.flush(timeout)
    if remaining or errors:
        raise OperationTimeout(f"Could not write to {topic}: {errors[0] if errors else 'flush timed out'}.")


def delegate_kafka(
    settings: Settings, requester: str, peer: str, task: str, parent_task_id: str, timeout: float
) -> ReplyMessage:
    """Send a task to ``peer``'s workers and wait for the reply with the same correlation id (blocking)."""
    from confluent_kafka import Consumer, TopicPartition

    peer_prompt(peer)  # validates the name
    if not task:
        raise_invalid("agent_delegate needs a task.")
    reply_topic = replies_topic(settings, requester)
    results = results_topic(settings, peer)
    ensure_topics(settings, [tasks_topic(settings, peer), reply_topic, results], compacted={results})
    cid = f"{peer}-{uuid.uuid4().hex}"
    conf: dict[str, Any] = {**settings.cluster(None).librdkafka_config()}
    conf.update({"group.id": f"reply-reader-{cid}", "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    consumer = Consumer(conf)
    try:
        meta = consumer.list_topics(reply_topic, timeout=settings.request_timeout_s)
        parts = sorted(meta.topics[reply_topic].partitions)
        starts = []
        for p in parts:  # read only replies written after the task is sent
            _low, high = high_watermark(consumer, reply_topic, p, settings.request_timeout_s)
            starts.append(TopicPartition(reply_topic, p, high))
        consumer.assign(starts)
        message = TaskMessage(
            correlation_id=cid,
            requester=requester,
            peer=peer,
            task=task,
            reply_to=reply_topic,
            parent_task_id=parent_task_id,
        )
        prod = producer(settings)
        send(
            settings,
            prod,
            tasks_topic(settings, peer),
            cid,
            message,
            asker="agent_delegate",
            requester=Requester(f"run:{parent_task_id}", f"agent run {parent_task_id}"),
        )
        log.info("delegated %s to %s over Kafka", cid, peer)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            if (msg.key() or b"").decode() != cid:
                continue
            return ReplyMessage.model_validate_json(msg.value())
    finally:
        consumer.close()
    return ReplyMessage(
        correlation_id=cid,
        peer=peer,
        status="timeout",
        error=f"No answer from {peer} within {timeout:g}s. Is a worker running (kafka-agent worker --agent {peer})?",
    )


def escalate(settings: Settings, entry: dict[str, Any]) -> str:
    """Publish an escalation through the gate (its audit line carries the whole entry); return where it went."""
    where = escalations_topic(settings)
    requester = Requester(f"run:{entry.get('task_id')}", f"agent run {entry.get('task_id')}")
    try:
        ensure_topics(settings, [where], asker="agent_escalate")
        send(
            settings,
            producer(settings),
            where,
            str(entry.get("task_id")),
            entry,
            asker="agent_escalate",
            requester=requester,
            audited={"escalation": entry},
        )
    except Exception as exc:  # the audit log has it (the gate wrote the attempt and its error); say the topic did not
        log.warning("escalation not published to Kafka: %s", exc)
        Gate(settings, transport="agent").record(
            Change(
                tool="agent_escalate",
                cluster=settings.cluster(None).name,
                action="agent.escalate",
                resource_type="agent",
                resources=[str(entry.get("task_id"))],
                arguments={"summary": entry.get("summary"), "severity": entry.get("severity")},
            ),
            decision="escalated",
            result=entry,
            error=str(exc),
            requester=requester,
        )
        return f"audit log {settings.resolved_audit_log()} (Kafka topic {where} unavailable: {exc})"
    return f"topic {where} and audit log {settings.resolved_audit_log()}"


def worker_name() -> str:
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"
