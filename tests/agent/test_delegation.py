"""Delegation: a peer in process, and a peer over Kafka served by real worker processes, one of them SIGKILLed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from agent.delegation import TaskMessage, replies_topic, results_topic, tasks_topic
from tests.agent.fake_anthropic import FakeAnthropic, last_result_text, step, text, tool
from tests.agent.helpers import run_agent
from tests.conftest import unique

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
PEER = "monitoring-observability-agent"


async def test_delegate_in_process(agent_settings: Any, fake_llm: FakeAnthropic) -> None:
    def peer_request(body: dict[str, Any]) -> None:
        assert "Monitoring and observability agent" in body["system"][0]["text"]
        names = {t["name"] for t in body["tools"]}
        assert "kafka_consumer_lag" in names and "kafka_list_topics" in names
        assert not names & {"kafka_create_topic", "kafka_delete_topic", "agent_delegate", "memory_store"}

    fake_llm.script(
        step(tool("agent_delegate", {"peer": PEER, "task": "Which alerts should watch lag?", "via": "local"})),
        step(text("Alert when lag grows for 5 minutes."), check=peer_request),
        step(
            text("The peer suggests a 5-minute lag-growth alert."), check=lambda b: "5 minutes" in last_result_text(b)
        ),
    )
    record = await run_agent(agent_settings, "plan lag alerts")
    fake_llm.assert_all_consumed()
    assert record.status == "completed"
    (delegation,) = record.delegations
    assert delegation.via == "local" and delegation.status == "completed" and "5 minutes" in (delegation.answer or "")
    # The peer's usage counts toward the parent's: the parent's two requests and the peer's one, as the API said.
    reported = [u for u in fake_llm.usages if u is not None]
    assert len(reported) == 3
    assert record.usage.input_tokens == sum(u["input_tokens"] for u in reported)
    assert record.usage.uncached_input_tokens == sum(
        u["input_tokens"] + u["cache_creation_input_tokens"] for u in reported
    )
    assert record.usage.turns == 2 and len(record.turn_usage) == 2


class Worker:
    """A `kafka-agent worker` subprocess whose output is collected line by line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "worker", "--agent", PEER],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def wait_for(self, fragment: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(fragment in line for line in self.lines):
            assert self.proc.poll() is None or any(fragment in line for line in self.lines), "\n".join(self.lines)
            assert time.monotonic() < deadline, f"{fragment!r} not seen:\n" + "\n".join(self.lines)
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _records_with_key(settings: Any, topic: str, key: str) -> list[dict[str, Any]]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": settings.bootstrap_servers, "group.id": unique("check"), "enable.auto.commit": False}
    )
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        found, seen = [], dict.fromkeys(parts, 0)
        deadline = time.monotonic() + 30
        while any(seen[p] < ends[p] for p in parts) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            seen[msg.partition()] = msg.offset() + 1
            if (msg.key() or b"").decode() == key:
                found.append(json.loads(msg.value()))
        return found
    finally:
        consumer.close()


def _committed_past(settings: Any, group: str, topic: str, partition: int, offset: int) -> bool:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": settings.bootstrap_servers, "group.id": group, "enable.auto.commit": False}
    )
    try:
        (tp,) = consumer.committed([TopicPartition(topic, partition)], timeout=10)
        return bool(tp.offset > offset)
    finally:
        consumer.close()


@pytest.mark.timeout(240)
async def test_delegate_over_kafka_survives_a_killed_worker(agent_settings: Any, fake_llm: FakeAnthropic) -> None:
    settings = agent_settings.model_copy(update={"agents_topic_prefix": unique("agents")})
    env = {
        **os.environ,
        "KAFKA_AGENT_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "KAFKA_AGENT_DATA_DIR": str(settings.data_dir),
        "KAFKA_AGENT_ANTHROPIC_BASE_URL": fake_llm.url,
        "KAFKA_AGENT_ANTHROPIC_API_KEY": "test-key-not-real",
        "KAFKA_AGENT_AGENTS_TOPIC_PREFIX": settings.agents_topic_prefix,
        "KAFKA_AGENT_APPROVAL": "never",
    }

    def peer_answer(body: dict[str, Any]) -> None:
        assert "Monitoring and observability agent" in body["system"][0]["text"]

    fake_llm.script(
        step(
            tool(
                "agent_delegate", {"peer": PEER, "task": "Is group billing lagging?", "via": "kafka", "timeout_s": 180}
            )
        ),
        step(text("(never sent: this worker dies)"), hold=True, label="first worker"),
        step(text("Group billing has no lag."), check=peer_answer),
        step(text("No lag, says the peer."), check=lambda b: "has no lag" in last_result_text(b)),
    )
    workers = [Worker(env), Worker(env)]
    try:
        for w in workers:
            await anyio.to_thread.run_sync(w.wait_for, "ready for")
        async with anyio.create_task_group() as tg:
            records: list[Any] = []

            async def parent() -> None:
                records.append(await run_agent(settings, "Is billing lagging? ask the monitoring peer over Kafka"))

            tg.start_soon(parent)
            # The worker that took the task is waiting on the model: kill it mid-task; the other must take over.
            await anyio.to_thread.run_sync(fake_llm.wait_for_requests, 2, 120.0)
            (victim,) = [w for w in workers if any(line.startswith("task ") for line in w.lines)]
            victim.stop(signal.SIGKILL)
            assert victim.proc.returncode == -signal.SIGKILL
            (second,) = [w for w in workers if w is not victim]
        (record,) = records
        fake_llm.assert_all_consumed()
        assert record.status == "completed", record.error
        (delegation,) = record.delegations
        assert delegation.via == "kafka" and delegation.status == "completed"
        cid = delegation.correlation_id
        assert cid and "has no lag" in (delegation.answer or "")
        await anyio.to_thread.run_sync(second.wait_for, f"answered {cid}")
        replies = _records_with_key(settings, replies_topic(settings, "kafka-streaming-agent"), cid)
        assert len(replies) == 1 and replies[0]["status"] == "completed"
        assert len(_records_with_key(settings, results_topic(settings, PEER), cid)) == 1
        # The surviving worker's usage counts toward the parent's (the killed one's request was never answered).
        assert fake_llm.usages[1] is None
        answered = [u for u in fake_llm.usages if u is not None]
        assert len(answered) == 3
        assert record.usage.input_tokens == sum(u["input_tokens"] for u in answered)
        assert record.usage.output_tokens == sum(u["output_tokens"] for u in answered)

        # The same task delivered again (a duplicate) is recognised by its correlation id and not done twice.
        from confluent_kafka import Producer

        (task,) = _records_with_key(settings, tasks_topic(settings, PEER), cid)
        prod = Producer({"bootstrap.servers": settings.bootstrap_servers, "enable.idempotence": True})
        delivered: list[Any] = []
        prod.produce(
            tasks_topic(settings, PEER),
            key=cid.encode(),
            value=TaskMessage.model_validate(task).model_dump_json().encode(),
            on_delivery=lambda err, msg: delivered.append(msg),
        )
        assert prod.flush(15) == 0
        dup = delivered[0]
        group = f"{settings.agents_topic_prefix}.{PEER}.workers"
        deadline = time.monotonic() + 60
        while not _committed_past(settings, group, dup.topic(), dup.partition(), dup.offset()):
            assert time.monotonic() < deadline, "the duplicate task was never committed"
            await anyio.sleep(0.5)
        fake_llm.assert_all_consumed()  # no model call for the duplicate
        assert len(_records_with_key(settings, replies_topic(settings, "kafka-streaming-agent"), cid)) == 1

        # A task record that names another topic as reply_to (here "payments") is refused, not run, and audited.
        from confluent_kafka.admin import AdminClient, NewTopic

        payments = unique("payments")
        admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
        admin.create_topics([NewTopic(payments, 1, 1)])[payments].result(15)
        forged = TaskMessage(
            correlation_id=f"{PEER}-forged-{unique('c')}",
            requester="kafka-streaming-agent",
            peer=PEER,
            task="Summarise the payments topic.",
            reply_to=payments,
        )
        prod.produce(tasks_topic(settings, PEER), key=forged.correlation_id.encode(), value=forged.model_dump_json())
        assert prod.flush(15) == 0
        await anyio.to_thread.run_sync(second.wait_for, f"refused {forged.correlation_id}")
        from confluent_kafka import Consumer, TopicPartition

        check = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": unique("g")})
        try:
            assert check.get_watermark_offsets(TopicPartition(payments, 0), timeout=10)[1] == 0
        finally:
            check.close()
        fake_llm.assert_all_consumed()  # the forged task never reached the model
        audit = [json.loads(line) for line in settings.resolved_audit_log().read_text().splitlines()]
        (refusal,) = [e for e in audit if payments in e["resources"]]
        assert refusal["decision"] == "refused" and "not the requester's own reply topic" in refusal["error"]
        assert refusal["requester"] == f"worker:{PEER}"
    finally:
        for w in workers:
            w.stop()
