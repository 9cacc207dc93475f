"""A topic created end to end through all five phases: real SDK, fake model, real Kafka, real memory (Chroma)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.record import RunStore
from tests.agent.fake_anthropic import FakeAnthropic, last_result_text, step, text, tool, tool_results
from tests.agent.helpers import calls, run_agent
from tests.conftest import unique
from tests.helpers import structured

pytestmark = pytest.mark.anyio


@pytest.mark.timeout(240)
async def test_create_topic_through_all_five_phases(agent_settings: Any, fake_llm: FakeAnthropic, admin: Any) -> None:
    topic = unique("orders")
    key = f"kafka-streaming-agent/local/cluster-config/{topic}"
    spec = {"topic": topic, "partitions": 3, "replication_factor": 1, "configs": {"retention.ms": "86400000"}}

    def validated(body: dict[str, Any]) -> None:
        results = tool_results(body)
        assert len(results) == 2 and not any(r.get("is_error") for r in results)
        assert json.loads(results[1]["content"])["created"] is False  # validate_only created nothing

    def verified(body: dict[str, Any]) -> None:
        assert json.loads(last_result_text(body))["partition_count"] == 3

    fake_llm.script(
        step(
            text("Looking at memory and the cluster."),
            tool("vector_search", {"query": "orders topic sizing"}),
            tool("kafka_describe_cluster", {}),
        ),
        step(
            tool("agent_advance_phase", {"phase": "VALIDATE", "summary": f"Create {topic}: 3 partitions, RF 1 (dev)."})
        ),
        step(
            tool(
                "kafka_check_policy",
                {"action": "topic.create", "topic": topic, "partitions": 3, "replication_factor": 1},
            ),
            tool("kafka_create_topic", {**spec, "validate_only": True}),
        ),
        step(
            tool("agent_advance_phase", {"phase": "EXECUTE", "summary": "Policy and brokers accept it."}),
            check=validated,
        ),
        step(tool("kafka_create_topic", spec)),
        step(
            tool("agent_advance_phase", {"phase": "VERIFY", "summary": "Created."}),
            check=lambda b: json.loads(last_result_text(b))["created"] is True,
        ),
        step(tool("kafka_describe_topic", {"topic": topic})),
        step(
            tool(
                "agent_advance_phase",
                {"phase": "DOCUMENT", "summary": "3 partitions, leaders elected.", "verdict": "pass"},
            ),
            check=verified,
        ),
        step(
            tool(
                "memory_store",
                {
                    "text": f"Topic {topic} on local: 3 partitions, replication factor 1, retention "
                    "one day; sized for the orders stream in development.",
                    "metadata": {"key": key, "agent": "kafka-streaming-agent", "tags": ["orders"]},
                },
            )
        ),
        step(
            text(f"Created {topic} with 3 partitions and stored its configuration in memory."),
            check=lambda b: not tool_results(b)[0].get("is_error"),
        ),
    )
    record = await run_agent(agent_settings, f"Create a topic {topic} for the orders stream", approval="auto")
    fake_llm.assert_all_consumed()

    assert record.status == "completed", record.error
    assert [str(p.phase) for p in record.phases] == ["PLAN", "VALIDATE", "EXECUTE", "VERIFY", "DOCUMENT"]
    assert record.plan == f"Create {topic}: 3 partitions, RF 1 (dev)."
    assert record.verification is not None and record.verification.verdict == "pass"
    assert all(allowed for _, _, allowed in calls(record))
    assert ("EXECUTE", "kafka_create_topic", True) in calls(record)
    assert record.usage.turns == 10 and record.usage.cost_usd > 0
    assert RunStore(agent_settings.data_dir).load(record.task_id).status == "completed"

    # The topic, seen by a separate admin client.
    meta = admin.list_topics(timeout=10).topics[topic]
    assert len(meta.partitions) == 3
    # The memory record, seen through a fresh server on the same data folder.
    from mcp import Client

    from mcp_server.server import build_server

    async with Client(build_server(agent_settings), raise_exceptions=False) as client:
        found = structured(await client.call_tool("memory_retrieve", {"key": key}))
    (mem,) = found["records"]
    assert topic in mem["text"] and "3 partitions" in mem["text"]
