"""The decommission runbook run by the agent runtime: a scripted model (the real anthropic SDK against the local
fake) follows prompts/runbooks/decommission-broker.md on the real ops cluster, and a person approves the two
destructive steps; the one approving the unregistration stops the broker first, as the runbook says."""

from __future__ import annotations

import json
from typing import Any

import anyio.to_thread
import pytest

from agent import local_tools
from agent.prompts import tool_names_in
from agent.record import Decision, PendingAction
from cli.reassign import decommission_task
from tests.agent.fake_anthropic import FakeAnthropic, last_result_text, step, text, tool
from tests.agent.helpers import calls, run_agent
from tests.cluster_ops.conftest import OPS, kafka_tool, kafka_topics_describe
from tests.conftest import ClusterHandle, make_settings, unique

pytestmark = pytest.mark.anyio


async def test_the_runbook_names_only_real_tools(ops_client: Any) -> None:
    listed = {t.name for t in (await ops_client.list_tools()).tools}
    named = tool_names_in(decommission_task(4, "local"))
    known = listed | {t.name for t in local_tools.specs(delegation=True)}
    assert {"kafka_reassignment_plan", "kafka_unregister_broker", "memory_store"} <= named <= known


@pytest.mark.timeout(400)
async def test_the_agent_retires_a_broker_with_approvals(
    ops_cluster: ClusterHandle, ops_admin: Any, data_dir: Any, fake_llm: FakeAnthropic
) -> None:
    from confluent_kafka.admin import NewTopic

    from devcluster.cluster import add_broker, remove_broker, stop_node

    home = ops_cluster.home
    assert home is not None
    node = await anyio.to_thread.run_sync(lambda: add_broker(home, name=OPS, rack="b", heap="384m"))
    new = node.node_id
    topic = unique("ops-retire")
    ops_admin.create_topics([NewTopic(topic, num_partitions=2, replica_assignment=[[new, 1], [3, new]])])[topic].result(
        30
    )
    settings = make_settings(
        ops_cluster.bootstrap_servers,
        data_dir,
        anthropic_base_url=fake_llm.url,
        anthropic_api_key="test-key-not-real",
        toolsets="all",
        tool_timeout_s=240.0,
    )
    asked: list[str] = []

    async def person(action: PendingAction) -> Decision:
        asked.append(action.tool)
        if action.tool == "kafka_unregister_broker":  # the runbook: whoever approves this stops the broker first
            await anyio.to_thread.run_sync(lambda: stop_node(home, OPS, new))
        return "approve"

    seen: dict[str, Any] = {}

    def plan_read(body: dict[str, Any]) -> list[dict[str, Any]]:
        seen["plan"] = json.loads(last_result_text(body))
        return [tool("agent_advance_phase", {"phase": "EXECUTE", "summary": f"drain {new}: {seen['plan']['plan_id']}"})]

    def execute(body: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            tool("kafka_reassignment_execute", {"goal": "drain", "brokers": [new], "plan_id": seen["plan"]["plan_id"]})
        ]

    def drained(body: dict[str, Any]) -> None:
        outcome = json.loads(last_result_text(body))
        assert outcome["executed"] and outcome["result"]["state"] == "completed", outcome

    def empty(body: dict[str, Any]) -> None:
        check = json.loads(last_result_text(body))
        assert check["replicas"] == 0 and check["ready_to_stop"], check

    def unregistered(body: dict[str, Any]) -> None:
        outcome = json.loads(last_result_text(body))
        assert outcome["executed"] and outcome["result"]["unregistered"], outcome

    def gone(body: dict[str, Any]) -> None:
        assert new not in {b["id"] for b in json.loads(last_result_text(body))["brokers"]}

    fake_llm.script(
        step(tool("kafka_broker_decommission_check", {"broker": new})),
        step(tool("kafka_reassignment_plan", {"goal": "drain", "brokers": [new]})),
        step(plan_read),
        step(execute),
        step(tool("kafka_broker_decommission_check", {"broker": new}), check=drained),
        step(tool("kafka_unregister_broker", {"broker": new}), check=empty),
        step(
            tool("agent_advance_phase", {"phase": "VERIFY", "summary": "drained and unregistered"}), check=unregistered
        ),
        step(tool("kafka_describe_cluster", {})),
        step(tool("agent_advance_phase", {"phase": "DOCUMENT", "summary": "gone", "verdict": "pass"}), check=gone),
        step(text(f"Broker {new} is retired: drained, stopped and unregistered.")),
    )
    try:
        record = await run_agent(settings, decommission_task(new, "local"), approval="auto", approver=person)
        fake_llm.assert_all_consumed()
        assert record.status == "completed", record.error
        assert asked == ["kafka_reassignment_execute", "kafka_unregister_broker"]
        assert [c for c in calls(record) if c[1] in asked] == [
            ("EXECUTE", "kafka_reassignment_execute", True),
            ("EXECUTE", "kafka_unregister_broker", True),
        ]
        # Kafka's own tools: the broker is not registered, and the topic's copies live on the others, in sync.
        endpoints = kafka_tool(
            "org.apache.kafka.tools.ClusterTool",
            "list-endpoints",
            "--bootstrap-server",
            ops_cluster.bootstrap_servers,
            "--include-fenced-brokers",
        )
        assert new not in {int(line.split()[0]) for line in endpoints.splitlines()[1:] if line.strip()}
        for replicas, isr in kafka_topics_describe(ops_cluster.bootstrap_servers, topic).values():
            assert new not in replicas and len(replicas) == 2 and sorted(isr) == sorted(replicas)
    finally:
        await anyio.to_thread.run_sync(lambda: remove_broker(home, name=OPS, node_id=new))
