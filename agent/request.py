"""What one model request carries, built for a small bill: the tools of the current phase, cache markers, and an
estimate of the request's size for the run's limits.

Tools, per ``Settings.tool_search``:
    off      the tools the phase allows (``phase_offers``), those of every phase first (read-only tools, policy
             checks, the agent's own), then the phase's extras; a cache breakpoint after the first part, so a phase
             change re-sends only the extras and what follows them
    bm25 / regex
             Anthropic's tool search: the tool search tool and a few tools of every phase are loaded; the other tools
             the phase allows are sent with ``defer_loading`` (not rendered until the model's search returns them,
             so they cost nothing until then and a phase change does not break the cache); a tool found earlier in
             the conversation stays defined (the API refuses a reference without its definition)
With ``phase_tools`` off every tool is sent in every phase (the old behaviour, kept for comparison).

Cache breakpoints (the API takes at most 4): the tools (end of the part every phase shares), the system prompt, and
with ``cache_conversation`` the last block of the newest message and of the user message the previous request ended
with, so each turn reads the conversation so far from the cache and writes only what is new.

The prefix order is tools -> system -> messages: a change anywhere invalidates the cache from there on. The run note
in the system prompt is therefore the same for the whole run (the phase is told by agent_advance_phase's results).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.phases import Phase, ToolSpec, offered_in_every_phase, phase_offers

CACHE: dict[str, str] = {"type": "ephemeral"}
# Added by the API to a request with tools: its tool-use system prompt (346 tokens for Claude 4 models with
# tool_choice auto), and the tool search tool's own instructions (not published; assumed).
TOOL_USE_TOKENS = 346
SEARCH_TOOL_TOKENS = 500
DESCRIPTION_CHARS = 4000
ToolSearch = Literal["off", "bm25", "regex"]
SEARCH_TOOLS: dict[str, dict[str, Any]] = {
    "bm25": {"type": "tool_search_tool_bm25_20251119", "name": "tool_search_tool_bm25"},
    "regex": {"type": "tool_search_tool_regex_20251119", "name": "tool_search_tool_regex"},
}
# Loaded in every request when tool search is on: what nearly every run looks at first (all read-only, so the
# loaded part is the same in every phase).
ALWAYS_LOADED = ("kafka_describe_cluster", "kafka_list_topics", "kafka_describe_topic", "vector_search")
SEARCH_HINT = {
    "bm25": "Most tools are loaded on demand: when you need one you do not see, search with tool_search_tool_bm25 in "
    "plain words (e.g. 'consumer group lag', 'create topic'); the search offers the tools the current phase allows.",
    "regex": "Most tools are loaded on demand: when you need one you do not see, search with tool_search_tool_regex "
    "(a Python regex over names and descriptions, e.g. '(?i)consumer.*lag'); the search offers the tools the current "
    "phase allows.",
}


def tokens(value: Any) -> int:
    """The estimate used for budgets: compact JSON characters / 4 (real tokenizers differ by a little)."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
    return (len(text) + 3) // 4


def tool_param(spec: ToolSpec) -> dict[str, Any]:
    return {"name": spec.name, "description": spec.description[:DESCRIPTION_CHARS], "input_schema": spec.input_schema}


@dataclass
class ToolChoice:
    """The ``tools`` of one request."""

    params: list[dict[str, Any]]
    loaded: int
    deferred: int


def choose_tools(
    tools: list[ToolSpec],
    phase: Phase,
    *,
    phase_tools: bool = True,
    tool_search: ToolSearch = "off",
    referenced: Iterable[str] = (),
) -> ToolChoice:
    """The tools to send in ``phase``, in a stable order, with one cache breakpoint."""
    offered = [t for t in tools if not phase_tools or phase_offers(phase, t)]
    if tool_search == "off":
        if phase_tools:
            shared = [t for t in offered if offered_in_every_phase(t)]
            offered = shared + [t for t in offered if not offered_in_every_phase(t)]
            mark = len(shared) - 1 if shared else len(offered) - 1
        else:
            mark = len(offered) - 1
        params = [tool_param(t) for t in offered]
        if params:
            params[mark] = {**params[mark], "cache_control": CACHE}
        return ToolChoice(params=params, loaded=len(params), deferred=0)
    known = set(referenced)
    loaded = [t for t in offered if t.local or (t.name in ALWAYS_LOADED and offered_in_every_phase(t))]
    names = {t.name for t in loaded}
    deferred = [t for t in tools if t.name not in names and (t in offered or t.name in known)]
    params = [dict(SEARCH_TOOLS[tool_search]), *(tool_param(t) for t in loaded)]
    params[-1]["cache_control"] = CACHE
    params += [{**tool_param(t), "defer_loading": True} for t in deferred]
    return ToolChoice(params=params, loaded=len(loaded) + 1, deferred=len(deferred))


def system_params(prompt: str, run_note: str) -> list[dict[str, Any]]:
    """The stable system prompt (cached, shared by runs) and the run's note after it."""
    blocks: list[dict[str, Any]] = [{"type": "text", "text": prompt, "cache_control": CACHE}]
    if run_note:
        blocks.append({"type": "text", "text": run_note})
    return blocks


def with_cache_markers(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy of ``messages`` with breakpoints on the newest message and on the user message the previous request
    ended with (what the previous request cached): the stored conversation is not touched."""
    if not messages:
        return messages
    out = list(messages)
    targets = [len(out) - 1]
    assistants = [i for i, m in enumerate(out) if m.get("role") == "assistant"]
    if assistants:
        before = [i for i in range(assistants[-1]) if out[i].get("role") == "user"]
        if before and before[-1] != targets[0]:
            targets.append(before[-1])
    for i in targets:
        out[i] = _marked(out[i])
    return out


def _marked(message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    if isinstance(content, str):
        if not content:
            return message
        return {**message, "content": [{"type": "text", "text": content, "cache_control": CACHE}]}
    if not isinstance(content, list) or not content:
        return message
    last = content[-1]
    if last.get("type") in ("thinking", "redacted_thinking") or (last.get("type") == "text" and not last.get("text")):
        return message  # blocks the API does not let carry a breakpoint
    return {**message, "content": [*content[:-1], {**last, "cache_control": CACHE}]}


def referenced_tools(messages: list[dict[str, Any]]) -> list[str]:
    """Tools a tool search returned earlier in the conversation (they must stay defined)."""
    found: list[str] = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            continue
        for block in content:
            if block.get("type") != "tool_search_tool_result":
                continue
            result = block.get("content")
            refs = result.get("tool_references") if isinstance(result, dict) else None
            for ref in refs or []:
                name = ref.get("tool_name") if isinstance(ref, dict) else None
                if isinstance(name, str) and name not in found:
                    found.append(name)
    return found


@dataclass
class Request:
    """One request as sent, and what the run knows of the previous one, to estimate the part not cached."""

    tools: ToolChoice
    system: list[dict[str, Any]]
    messages: list[dict[str, Any]]
    definitions: dict[str, int] = field(default_factory=dict)  # tool name -> tokens, for expanded references

    def prefix_key(self) -> str:
        loaded = [t for t in self.tools.params if not t.get("defer_loading")]
        raw = json.dumps([loaded, self.system], sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(raw.encode()).hexdigest()

    def message_tokens(self, start: int = 0) -> int:
        total = 0
        for message in self.messages[start:]:
            total += tokens(message.get("content"))
            for name in referenced_tools([message]):
                total += self.definitions.get(name, 0)  # a reference is expanded into the definition
        return total

    def total_tokens(self) -> int:
        loaded = [t for t in self.tools.params if not t.get("defer_loading")]
        fixed = TOOL_USE_TOKENS if loaded else 0
        fixed += SEARCH_TOOL_TOKENS * sum(1 for t in loaded if "type" in t)
        return fixed + tokens(loaded) + tokens(self.system) + self.message_tokens()


@dataclass
class SentLog:
    """The prefix and message count of the run's previous request (in memory: a resumed run starts cold)."""

    prefix_key: str | None = None
    messages: int = 0

    def uncached_estimate(self, request: Request, *, cache_conversation: bool) -> int:
        """Tokens of ``request`` the cache will likely not cover (everything when the prefix changed)."""
        if request.prefix_key() != self.prefix_key:
            return request.total_tokens()
        if not cache_conversation:
            return request.message_tokens()
        return request.message_tokens(start=self.messages)

    def sent(self, request: Request) -> None:
        self.prefix_key = request.prefix_key()
        self.messages = len(request.messages)
