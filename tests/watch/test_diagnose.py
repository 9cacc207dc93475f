"""``kafka-agent watch --diagnose`` keeps its promise (issue 19): a diagnosis, and a fix that waits for a person.

A consumer group stopped on a real broker (committed offset 5 of 20, no members) on a topic that keeps its records an
hour. A ``Watch`` built on test settings (its loop not run) is handed a ``consumer_lag`` finding and opens an
incident, which goes to the incidents topic; its ``on_event`` hook submits it to the command's ``Diagnoser``, as
``kafka-agent watch --diagnose`` does. The run (the real ``Agent`` with approval "ask" and no approver, the real
``anthropic`` SDK against the scripted fake Messages API, the real MCP server in process) reads the incident, the
group's lag, the topic, the broker metrics (the test broker exports none: an error result) and a runbook stored in
memory; it validates a fix (retention.ms one hour -> three days) with ``validate_only``, then, in EXECUTE, writes
its diagnosis and proposes the change in the same reply (the run stops at the proposal: nothing written after it
would reach the incident). Then:

- the incident on the incidents topic (read back with ``core.kafka.incidents.read_all``) carries the model's
  diagnosis, the run id and the pending approval;
- that approval is pending in the consent store, bound to the run, for exactly the proposed change;
- the topic's retention.ms, read with a separate ``AdminClient``, is still one hour;
- the audit log has no executed change of the topic: the run's only entries about it are the validate_only call and
  the approval request;
- the run asked the model nothing after proposing the change (it waits, ``input_required``).
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.agent.fake_anthropic import FakeAnthropic, last_result_text, step, text, tool, tool_results
from tests.conftest import ClusterHandle, make_settings, unique
from tests.helpers import structured

RETENTION_MS = "3600000"  # one hour: the stopped group's unread records are deleted before it comes back
PROPOSED_MS = "259200000"  # three days (not the broker default of seven, so it cannot be there by chance): the fix
COMMITTED, PRODUCED = 5, 20
RUNBOOK = (
    "Runbook: a consumer group in STOP with lag and no members. The consumers are down or stuck in a rebalance. "
    "Restart them; until they return, raise retention.ms of the topics they read so unread records are not "
    "deleted before the group catches up."
)


def _stopped_group(bootstrap: str, topic: str, group: str) -> None:
    """The topic (RF 1, min ISR 1, retention one hour) with 20 records, and a group committed at 5 with no member."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    configs = {"min.insync.replicas": "1", "retention.ms": RETENTION_MS}
    admin.create_topics([NewTopic(topic, 1, 1, config=configs)])[topic].result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "log_level": 0})
    for i in range(PRODUCED):
        producer.produce(topic, key=f"order-{i}".encode(), value=b"{}")
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "log_level": 0})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, COMMITTED)], asynchronous=False)
    finally:
        consumer.close()


async def _store_runbook(settings: Any, key: str) -> None:
    from mcp import Client

    from mcp_server.server import build_server

    async with Client(build_server(settings), raise_exceptions=False) as client:
        stored = structured(
            await client.call_tool(
                "memory_store", {"text": RUNBOOK, "metadata": {"key": key, "tags": ["consumer-lag"]}}
            )
        )
    assert key in json.dumps(stored)


def _topic_config(bootstrap: str, topic: str, name: str) -> str | None:
    """One config of the topic as the broker has it, through a separate admin client (not our tools)."""
    from confluent_kafka.admin import AdminClient, ConfigResource

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(30)
    entry = configs.get(name)
    return None if entry is None else str(entry.value)


def _audit(settings: Any) -> list[dict[str, Any]]:
    path = settings.resolved_audit_log()
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _results(body: dict[str, Any]) -> list[tuple[bool, str]]:
    """(is_error, text) of each tool result the request answers with."""
    out = []
    for r in tool_results(body):
        content = r["content"]
        shown = "".join(c.get("text", "") for c in content) if isinstance(content, list) else str(content)
        out.append((bool(r.get("is_error")), shown))
    return out


@pytest.mark.timeout(120)
def test_diagnosis_ends_with_a_pending_fix_and_changes_nothing(
    kafka_cluster: ClusterHandle, data_dir: Path, fake_llm: FakeAnthropic
) -> None:
    from cli.watch import Diagnoser
    from core.app import build_app_context
    from core.gate import Gate
    from core.kafka.incidents import Incident, incident_id, read_all
    from monitoring.rules import Finding
    from monitoring.watch import Watch

    bootstrap = kafka_cluster.bootstrap_servers
    topic, group = unique("diag-orders"), unique("diag-billing")
    settings = make_settings(
        bootstrap,
        data_dir,
        anthropic_base_url=fake_llm.url,
        anthropic_api_key="test-key-not-real",
        incidents_topic=f"agents.incidents.{unique('d')}",
        request_timeout_s=10.0,
        max_run_seconds=60.0,
    )
    cluster = settings.cluster(None).name
    _stopped_group(bootstrap, topic, group)
    runbook_key = f"kafka-streaming-agent/{cluster}/runbook/consumer-group-stopped"
    anyio.run(_store_runbook, settings, runbook_key)

    # The finding as monitoring.rules.lag_findings makes it for a STOP group, and the id the book will give it.
    now = time.time()
    subject = f"group {group}"
    finding = Finding(
        "consumer_lag",
        subject,
        "critical",
        f"Consumer group {group} is STOP: no member, offsets not moving, lag {PRODUCED - COMMITTED}.",
        {"group": group, "status": "STOP", "total_lag": PRODUCED - COMMITTED, "topic": topic},
        confirm=1,
    )
    inc_id = incident_id(cluster, "consumer_lag", subject, now)
    diagnosis = (
        f"Diagnosis: consumer group {group} stopped: it has no members and its committed offset on {topic} stays at "
        f"{COMMITTED} while the log end is {PRODUCED} (lag {PRODUCED - COMMITTED}). Cause: its consumers are down. "
        f"Impact: {topic} keeps records one hour (retention.ms {RETENTION_MS}), so unread orders will be deleted "
        f"before the group returns. Fix: restart the billing consumers, and raise retention.ms of {topic} to three "
        f"days ({PROPOSED_MS}) until they catch up; I am proposing that change now, it waits for your approval."
    )
    fix = {"topic": topic, "set_configs": {"retention.ms": PROPOSED_MS}}

    def asked(body: dict[str, Any]) -> None:
        task = body["messages"][0]["content"]
        task = task if isinstance(task, str) else "".join(b.get("text", "") for b in task)
        assert inc_id in task and "kafka_incidents" in task and "vector_search" in task, task

    def read_everything(body: dict[str, Any]) -> None:
        (inc_err, inc), (lag_err, lag), (topic_err, described), (metrics_err, metrics) = _results(body)
        assert not inc_err and not lag_err and not topic_err, (inc, lag, described)
        incidents = json.loads(inc)["incidents"]
        assert [i["id"] for i in incidents] == [inc_id]  # the run read the incident off the incidents topic
        (seen,) = json.loads(lag)["groups"]  # the group as the broker has it: no member, stopped at 5 of 20
        assert seen["group_id"] == group and seen["member_count"] == 0 and seen["total_lag"] == PRODUCED - COMMITTED
        (part,) = seen["topics"][0]["partitions"]
        assert (part["committed"], part["log_end"]) == (COMMITTED, PRODUCED)
        configs = {c["name"]: c["value"] for c in json.loads(described)["configs"]}
        assert configs["retention.ms"] == RETENTION_MS
        assert metrics_err and "no broker metrics configured" in metrics  # the test broker exports none: said so

    def found_runbook(body: dict[str, Any]) -> None:
        assert runbook_key in last_result_text(body)

    def validated(body: dict[str, Any]) -> None:
        ((is_error, result),) = _results(body)
        assert not is_error, result
        checked = json.loads(result)
        assert checked["validate_only"] is True and checked["applied"] is False
        assert checked["changes"][0]["previous"] == RETENTION_MS

    fake_llm.script(
        step(
            text("Reading the incident, the group's lag, the topic and the broker metrics."),
            tool("kafka_incidents", {"incident_id": inc_id, "status": "all"}),
            tool("kafka_consumer_lag", {"groups": [group]}),
            tool("kafka_describe_topic", {"topic": topic}),
            tool("kafka_broker_metrics", {}),
            check=asked,
            label="read",
        ),
        step(tool("vector_search", {"query": "consumer group STOP lag no members runbook"}), check=read_everything),
        step(
            tool("agent_advance_phase", {"phase": "VALIDATE", "summary": f"Raise retention.ms of {topic}."}),
            check=found_runbook,
        ),
        step(tool("kafka_alter_topic_config", {**fix, "validate_only": True})),
        step(tool("agent_advance_phase", {"phase": "EXECUTE", "summary": "The broker accepts it."}), check=validated),
        step(text(diagnosis), tool("kafka_alter_topic_config", fix), label="propose"),
    )

    app = build_app_context(settings, transport="watch")
    consumer_conf = app.clients.consumer_config(cluster)
    diagnoser: Diagnoser | None = None

    def on_event(event: str, incident: Incident) -> None:  # what `kafka-agent watch --diagnose` does
        if event == "opened" and diagnoser is not None:
            diagnoser.submit(incident)

    try:
        watch = Watch(app, [cluster], on_event=on_event, coordinate=False)
        diagnoser = Diagnoser(settings, watch)
        watch.handle(cluster, [finding], now=now, seen={"consumer_lag"})
        assert [(e, i.id) for e, i in watch.events] == [("opened", inc_id)]
        diagnoser.close(timeout=90)
        assert not diagnoser._thread.is_alive(), "the diagnosis run did not end"
        watch.writer.close()
    finally:
        app.close()

    assert diagnoser is not None
    # (3) First of all, the cluster did not change: seen by a separate admin client.
    assert _topic_config(bootstrap, topic, "retention.ms") == RETENTION_MS, "the proposed change was made"
    fake_llm.assert_all_consumed()
    assert fake_llm.consumed == 6, "the run asked the model again after proposing the change"
    run_id = diagnoser.runs.get(inc_id)
    assert run_id, "the diagnosis run did not finish (see the incident's diagnosis for the error)"

    # The run stopped for a person: one pending action, the proposed change, not made.
    from agent.record import RunStore

    record = RunStore(settings.data_dir).load(run_id)
    assert record.status == "input_required", record.error
    (pending,) = record.pending_actions
    assert pending.tool == "kafka_alter_topic_config" and pending.arguments == fix
    assert not [c for log in record.phases for c in log.calls if c.tool == "kafka_alter_topic_config" and c.mutating]

    # (1) The incident on the incidents topic: the model's diagnosis, the run, the pending approval.
    found = read_all(consumer_conf, settings.incidents_topic, timeout=15)
    inc = found[inc_id]
    assert inc.status == "open" and inc.rule == "consumer_lag" and inc.subject == subject
    assert inc.diagnosis_run == run_id
    assert inc.diagnosis is not None and inc.diagnosis.startswith(diagnosis), inc.diagnosis
    assert "Proposed change(s) waiting for approval:" in inc.diagnosis
    assert pending.approval_id in inc.diagnosis and "kafka_alter_topic_config" in inc.diagnosis
    assert f"kafka-agent run --resume {run_id} --approve" in inc.diagnosis  # how a person applies it
    assert any(e.what.startswith(f"diagnosis run {run_id}:") for e in inc.timeline)

    # (2) The approval is pending in the consent store, bound to the run, for exactly that change.
    gate = Gate(settings, transport="cli")
    try:
        approvals = [a for a in gate.store.list(status="pending") if a.requester == f"run:{run_id}"]
    finally:
        gate.close()
    (approval,) = approvals
    assert approval.id == pending.approval_id and approval.status == "pending"
    assert approval.tool == "kafka_alter_topic_config" and approval.arguments == fix
    assert approval.decided_by is None and approval.used_at is None

    # (4) The audit log: for the topic, only the validate_only call; from the run, nothing executed.
    audit = _audit(settings)
    # (The gate audits a validate_only call as decision "allowed", action topic.config.alter on the topic: only its
    # arguments and result tell it from an executed change. The approval request names the tool as its resource.)
    on_topic = [e for e in audit if topic in e["resources"]]
    assert len(on_topic) == 1, on_topic
    (checked,) = on_topic
    assert checked["requester"] == f"run:{run_id}" and checked["action"] == "topic.config.alter"
    assert checked["arguments"]["validate_only"] is True and checked["result"]["applied"] is False
    by_run = [e for e in audit if e["requester"] == f"run:{run_id}"]
    asked_for = [e for e in by_run if e["decision"] == "approval_requested"]
    assert len(asked_for) == 1 and asked_for[0]["result"]["approval_id"] == pending.approval_id
    assert asked_for[0]["tool"] == "kafka_alter_topic_config" and asked_for[0]["arguments"] == fix
    executed = [
        e
        for e in by_run
        if e["decision"] not in ("approval_requested", "refused") and not e["arguments"].get("validate_only")
    ]
    assert not executed, executed
    # The incident writes (opened, then the diagnosis) went through the gate too.
    writes = [e["arguments"]["event"] for e in audit if e["action"] == "incident.write"]
    assert writes == ["opened", "updated"], writes

    with contextlib.suppress(Exception):  # tidy the shared session cluster
        from confluent_kafka.admin import AdminClient

        AdminClient({"bootstrap.servers": bootstrap, "log_level": 0}).delete_topics(
            [topic, settings.incidents_topic], operation_timeout=10
        )
