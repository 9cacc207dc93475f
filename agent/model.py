"""The model side of a run: one streamed Messages API call per turn, with prompt caching.

``anthropic`` is imported inside the functions: the MCP server imports this package for ``agent_run_task`` and must
start without it.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel

from agent.phases import ToolSpec
from core.errors import ConfigError, KafkaAgentError, Unreachable
from core.settings import Settings

TextSink = Callable[[str], Awaitable[None]] | None
MAX_OUTPUT_TOKENS = 8192


class ModelError(KafkaAgentError):
    """The Messages API refused or failed a request."""


class Turn(BaseModel):
    """One model response: its content blocks (as API dicts), why it stopped, and its usage object."""

    content: list[dict[str, Any]]
    stop_reason: str | None
    usage: Any = None


def build_client(settings: Settings) -> Any:
    from anthropic import AsyncAnthropic

    key = settings.anthropic_api_key.get_secret_value() if settings.anthropic_api_key else None
    key = key or os.environ.get("ANTHROPIC_API_KEY")
    if not key:
        raise ConfigError(
            "No Anthropic API key is configured.",
            hint="Set KAFKA_AGENT_ANTHROPIC_API_KEY (or ANTHROPIC_API_KEY).",
        )
    return AsyncAnthropic(api_key=key, base_url=settings.anthropic_base_url, max_retries=2)


def tool_params(tools: list[ToolSpec]) -> list[dict[str, Any]]:
    """Tools for the API; the last one carries the cache breakpoint, so the whole list is cached."""
    params: list[dict[str, Any]] = [
        {"name": t.name, "description": t.description[:4000], "input_schema": t.input_schema} for t in tools
    ]
    if params:
        params[-1]["cache_control"] = {"type": "ephemeral"}
    return params


def system_params(prompt: str, run_note: str) -> list[dict[str, Any]]:
    """The stable system prompt (cached) and a short per-run note after the cache breakpoint."""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": prompt, "cache_control": {"type": "ephemeral"}}]
    if run_note:
        blocks.append({"type": "text", "text": run_note})
    return blocks


async def stream_turn(
    client: Any,
    *,
    model: str,
    system: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    messages: list[dict[str, Any]],
    on_text: TextSink = None,
) -> Turn:
    """Stream one response, passing text deltas to ``on_text``; return the final message's blocks."""
    import anthropic

    try:
        async with client.messages.stream(
            model=model, max_tokens=MAX_OUTPUT_TOKENS, system=system, tools=tools, messages=messages
        ) as stream:
            async for event in stream:
                if on_text is not None and event.type == "text":
                    await on_text(event.text)
            final = await stream.get_final_message()
    except anthropic.APIConnectionError as exc:
        raise Unreachable(f"The Messages API did not answer: {exc}.", hint="Check the network and base URL.") from exc
    except anthropic.APIStatusError as exc:
        raise ModelError(f"The Messages API refused the request: HTTP {exc.status_code}: {exc.message}") from exc
    except anthropic.APIError as exc:
        raise ModelError(f"The Messages API call failed: {exc.message}") from exc
    content = [block.model_dump(mode="json", exclude_none=True) for block in final.content]
    for block in content:  # the API accepts back only the fields it defines for the block
        block.pop("parsed_output", None)
        if block.get("type") == "text":
            block.pop("citations", None)
    return Turn(content=content, stop_reason=final.stop_reason, usage=final.usage)
