"""The model side of a run: one streamed Messages API call per turn (what the request carries: agent/request.py).

``anthropic`` is imported inside the functions: the MCP server imports this package for ``agent_run_task`` and must
start without it.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel

from core.errors import ConfigError, KafkaAgentError, Unreachable
from core.settings import Settings

TextSink = Callable[[str], Awaitable[None]] | None


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


async def stream_turn(
    client: Any,
    *,
    model: str,
    system: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    messages: list[dict[str, Any]],
    max_tokens: int,
    on_text: TextSink = None,
) -> Turn:
    """Stream one response, passing text deltas to ``on_text``; return the final message's blocks."""
    import anthropic

    try:
        async with client.messages.stream(
            model=model, max_tokens=max_tokens, system=system, tools=tools, messages=messages
        ) as stream:
            async for event in stream:
                if on_text is not None and event.type == "text":
                    await on_text(event.text)
            final = await stream.get_final_message()
    except anthropic.APIConnectionError as exc:
        raise Unreachable(f"The Messages API did not answer: {exc}.", hint="Check the network and base URL.") from exc
    except anthropic.APIStatusError as exc:
        message = f"The Messages API refused the request: HTTP {exc.status_code}: {exc.message}"
        raise ModelError(message, code=str(exc.status_code)) from exc
    except anthropic.APIError as exc:
        raise ModelError(f"The Messages API call failed: {exc.message}") from exc
    content = [block.model_dump(mode="json", exclude_none=True) for block in final.content]
    for block in content:  # the API accepts back only the fields it defines for the block
        block.pop("parsed_output", None)
        if block.get("type") == "text":
            block.pop("citations", None)
    return Turn(content=content, stop_reason=final.stop_reason, usage=final.usage)
