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


def both(*checks: Any) -> Any:
    def check(body: dict[str, Any]) -> bool:
        return all(c(body) is not False for c in checks)

    return check


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

    def offers(phase: str) -> Any:
        """Each request carries only the tools its phase allows some call of."""

        def check(body: dict[str, Any]) -> None:
            names = [t["name"] for t in body["tools"]]
            assert {"agent_advance_phase", "kafka_describe_topic", "kafka_check_policy"} <= set(names)
            assert ("kafka_create_topic" in names) == (phase in ("VALIDATE", "EXECUTE"))
            assert ("kafka_produce" in names) == (phase == "EXECUTE")  # no dry run: nothing to validate with it
            assert ("memory_store" in names) == (phase in ("EXECUTE", "DOCUMENT"))
            assert ("kafka_perf_test" in names) == (phase in ("VALIDATE", "EXECUTE", "VERIFY"))
            sent.setdefault(phase, []).append(names)

        return check

    sent: dict[str, list[list[str]]] = {}

    fake_llm.script(
        step(
            text("Looking at memory and the cluster."),
            tool("vector_search", {"query": "orders topic sizing"}),
            tool("kafka_describe_cluster", {}),
            check=offers("PLAN"),
        ),
        step(
            tool("agent_advance_phase", {"phase": "VALIDATE", "summary": f"Create {topic}: 3 partitions, RF 1 (dev)."}),
            check=offers("PLAN"),
        ),
        step(
            tool(
                "kafka_check_policy",
                {"action": "topic.create", "topic": topic, "partitions": 3, "replication_factor": 1},
            ),
            tool("kafka_create_topic", {**spec, "validate_only": True}),
            check=offers("VALIDATE"),
        ),
        step(
            tool("agent_advance_phase", {"phase": "EXECUTE", "summary": "Policy and brokers accept it."}),
            check=both(validated, offers("VALIDATE")),
        ),
        step(tool("kafka_create_topic", spec), check=offers("EXECUTE")),
        step(
            tool("agent_advance_phase", {"phase": "VERIFY", "summary": "Created."}),
            check=both(lambda b: json.loads(last_result_text(b))["created"] is True, offers("EXECUTE")),
        ),
        step(tool("kafka_describe_topic", {"topic": topic}), check=offers("VERIFY")),
        step(
            tool(
                "agent_advance_phase",
                {"phase": "DOCUMENT", "summary": "3 partitions, leaders elected.", "verdict": "pass"},
            ),
            check=both(verified, offers("VERIFY")),
        ),
        step(
            tool(
                "memory_store",
                {
                    "text": f"Topic {topic} on local: 3 partitions, replication factor 1, retention "
                    "one day; sized for the orders stream in development.",
                    "metadata": {"key": key, "agent": "kafka-streaming-agent", "tags": ["orders"]},
                },
            ),
            check=offers("DOCUMENT"),
        ),
        step(
            text(f"Created {topic} with 3 partitions and stored its configuration in memory."),
            check=both(lambda b: not tool_results(b)[0].get("is_error"), offers("DOCUMENT")),
        ),
    )
    # The phase's tools in full (tool search off): the list the model sees changes with the phase.
    settings = agent_settings.model_copy(update={"tool_search": "off"})
    record = await run_agent(settings, f"Create a topic {topic} for the orders stream", approval="auto")
    fake_llm.assert_all_consumed()

    assert record.status == "completed", record.error
    assert [str(p.phase) for p in record.phases] == ["PLAN", "VALIDATE", "EXECUTE", "VERIFY", "DOCUMENT"]
    assert record.plan == f"Create {topic}: 3 partitions, RF 1 (dev)."
    assert record.verification is not None and record.verification.verdict == "pass"
    assert all(allowed for _, _, allowed in calls(record))
    assert ("EXECUTE", "kafka_create_topic", True) in calls(record)
    assert record.usage.turns == 10 and record.usage.cost_usd > 0
    # Within a phase the list is the same, in the same order (the cache prefix holds); the record has every turn.
    assert all(lists[0] == lists[1] for lists in sent.values()) and len(sent) == 5
    assert [str(t.phase) for t in record.turn_usage] == [p for p in sent for _ in range(2)]
    assert [t.tools_sent for t in record.turn_usage] == [len(lists[0]) for lists in sent.values() for _ in range(2)]
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
