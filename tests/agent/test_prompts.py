"""The system prompts name only tools that exist: the server's (list_tools) and the agent's own."""

from __future__ import annotations

from typing import Any

import pytest

from agent import local_tools
from agent.prompts import main_prompt, peer_prompt, peers, tool_names_in

pytestmark = pytest.mark.anyio

SEED_PEERS = {
    "apache-spark-engineer",
    "data-pipeline-engineer",
    "dbt-analytics-engineer",
    "monitoring-observability-agent",
    "kubernetes-specialist",
    "data-governance-agent",
}


async def test_prompts_name_only_real_tools(mcp_client: Any) -> None:
    listed = {t.name for t in (await mcp_client.list_tools()).tools}
    local = {t.name for t in local_tools.specs(delegation=True)}
    known = listed | local
    texts = {"kafka_streaming_agent.md": main_prompt()} | {f"peers/{p}.md": peer_prompt(p) for p in peers()}
    for name, text in texts.items():
        named = tool_names_in(text)
        assert named, f"{name} names no tools at all"
        assert named <= known, f"{name} names tools the server does not have: {sorted(named - known)}"
    main = tool_names_in(main_prompt())
    assert {"agent_advance_phase", "agent_delegate", "agent_escalate", "kafka_create_topic"} <= main


def test_every_seed_peer_has_a_prompt() -> None:
    assert set(peers()) == SEED_PEERS
    for phase in ("PLAN", "VALIDATE", "EXECUTE", "VERIFY", "DOCUMENT"):
        assert phase in main_prompt()


def test_tool_name_parser() -> None:
    text = "use `kafka_list_topics`, then memory_store and vector_search; agent_delegate. not kafka-agent run."
    assert tool_names_in(text) == {"kafka_list_topics", "memory_store", "vector_search", "agent_delegate"}
