"""The run's token economy on the real SDK against the fake Messages API (whose usage is counted from what each
request carries and cached the way the API caches: tests/agent/fake_accounting.py) and the real local Kafka:
conversation caching, limits checked before a turn, replies cut off at max_tokens, tool search per phase."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.runner import CONTINUE_NOTE
from tests.agent.fake_accounting import PromptCache
from tests.agent.fake_anthropic import FakeAnthropic, search, step, text, tool
from tests.agent.helpers import calls, run_agent, topic_exists
from tests.conftest import unique

pytestmark = pytest.mark.anyio


def _breakpoints(body: dict[str, Any]) -> list[str]:
    where = [f"tool {t.get('name')}" for t in body["tools"] if "cache_control" in t]
    where += ["system" for b in body["system"] if "cache_control" in b]
    for i, m in enumerate(body["messages"]):
        if isinstance(m["content"], list):
            where += [f"message {i}" for b in m["content"] if "cache_control" in b]
    return where


def _loaded(body: dict[str, Any]) -> list[str]:
    return [t["name"] for t in body["tools"] if not t.get("defer_loading")]


def _deferred(body: dict[str, Any]) -> set[str]:
    return {t["name"] for t in body["tools"] if t.get("defer_loading")}


async def test_each_turn_reads_the_conversation_from_the_cache(agent_settings: Any, fake_llm: FakeAnthropic) -> None:
    fake_llm.script(
        step(tool("kafka_list_topics", {})),
        step(tool("kafka_describe_cluster", {}), tool("kafka_list_consumer_groups", {})),
        step(tool("kafka_list_topics", {})),
        step(text("Three looks at the cluster.")),
    )
    record = await run_agent(agent_settings, "look around")
    fake_llm.assert_all_consumed()
    assert record.status == "completed"
    bodies, usages = fake_llm.requests, fake_llm.usages
    assert _breakpoints(bodies[0])[-2:] == ["system", "message 0"]
    for i in range(1, 4):
        # tools, system, the message the previous request ended with, the newest: the API's limit of 4
        assert _breakpoints(bodies[i])[1:] == ["system", f"message {2 * i - 2}", f"message {2 * i}"]
    keys = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    totals = [sum(u[k] for k in keys) if u else 0 for u in usages]
    for i in range(1, 4):
        u = usages[i]
        assert u is not None
        # Everything the previous request carried comes from the cache; only what is new is written.
        assert u["cache_read_input_tokens"] == totals[i - 1]
        assert u["cache_creation_input_tokens"] == totals[i] - totals[i - 1] and u["input_tokens"] == 0
    # The record says what the API said, turn by turn, and adds up.
    assert [(t.input_tokens, t.cache_read_input_tokens, t.cache_creation_input_tokens) for t in record.turn_usage] == [
        (u["input_tokens"], u["cache_read_input_tokens"], u["cache_creation_input_tokens"]) for u in usages if u
    ]
    assert record.usage.cache_read_input_tokens == sum(t.cache_read_input_tokens for t in record.turn_usage)
    assert all(t.tools_sent == len(_loaded(bodies[0])) for t in record.turn_usage)

    # Without the conversation markers (the old way) every turn re-sends the conversation uncached.
    fake_llm.cache = PromptCache()
    old = agent_settings.model_copy(update={"cache_conversation": False})
    fake_llm.script(step(tool("kafka_list_topics", {})), step(tool("kafka_list_topics", {})), step(text("done")))
    before = len(fake_llm.usages)
    await run_agent(old, "look around")
    plain = fake_llm.usages[before:]
    assert all(_breakpoints(b)[1:] == ["system"] for b in fake_llm.requests[before:])
    assert plain[2] is not None and plain[1] is not None and plain[2]["input_tokens"] > plain[1]["input_tokens"] > 0


async def test_the_input_limit_stops_the_run_before_a_turn_would_go_over(
    agent_settings: Any, fake_llm: FakeAnthropic
) -> None:
    # How big the first request is, cold.
    fake_llm.script(step(text("ok")))
    probe = await run_agent(agent_settings, "list topics, with notes")
    first = probe.turn_usage[0]
    cold = first.input_tokens + first.cache_creation_input_tokens
    assert first.estimated_uncached >= cold * 0.95

    fake_llm.cache = PromptCache()
    limit = cold + 4000
    settings = agent_settings.model_copy(update={"max_input_tokens_per_run": limit})
    big = {"note": "n" * 12_000}  # about 3 000 tokens the next request carries again (the server refuses 'note')
    fake_llm.script(step(tool("kafka_list_topics", big)), step(tool("kafka_list_topics", big)))
    record = await run_agent(settings, "list topics, with notes")
    fake_llm.assert_all_consumed()
    assert record.status == "failed" and (record.error or "").startswith("Input token limit")
    assert record.usage.turns == 2  # the third request was never sent
    assert record.usage.uncached_input_tokens <= limit
    assert "cache reads" in (record.error or "")


async def test_the_output_limit_caps_each_request_and_stops_the_run(
    agent_settings: Any, fake_llm: FakeAnthropic
) -> None:
    settings = agent_settings.model_copy(update={"max_output_tokens_per_turn": 600, "max_output_tokens_per_run": 1000})
    long = " ".join(["partition"] * 450)  # about 1 000 tokens
    fake_llm.script(step(text(long)))
    record = await run_agent(settings, "explain partitions at length")
    fake_llm.assert_all_consumed()
    assert fake_llm.requests[0]["max_tokens"] == 600
    assert record.status == "failed" and (record.error or "").startswith("Output token limit")
    assert record.usage.output_tokens == 600 <= settings.max_output_tokens_per_run
    assert record.turn_usage[0].stop_reason == "max_tokens" and record.output


async def test_a_reply_cut_off_is_continued(agent_settings: Any, fake_llm: FakeAnthropic) -> None:
    settings = agent_settings.model_copy(update={"max_output_tokens_per_turn": 256})
    long = " ".join(["replica"] * 250)  # about 500 tokens: cut at 256

    def asked_to_continue(body: dict[str, Any]) -> None:
        (note,) = body["messages"][-1]["content"]
        assert body["messages"][-1]["role"] == "user" and note["text"] == CONTINUE_NOTE

    fake_llm.script(step(text(long)), step(text("and that is all."), check=asked_to_continue))
    record = await run_agent(settings, "explain replicas at length")
    fake_llm.assert_all_consumed()
    assert record.status == "completed"
    assert record.output.startswith("replica replica") and record.output.endswith("and that is all.")
    assert [t.stop_reason for t in record.turn_usage] == ["max_tokens", "end_turn"]


async def test_a_tool_call_cut_off_is_never_made(agent_settings: Any, fake_llm: FakeAnthropic, admin: Any) -> None:
    """The model's tool input stops mid-JSON at max_tokens; what was streamed would parse as a call that creates the
    topic. The runtime drops it and asks the model to continue."""
    topic = unique("cut")
    settings = agent_settings.model_copy(update={"max_output_tokens_per_turn": 256})
    configs = {f"unknown.key.{i}": "v" * 30 for i in range(40)}  # the cut lands in here
    spec = {"topic": topic, "partitions": 1, "replication_factor": 1, "configs": configs}

    def told(body: dict[str, Any]) -> None:
        paused = body["messages"][-2]
        assert paused["role"] == "assistant" and not any(b["type"] == "tool_use" for b in paused["content"])
        assert body["messages"][-1]["content"][0]["text"] == CONTINUE_NOTE

    fake_llm.script(
        step(tool("agent_advance_phase", {"phase": "EXECUTE", "summary": "create it"})),
        step(tool("kafka_create_topic", spec)),
        step(text("The call was too long; I will not retry."), check=told),
    )
    record = await run_agent(settings, f"create {topic}", approval="auto")
    fake_llm.assert_all_consumed()
    assert record.status == "completed"
    assert calls(record) == [("PLAN", "agent_advance_phase", True)]
    assert not topic_exists(admin, topic)


async def test_replies_cut_off_too_often_end_failed(agent_settings: Any, fake_llm: FakeAnthropic) -> None:
    settings = agent_settings.model_copy(update={"max_output_tokens_per_turn": 256, "max_continuations": 1})
    long = " ".join(["offset"] * 300)
    fake_llm.script(step(text(long)), step(text(long)))
    record = await run_agent(settings, "explain offsets at length")
    fake_llm.assert_all_consumed()
    assert record.status == "failed" and (record.error or "").startswith("Output limit")
    fake_llm.script(step(text("No."), stop_reason="refusal"))
    refused = await run_agent(settings, "something the model declines")
    assert refused.status == "failed" and "refusal" in (refused.error or "")


async def test_tool_search_finds_only_what_the_phase_allows(
    agent_settings: Any, fake_llm: FakeAnthropic, admin: Any
) -> None:
    topic = unique("searched")
    settings = agent_settings.model_copy(update={"tool_search": "bm25"})
    seen: list[dict[str, Any]] = []

    def plan(body: dict[str, Any]) -> None:
        assert body["tools"][0] == {"type": "tool_search_tool_bm25_20251119", "name": "tool_search_tool_bm25"}
        assert {"agent_advance_phase", "kafka_describe_topic"} <= set(_loaded(body))
        assert "kafka_list_consumer_groups" in _deferred(body) and "kafka_create_topic" not in _deferred(body)
        seen.append(body)

    def later(body: dict[str, Any]) -> None:
        assert _loaded(body) == _loaded(seen[0])  # the prefix is the same in every phase
        assert "kafka_list_consumer_groups" in _deferred(body)  # found earlier: stays defined
        seen.append(body)

    fake_llm.script(
        step(search("create a topic"), tool("kafka_list_consumer_groups", {}), check=plan),
        step(search("consumer lag"), check=later, stop_reason="pause_turn"),
        step(tool("agent_advance_phase", {"phase": "EXECUTE", "summary": "create it"}), check=later),
        step(tool("kafka_create_topic", {"topic": topic, "partitions": 1, "replication_factor": 1}), check=later),
        step(tool("agent_advance_phase", {"phase": "VERIFY", "summary": "created"}), check=later),
        step(tool("kafka_describe_topic", {"topic": topic}), check=later),
        step(tool("agent_advance_phase", {"phase": "DOCUMENT", "summary": "ok", "verdict": "pass"}), check=later),
        step(text(f"{topic} exists."), check=later),
    )
    record = await run_agent(settings, f"create {topic}", approval="auto")
    fake_llm.assert_all_consumed()
    assert record.status == "completed", record.error
    assert topic_exists(admin, topic)
    assert fake_llm.unseen_calls == []
    found = [
        [r["tool_name"] for r in b["content"]["tool_references"]]
        for m in record.messages
        if m["role"] == "assistant"
        for b in m["content"]
        if b["type"] == "tool_search_tool_result"
    ]
    assert "kafka_create_topic" not in found[0]  # PLAN does not offer it, so a search cannot find it
    assert any("kafka_create_topic" in f for f in found[1:])  # EXECUTE does
    assert sum(t.tool_searches for t in record.turn_usage) == len(found)
    # The paused reply and its continuation are one assistant turn.
    assert [m["role"] for m in record.messages].count("assistant") == len(record.turn_usage) - 1
    # A phase change does not break the cache: the EXECUTE request reads what the PLAN requests wrote.
    usages = [u for u in fake_llm.usages if u is not None]
    assert usages[3]["cache_read_input_tokens"] > 0 and usages[3]["input_tokens"] == 0
    assert all(t.tools_deferred > 0 for t in record.turn_usage)
    assert json.dumps(record.summary())  # the record with tool search blocks is plain JSON


async def test_a_model_without_tool_search_gets_the_phase_tools(agent_settings: Any, fake_llm: FakeAnthropic) -> None:
    fake_llm.tool_search = False
    fake_llm.script(step(tool("kafka_list_consumer_groups", {})), step(text("No groups to speak of.")))
    record = await run_agent(agent_settings, "any groups?")
    fake_llm.assert_all_consumed()
    assert record.status == "completed", record.error
    assert len(fake_llm.refused) == 1 and "tool_search_tool_bm25" in fake_llm.refused[0]
    assert any("Tool search refused" in note for note in record.notes)
    retried = fake_llm.requests[1]
    assert not _deferred(retried) and "kafka_list_consumer_groups" in _loaded(retried)
    assert "kafka_create_topic" not in _loaded(retried)  # PLAN's list
