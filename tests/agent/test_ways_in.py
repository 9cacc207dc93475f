"""The ways in: the agent_run_task MCP tool, the `kafka-agent run` CLI, extra MCP servers; escalation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from agent.delegation import escalations_topic
from cli.common import tool_hub
from tests.agent.fake_anthropic import FakeAnthropic, last_result_text, step, text, tool, tool_results
from tests.agent.helpers import run_agent, topic_exists
from tests.conftest import unique
from tests.helpers import assert_tool_error, structured

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


def _was_reminded(body: dict[str, Any]) -> bool:
    last = body["messages"][-1]
    return last["role"] == "user" and "no verification verdict" in str(last["content"])


async def test_agent_run_task_tool_pauses_and_resumes(agent_settings: Any, fake_llm: FakeAnthropic, admin: Any) -> None:
    from mcp import Client

    from mcp_server.server import build_server

    topic = unique("orchestrated")
    fake_llm.script(
        step(tool("agent_advance_phase", {"phase": "EXECUTE", "summary": f"create {topic}"})),
        step(tool("kafka_create_topic", {"topic": topic, "partitions": 1, "replication_factor": 1})),
    )
    async with Client(build_server(agent_settings), raise_exceptions=False) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        ann = tools["agent_run_task"].annotations
        assert ann is not None and ann.read_only_hint is False and ann.destructive_hint is True
        assert '"approve"' not in json.dumps(tools["agent_run_task"].input_schema["properties"]["decisions"])

        first = structured(await client.call_tool("agent_run_task", {"task": f"create {topic}", "approval": "ask"}))
        assert first["status"] == "input_required"
        (pending,) = first["pending_actions"]
        assert pending["tool"] == "kafka_create_topic" and pending["approval_id"].startswith("apr-")
        assert "confirm_token" not in pending
        assert not topic_exists(admin, topic)

        # The calling model cannot approve: the schema has no such value, and an empty resume just waits again.
        assert_tool_error(
            await client.call_tool(
                "agent_run_task", {"task_id": first["task_id"], "decisions": {pending["action_id"]: "approve"}}
            ),
            "deny",
        )
        again = structured(await client.call_tool("agent_run_task", {"task_id": first["task_id"]}))
        assert again["status"] == "input_required" and not topic_exists(admin, topic)

        # A person approves out of band, in another process.
        granted = await anyio.run_process(
            [sys.executable, "-m", "cli", "approvals", "approve", pending["approval_id"], "--as", "Ada Ops"],
            env={**os.environ, "KAFKA_AGENT_DATA_DIR": str(agent_settings.data_dir)},
            check=False,
        )
        assert granted.returncode == 0, granted.stderr.decode()
        fake_llm.script(
            step(text("Created."), check=lambda b: json.loads(last_result_text(b))["created"] is True),
            # The model stopped without verifying: the runtime reminds it once.
            step(text("Created; verification skipped."), check=_was_reminded),
        )
        done = structured(await client.call_tool("agent_run_task", {"task_id": first["task_id"]}))
        assert done["status"] == "completed" and done["output"] == "Created; verification skipped."
        assert done["record"]["verification"] is None
        (decision,) = done["record"]["approvals"]
        assert decision["decision"] == "approve" and decision["decided_by"] == "Ada Ops"
        assert "messages" not in done["record"]
        assert_tool_error(await client.call_tool("agent_run_task", {}), "either task")
    fake_llm.assert_all_consumed()
    assert topic_exists(admin, topic)


async def test_escalation_goes_to_kafka_and_the_audit_log(agent_settings: Any, fake_llm: FakeAnthropic) -> None:
    from confluent_kafka import Consumer, TopicPartition

    settings = agent_settings.model_copy(update={"agents_topic_prefix": unique("agents")})
    fake_llm.script(
        step(tool("agent_escalate", {"summary": "ISR below minimum on payments", "severity": "critical"})),
        step(text("Escalated."), check=lambda b: "Escalation recorded" in last_result_text(b)),
    )
    record = await run_agent(settings, "check payments durability")
    fake_llm.assert_all_consumed()
    assert record.escalations[0]["summary"] == "ISR below minimum on payments"

    audit = [json.loads(line) for line in settings.resolved_audit_log().read_text().splitlines()]
    topic = escalations_topic(settings)
    (line,) = [e for e in audit if e["tool"] == "agent_escalate" and e["action"] == "agent.message"]
    assert (
        line["decision"] == "allowed" and line["requester"] == f"run:{record.task_id}" and line["resources"] == [topic]
    )
    assert line["arguments"]["escalation"]["summary"] == "ISR below minimum on payments" and not line["error"]
    consumer = Consumer(
        {"bootstrap.servers": settings.bootstrap_servers, "group.id": unique("g"), "enable.auto.commit": False}
    )
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        found = None
        for _ in range(40):
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                found = json.loads(msg.value())
                break
        assert found is not None and found["task_id"] == record.task_id and found["severity"] == "critical"
    finally:
        consumer.close()


async def test_extra_mcp_servers_from_a_claude_desktop_file(agent_settings: Any, tmp_path: Path) -> None:
    """Another MCP server (our own, spawned over stdio) joins the tool set as <name>__<tool>, with its annotations."""
    servers = tmp_path / "mcp.json"
    env = {
        "KAFKA_AGENT_BOOTSTRAP_SERVERS": agent_settings.bootstrap_servers,
        "KAFKA_AGENT_READ_ONLY": "true",
        "KAFKA_AGENT_DATA_DIR": str(tmp_path / "other"),
    }
    servers.write_text(
        json.dumps({"mcpServers": {"other": {"command": sys.executable, "args": ["-m", "cli", "serve"], "env": env}}})
    )
    settings = agent_settings.model_copy(update={"mcp_servers_file": servers})
    async with tool_hub(settings, stdio=False) as hub:
        assert "kafka_create_topic" in hub.tools
        assert "other__kafka_list_topics" in hub.tools and hub.tools["other__kafka_list_topics"].read_only
        assert "other__kafka_create_topic" not in hub.tools  # the other server runs read-only
        outcome = await hub.call("other__kafka_describe_cluster", {})
        assert not outcome.is_error and json.loads(outcome.text)["broker_count"] >= 1


async def test_bad_servers_file_is_a_clear_error(agent_settings: Any, tmp_path: Path) -> None:
    from core.errors import ConfigError

    servers = tmp_path / "mcp.json"
    servers.write_text(json.dumps({"mcpServers": {"x": {"args": []}}}))
    with pytest.raises(ConfigError, match="needs a 'command'"):
        async with tool_hub(agent_settings.model_copy(update={"mcp_servers_file": servers}), stdio=False):
            pass


def test_run_command_prints_the_record(agent_settings: Any, fake_llm: FakeAnthropic) -> None:
    fake_llm.script(
        step(tool("kafka_describe_cluster", {})),
        step(text("One broker, all healthy.")),
    )
    env = {
        **os.environ,
        "KAFKA_AGENT_BOOTSTRAP_SERVERS": agent_settings.bootstrap_servers,
        "KAFKA_AGENT_DATA_DIR": str(agent_settings.data_dir),
        "KAFKA_AGENT_ANTHROPIC_BASE_URL": fake_llm.url,
        "KAFKA_AGENT_ANTHROPIC_API_KEY": "test-key-not-real",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "run", "how is the cluster?", "--json"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    fake_llm.assert_all_consumed()
    assert record["status"] == "completed" and record["output"] == "One broker, all healthy."
    assert record["phases"][0]["calls"][0]["tool"] == "kafka_describe_cluster"
    assert (agent_settings.data_dir / "runs" / f"{record['task_id']}.json").exists()


def test_chat_asks_inline_and_streams(agent_settings: Any, fake_llm: FakeAnthropic, admin: Any) -> None:
    topic = unique("chat")
    fake_llm.script(
        step(tool("agent_advance_phase", {"phase": "EXECUTE", "summary": f"create {topic}"})),
        step(tool("kafka_create_topic", {"topic": topic, "partitions": 1, "replication_factor": 1})),
        step(text(f"Topic {topic} is ready for you."), check=lambda b: not tool_results(b)[0].get("is_error")),
        step(text("It is there, I checked its creation result."), check=_was_reminded),
        # The next message of the chat carries the earlier exchange as context.
        step(
            text("Still there."),
            check=lambda b: (
                [m["role"] for m in b["messages"]] == ["user", "assistant", "user"]
                and b["messages"][1]["content"] == "It is there, I checked its creation result."
            ),
        ),
    )
    env = {
        **os.environ,
        "KAFKA_AGENT_BOOTSTRAP_SERVERS": agent_settings.bootstrap_servers,
        "KAFKA_AGENT_DATA_DIR": str(agent_settings.data_dir),
        "KAFKA_AGENT_ANTHROPIC_BASE_URL": fake_llm.url,
        "KAFKA_AGENT_ANTHROPIC_API_KEY": "test-key-not-real",
        "COLUMNS": "120",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "chat"],
        input=f"please create {topic}\ny\nis it still there?\n",
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    fake_llm.assert_all_consumed()
    out = proc.stdout
    assert "approve kafka_create_topic?" in out and "kafka_create_topic  [EXECUTE]" in out
    assert f"Topic {topic} is ready for you." in out and "completed" in out and "Still there." in out
    assert topic_exists(admin, topic)


async def test_stdio_hub_spawns_the_server_with_these_settings(agent_settings: Any, kafka_cluster: Any) -> None:
    """Over stdio the spawned server gets the run's settings (here only set in code, not in the environment)."""
    async with tool_hub(agent_settings, stdio=True) as hub:
        assert "agent_run_task" not in hub.tools  # the agent never runs itself
        outcome = await hub.call("kafka_describe_cluster", {})
        assert not outcome.is_error, outcome.text
        brokers = json.loads(outcome.text)["brokers"]
        assert {f"{b['host']}:{b['port']}" for b in brokers} >= set(kafka_cluster.bootstrap_servers.split(","))
