"""How the fake Messages API counts tokens: from what each request really carries, cached the way the API caches.

Rendering. A request is read in the API's cache order (tools -> system -> messages) as a list of blocks:
    - when there are tools, one block of TOOL_USE_SYSTEM_TOKENS (the tool-use system prompt the API adds: 346 tokens
      for Claude 4 models with tool_choice auto, per Anthropic's pricing page);
    - each tool that is not deferred (``defer_loading``): its name, description and input_schema as compact JSON;
      the tool search tool: its JSON plus TOOL_SEARCH_TOKENS (its instructions, an assumption: the API does not say);
      deferred tools are not rendered (Anthropic: "Deferred tools are not included in the system-prompt prefix");
    - each system block, then each content block of each message (a string content is one text block); a
      ``tool_search_tool_result`` block also carries the definitions of the tools it references (the API expands
      them there, inline).
A block's tokens are its compact JSON characters / 4, rounded up, without ``cache_control`` (the estimate the
budgets of issue 16 use; a real tokenizer differs by a little, the same way for every mode compared).

Caching (Anthropic's prompt caching, 5-minute entries; the life is not modelled, runs here are short):
    - a breakpoint is a block with ``cache_control``; more than MAX_BREAKPOINTS is an HTTP 400, like the API's;
    - the prefix ending at a breakpoint is written to the cache when it holds at least MIN_CACHEABLE tokens;
    - a request reads the longest cached prefix that ends at one of its breakpoints or within the LOOKBACK blocks
      before one (the API checks about 20 blocks back from each breakpoint);
    - usage: ``cache_read_input_tokens`` = that prefix; ``cache_creation_input_tokens`` = from there to the last
      breakpoint that is written; ``input_tokens`` = the rest. Their sum is every token the request carried.
Output tokens are the characters / 4 of what the scripted model writes (text, tool inputs, search queries).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

TOOL_USE_SYSTEM_TOKENS = 346
TOOL_SEARCH_TOKENS = 500
MIN_CACHEABLE = 1024
MAX_BREAKPOINTS = 4
LOOKBACK = 20
SEARCH_TOOL_TYPES = ("tool_search_tool_bm25", "tool_search_tool_regex")


def count(value: Any) -> int:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True)
    return (len(text) + 3) // 4


def is_search_tool(tool: dict[str, Any]) -> bool:
    return str(tool.get("type", "")).startswith(SEARCH_TOOL_TYPES)


def _plain(block: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in block.items() if k != "cache_control"}


def _definition(tool: dict[str, Any]) -> dict[str, Any]:
    return {k: tool.get(k) for k in ("name", "description", "input_schema")}


class RequestError(Exception):
    """What the real API answers with HTTP 400."""


@dataclass
class Rendered:
    tokens: list[int]
    keys: list[str]  # the hash of the prefix ending at each block
    breakpoints: list[int]
    loaded_tools: int
    deferred_tools: int


def render(body: dict[str, Any]) -> Rendered:
    tools = body.get("tools") or []
    defs = {t.get("name"): t for t in tools if not is_search_tool(t)}
    blocks: list[tuple[Any, int, bool]] = []  # (what is hashed, tokens, breakpoint)
    if tools:
        blocks.append(("tool-use system prompt", TOOL_USE_SYSTEM_TOKENS, False))
    deferred = 0
    for tool in tools:
        if tool.get("defer_loading"):
            if is_search_tool(tool):
                raise RequestError("The tool search tool cannot have defer_loading.")
            deferred += 1
            continue
        extra = TOOL_SEARCH_TOKENS if is_search_tool(tool) else 0
        body_of = _plain(tool) if is_search_tool(tool) else _definition(tool)
        blocks.append((body_of, count(body_of) + extra, "cache_control" in tool))
    if deferred:
        if not any(is_search_tool(t) for t in tools):
            raise RequestError("Tools with defer_loading need a tool search tool in the same request.")
        if deferred == len(tools):
            raise RequestError("All tools have defer_loading set. At least one tool must be non-deferred.")
    system = body.get("system") or []
    for block in [{"type": "text", "text": system}] if isinstance(system, str) else system:
        blocks.append((_plain(block), count(_plain(block)), "cache_control" in block))
    for message in body.get("messages") or []:
        content = message.get("content")
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        for i, block in enumerate(parts):
            plain = _plain(block)
            size = count(plain)
            for name in _references(block):
                if name not in defs:
                    raise RequestError(f"Tool reference '{name}' has no corresponding tool definition")
                size += count(_definition(defs[name]))
            head = message.get("role") if i == 0 else None
            blocks.append(([head, plain], size, "cache_control" in block))
    marks = [i for i, b in enumerate(blocks) if b[2]]
    if len(marks) > MAX_BREAKPOINTS:
        raise RequestError(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {len(marks)}."
        )
    keys: list[str] = []
    running = hashlib.sha256(str(body.get("model", "")).encode())
    for what, _size, _mark in blocks:
        running.update(json.dumps(what, sort_keys=True, separators=(",", ":")).encode())
        keys.append(running.copy().hexdigest())
    loaded = sum(1 for t in tools if not t.get("defer_loading"))
    return Rendered([b[1] for b in blocks], keys, marks, loaded, deferred)


def _references(block: dict[str, Any]) -> list[str]:
    if block.get("type") != "tool_search_tool_result":
        return []
    result = block.get("content")
    refs = result.get("tool_references") if isinstance(result, dict) else None
    return [str(r.get("tool_name")) for r in refs or [] if isinstance(r, dict)]


@dataclass
class PromptCache:
    """Prefix hashes the fake has written, with the tokens each covers."""

    entries: dict[str, int] = field(default_factory=dict)

    def account(self, rendered: Rendered) -> dict[str, int]:
        """The usage of one request (and the cache writes it makes)."""
        prefix = [0]
        for size in rendered.tokens:
            prefix.append(prefix[-1] + size)
        read_end = 0  # blocks [0, read_end) come from the cache
        for mark in rendered.breakpoints:
            for pos in range(mark, max(-1, mark - LOOKBACK - 1), -1):
                if rendered.keys[pos] in self.entries:
                    read_end = max(read_end, pos + 1)
                    break
        written = [m for m in rendered.breakpoints if prefix[m + 1] >= MIN_CACHEABLE]
        for mark in written:
            self.entries[rendered.keys[mark]] = prefix[mark + 1]
        write_end = max([m + 1 for m in written], default=0)
        read = prefix[read_end]
        creation = max(0, prefix[write_end] - read) if write_end > read_end else 0
        total = prefix[-1]
        return {
            "input_tokens": total - read - creation,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": creation,
        }
