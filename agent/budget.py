"""A run's limits, checked before each turn so that a run stops before it would go over, not after:

    max_turns                  model requests
    max_input_tokens_per_run   uncached input: plain input plus cache writes, against the usage so far plus an
                               estimate of the next request's uncached part (agent.request.SentLog)
    max_output_tokens_per_run  output: the next request's max_tokens is cut to what is left, so it cannot go over
Cache reads are reported apart and not limited (they cost a tenth of plain input, and max_turns bounds them).
"""

from __future__ import annotations

from agent.model import Turn
from agent.record import RunRecord, TurnUsage
from agent.request import Request
from core.settings import Settings

# A turn with less room than this for its reply is not worth starting.
MIN_TURN_OUTPUT = 512


def turn_max_tokens(settings: Settings, record: RunRecord) -> int:
    """The next request's max_tokens: the per-turn limit, or what the run has left if that is less."""
    left = settings.max_output_tokens_per_run - record.usage.output_tokens
    return max(0, min(settings.max_output_tokens_per_turn, left))


def limit_reached(settings: Settings, record: RunRecord, *, estimate: int, max_tokens: int) -> str | None:
    """Why the next turn must not start, or None."""
    usage = record.usage
    if usage.turns >= settings.max_turns:
        return f"Turn limit: the model used all {settings.max_turns} turns (max_turns) without finishing."
    if max_tokens < min(MIN_TURN_OUTPUT, settings.max_output_tokens_per_turn):
        return (
            f"Output token limit: {usage.output_tokens} output tokens used, max_output_tokens_per_run="
            f"{settings.max_output_tokens_per_run} leaves too little for another reply."
        )
    if usage.uncached_input_tokens + estimate > settings.max_input_tokens_per_run:
        return (
            f"Input token limit: {usage.uncached_input_tokens} uncached input tokens used and the next turn would "
            f"send about {estimate} more, max_input_tokens_per_run={settings.max_input_tokens_per_run} "
            f"(cache reads, {usage.cache_read_input_tokens} so far, are not counted)."
        )
    return None


def turn_usage(record: RunRecord, request: Request, turn: Turn, *, estimate: int, max_tokens: int) -> TurnUsage:
    """The record of one request (call after ``Usage.add_message_usage``)."""
    usage = turn.usage
    searches = sum(
        1
        for b in turn.content
        if b.get("type") == "server_tool_use" and str(b.get("name", "")).startswith("tool_search")
    )
    return TurnUsage(
        turn=record.usage.turns,
        phase=record.phase,
        input_tokens=int(getattr(usage, "input_tokens", 0) or 0),
        output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
        cache_read_input_tokens=int(getattr(usage, "cache_read_input_tokens", 0) or 0),
        cache_creation_input_tokens=int(getattr(usage, "cache_creation_input_tokens", 0) or 0),
        tools_sent=request.tools.loaded,
        tools_deferred=request.tools.deferred,
        tool_searches=searches,
        estimated_uncached=estimate,
        max_tokens=max_tokens,
        stop_reason=turn.stop_reason,
    )
