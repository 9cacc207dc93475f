"""``kafka-agent worker --agent PEER``: a peer agent serving tasks from ``agents.<peer>.tasks`` as a group member.

At-least-once delivery, done once: the offset is committed by hand only after the answer is written, so a worker
that dies mid-task leaves the task to another member; before working on a task the worker looks its correlation id
up in the compacted ``agents.<peer>.results`` topic, so a task answered just before a crash is not done again.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import anyio
import anyio.to_thread

from agent.delegation import (
    ReplyMessage,
    TaskMessage,
    ensure_topics,
    high_watermark,
    peer_tool_filter,
    producer,
    replies_topic,
    results_topic,
    send,
    tasks_topic,
    worker_name,
)
from agent.host import ToolHub
from agent.prompts import peer_prompt
from core.gate import Change, Gate, Requester
from core.settings import Settings

log = logging.getLogger("kafka_agent.worker")


class ResultsIndex:
    """Correlation id -> answer, from the peer's compacted results topic, caught up before each task."""

    def __init__(self, settings: Settings, peer: str) -> None:
        from confluent_kafka import Consumer, TopicPartition

        self.topic = results_topic(settings, peer)
        self.timeout = settings.request_timeout_s
        conf: dict[str, Any] = {**settings.cluster(None).librdkafka_config()}
        conf.update({"group.id": f"results-index-{worker_name()}", "enable.auto.commit": False})
        self.consumer = Consumer(conf)
        meta = self.consumer.list_topics(self.topic, timeout=self.timeout)
        self.parts = [TopicPartition(self.topic, p, 0) for p in sorted(meta.topics[self.topic].partitions)]
        for tp in self.parts:
            tp.offset, _high = high_watermark(self.consumer, self.topic, tp.partition, self.timeout)
        self.consumer.assign(self.parts)
        self.next = {tp.partition: tp.offset for tp in self.parts}
        self.done: dict[str, ReplyMessage] = {}

    def catch_up(self) -> None:
        """Read the results topic up to its current end (bounded by the request timeout)."""
        import time

        ends = {
            tp.partition: high_watermark(self.consumer, self.topic, tp.partition, self.timeout)[1] for tp in self.parts
        }
        deadline = time.monotonic() + self.timeout
        while any(self.next[p] < ends[p] for p in ends) and time.monotonic() < deadline:
            msg = self.consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            self.next[msg.partition()] = msg.offset() + 1
            if msg.value() is not None:
                reply = ReplyMessage.model_validate_json(msg.value())
                self.done[reply.correlation_id] = reply

    def close(self) -> None:
        self.consumer.close()


_AGENT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def reply_refusal(settings: Settings, task: TaskMessage) -> str | None:
    """Why this task's ``reply_to`` may not be written, or None: a worker answers only into the requester's own reply
    topic under the agents' prefix (a task record naming any other topic would make a read-only peer write there)."""
    if not _AGENT_NAME.match(task.requester):
        return f"the requester name {task.requester[:80]!r} is not an agent name"
    expected = replies_topic(settings, task.requester)
    if task.reply_to != expected:
        return f"reply_to {task.reply_to[:120]!r} is not the requester's own reply topic {expected!r}"
    return None


def _publish(
    settings: Settings,
    prod: Any,
    peer: str,
    reply: ReplyMessage,
    task: TaskMessage,
    commit: Callable[[], Any],
    requester: Requester,
) -> None:
    """Answer, then commit: a crash before the commit redelivers the task, and the results topic says it is done."""
    asker = f"kafka-agent worker --agent {peer}"
    send(settings, prod, results_topic(settings, peer), reply.correlation_id, reply, asker=asker, requester=requester)
    send(settings, prod, task.reply_to, reply.correlation_id, reply, asker=asker, requester=requester)
    try:
        commit()
    except Exception as exc:  # e.g. the group rebalanced meanwhile: the task comes back, and the results topic
        log.warning("could not commit task %s (%s); it will be skipped when redelivered", reply.correlation_id, exc)


async def run_worker(
    settings: Settings,
    peer: str,
    hub: Callable[[], ToolHub],
    *,
    stop: threading.Event | None = None,
    max_tasks: int = 0,
) -> int:
    """Serve tasks until ``stop`` is set (or ``max_tasks`` were answered); returns the number answered. ``hub`` opens
    the tool hub the peer's runs use (read-only tools of our server)."""
    from confluent_kafka import Consumer

    from agent.runner import Agent

    stop = stop or threading.Event()
    prompt = peer_prompt(peer)
    me = worker_name()
    results = results_topic(settings, peer)
    await anyio.to_thread.run_sync(
        lambda: ensure_topics(
            settings, [tasks_topic(settings, peer), results], compacted={results}, asker=f"kafka-agent worker {peer}"
        )
    )
    conf: dict[str, Any] = {**settings.cluster(None).librdkafka_config()}
    conf.update(
        {
            "group.id": f"{settings.agents_topic_prefix}.{peer}.workers",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
            "max.poll.interval.ms": int(max(settings.max_run_seconds * 1000 + 60000, 300000)),
            "client.id": me,
        }
    )
    consumer: Any = Consumer(conf)
    index = await anyio.to_thread.run_sync(lambda: ResultsIndex(settings, peer))
    prod = producer(settings)
    answered = 0
    try:
        consumer.subscribe([tasks_topic(settings, peer)])
        async with hub() as tools:
            log.info("worker %s serving %s", me, tasks_topic(settings, peer))
            print(f"worker {me} ready for {tasks_topic(settings, peer)}", flush=True)
            while not stop.is_set() and (max_tasks == 0 or answered < max_tasks):
                msg = await anyio.to_thread.run_sync(lambda: consumer.poll(0.5))
                if msg is None:
                    continue
                commit = partial(consumer.commit, message=msg, asynchronous=False)
                if msg.error():
                    log.warning("consumer error: %s", msg.error())
                    continue
                try:
                    task = TaskMessage.model_validate_json(msg.value())
                except ValueError:
                    log.warning("skipping a malformed task record at offset %s", msg.offset())
                    await anyio.to_thread.run_sync(commit)
                    continue
                await anyio.to_thread.run_sync(index.catch_up)
                if task.correlation_id in index.done:
                    log.info("task %s was already answered; not doing it twice", task.correlation_id)
                    await anyio.to_thread.run_sync(commit)
                    continue
                refusal = reply_refusal(settings, task)
                requester = Requester(f"worker:{peer}", f"worker {me} of {peer}")
                if refusal is not None:
                    log.warning("refusing task %s: %s", task.correlation_id, refusal)
                    Gate(settings, transport="agent").record(
                        Change(
                            tool=f"kafka-agent worker --agent {peer}",
                            cluster=settings.cluster(None).name,
                            action="agent.message",
                            resource_type="topic",
                            resources=[task.reply_to[:249]],
                            arguments={"correlation_id": task.correlation_id, "requester": task.requester[:80]},
                        ),
                        decision="refused",
                        error=f"task refused, not run: {refusal}",
                        requester=requester,
                    )
                    print(f"refused {task.correlation_id}: {refusal}", flush=True)
                    await anyio.to_thread.run_sync(commit)
                    continue
                print(f"task {task.correlation_id} from {task.requester}", flush=True)
                agent = Agent(
                    settings,
                    tools,
                    name=peer,
                    prompt=prompt,
                    approval="never",
                    tool_filter=peer_tool_filter,
                    delegation=False,
                )
                record = await agent.run(
                    f"Task from {task.requester} (correlation id {task.correlation_id}):\n{task.task}"
                )
                reply = ReplyMessage(
                    correlation_id=task.correlation_id,
                    peer=peer,
                    status=record.status,
                    answer=record.output,
                    error=record.error,
                    run_task_id=record.task_id,
                    worker=me,
                    usage=record.usage,
                )

                await anyio.to_thread.run_sync(partial(_publish, settings, prod, peer, reply, task, commit, requester))
                index.done[task.correlation_id] = reply
                answered += 1
                print(f"answered {task.correlation_id}: {record.status}", flush=True)
    finally:
        consumer.close()
        index.close()
    return answered
