"""What one model request carries (pure logic, no cluster): the tools per phase and mode, the cache breakpoints,
and the estimate of the part the cache will not cover."""

from __future__ import annotations

from typing import Any

from agent.local_tools import specs
from agent.phases import Phase, ToolSpec
from agent.request import ALWAYS_LOADED, CACHE, Request, SentLog, choose_tools, system_params, with_cache_markers

SCHEMA: dict[str, Any] = {"type": "object", "properties": {"topic": {"type": "string"}}}
FLAG: dict[str, Any] = {"type": "object", "properties": {"validate_only": {"type": "boolean"}}}
TOOLS = [
    ToolSpec(name="kafka_describe_topic", input_schema=SCHEMA, read_only=True, destructive=False),
    ToolSpec(name="kafka_create_topic", input_schema=FLAG, destructive=False),
    ToolSpec(name="kafka_produce", input_schema=SCHEMA, destructive=False),
    ToolSpec(name="kafka_consumer_lag", input_schema=SCHEMA, read_only=True, destructive=False),
    ToolSpec(name="memory_store", input_schema=SCHEMA, destructive=False),
    *specs(delegation=False),
]


def names(params: list[dict[str, Any]]) -> list[str]:
    return [p["name"] for p in params]


def test_phase_lists_put_the_shared_tools_first_with_the_breakpoint_after_them() -> None:
    plan = choose_tools(TOOLS, Phase.PLAN).params
    assert names(plan) == ["kafka_describe_topic", "kafka_consumer_lag", "agent_advance_phase", "agent_escalate"]
    execute = choose_tools(TOOLS, Phase.EXECUTE).params
    assert names(execute)[:4] == names(plan)  # the shared part is the same prefix in every phase
    assert names(execute)[4:] == ["kafka_create_topic", "kafka_produce", "memory_store"]
    assert [p["name"] for p in execute if "cache_control" in p] == ["agent_escalate"]
    validate = choose_tools(TOOLS, Phase.VALIDATE).params
    assert names(validate)[4:] == ["kafka_create_topic"]  # it has validate_only; kafka_produce has no dry run
    assert choose_tools(TOOLS, Phase.DOCUMENT).params[-1]["name"] == "memory_store"


def test_without_phase_lists_every_tool_goes_in_its_own_order() -> None:
    old = choose_tools(TOOLS, Phase.PLAN, phase_tools=False).params
    assert names(old) == [t.name for t in TOOLS] and "cache_control" in old[-1]


def test_tool_search_loads_a_stable_few_and_defers_the_phase_tools() -> None:
    plan = choose_tools(TOOLS, Phase.PLAN, tool_search="bm25")
    loaded = [p for p in plan.params if not p.get("defer_loading")]
    assert loaded[0] == {"type": "tool_search_tool_bm25_20251119", "name": "tool_search_tool_bm25"}
    assert {p["name"] for p in loaded[1:]} == {"kafka_describe_topic", "agent_advance_phase", "agent_escalate"}
    assert "kafka_describe_topic" in ALWAYS_LOADED and "cache_control" in loaded[-1]
    assert {p["name"] for p in plan.params if p.get("defer_loading")} == {"kafka_consumer_lag"}
    execute = choose_tools(TOOLS, Phase.EXECUTE, tool_search="bm25", referenced=["kafka_consumer_lag"])
    assert [p for p in execute.params if not p.get("defer_loading")] == loaded  # the same prefix in every phase
    verify = choose_tools(TOOLS, Phase.VERIFY, tool_search="regex", referenced=["kafka_create_topic"])
    deferred = {p["name"] for p in verify.params if p.get("defer_loading")}
    assert deferred == {"kafka_consumer_lag", "kafka_create_topic"}  # found earlier: must stay defined
    assert verify.params[0]["name"] == "tool_search_tool_regex" and verify.loaded == 4 and verify.deferred == 2


def test_breakpoints_on_the_newest_message_and_the_one_the_previous_request_ended_with() -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "task"}]
    assert with_cache_markers(messages)[0]["content"] == [{"type": "text", "text": "task", "cache_control": CACHE}]
    messages += [
        {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "tool_use", "id": "1"}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "1", "content": "r"}]},
    ]
    marked = with_cache_markers(messages)
    assert marked[0]["content"][-1]["cache_control"] == CACHE and marked[2]["content"][-1]["cache_control"] == CACHE
    assert "cache_control" not in str(marked[1]) and "cache_control" not in str(messages)  # the record is untouched
    # A paused reply sent back: the newest is the assistant's, the previous request ended with the user's.
    paused = with_cache_markers([*messages, {"role": "assistant", "content": [{"type": "text", "text": "p"}]}])
    assert [i for i, m in enumerate(paused) if "cache_control" in str(m)] == [2, 3]


def test_the_estimate_counts_what_the_cache_will_not_cover() -> None:
    choice = choose_tools(TOOLS, Phase.PLAN)
    system = system_params("prompt " * 100, "note")
    first = Request(choice, system, [{"role": "user", "content": "task"}])
    log = SentLog()
    assert log.uncached_estimate(first, cache_conversation=True) == first.total_tokens()  # cold
    log.sent(first)
    added = [{"role": "assistant", "content": [{"type": "text", "text": "x" * 400}]}, {"role": "user", "content": "y"}]
    second = Request(choice, system, [*first.messages, *added])
    assert log.uncached_estimate(second, cache_conversation=True) == second.message_tokens(start=1) < 110
    assert log.uncached_estimate(second, cache_conversation=False) == second.message_tokens()
    other = Request(choose_tools(TOOLS, Phase.EXECUTE), system, second.messages)
    assert log.uncached_estimate(other, cache_conversation=True) == other.total_tokens()  # the tools changed
